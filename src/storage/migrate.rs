//! Schema migrations, one list per backend, mirrored version for version. A landed migration is
//! never edited: a change is a new file in both `migrations/sqlite` and `migrations/postgres`.

/// One schema step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($version:literal $file:literal),+ $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!("../../migrations/", $dir, "/", $file, ".sql")),
        }),+]
    };
}

pub const SQLITE: &[Migration] = migrations!("sqlite": 1 "0001_foundation", 2 "0002_execution_message_index", 3 "0003_ingest_sequence", 4 "0004_audit_log", 5 "0005_log_streams", 6 "0006_execution_message_time");
pub const POSTGRES: &[Migration] = migrations!("postgres": 1 "0001_foundation", 2 "0002_execution_message_index", 3 "0003_ingest_sequence", 4 "0004_audit_log", 5 "0005_log_streams", 6 "0006_execution_message_time");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_steps_and_every_file_is_listed() {
        let versions = |list: &[Migration]| -> Vec<(i64, &str)> {
            list.iter().map(|m| (m.version, m.name)).collect()
        };
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        for dir in ["sqlite", "postgres"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let files = std::fs::read_dir(path).unwrap().count();
            assert_eq!(
                files,
                SQLITE.len(),
                "every file in migrations/{dir} must be listed"
            );
        }
    }
}
