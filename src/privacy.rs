//! Privacy: how user-identifying data (user ids, names, emails, groups) leaves tally. One
//! workspace setting decides it for every outward surface (the analytics export, the
//! dashboard and its CSVs, the monthly report, the usage export); each surface declares which
//! of its columns identify people ([`UserColumn`]) and passes its rows through
//! [`Policy::shape`] and its tables through [`Policy::admit`]. Nothing else decides.
//!
//! - `full`: rows leave as they are.
//! - `pseudonymized`: a user id becomes `u_` and 16 hex digits of HMAC-SHA256 under a key
//!   derived from the server secret and the workspace id, so the same user has the same
//!   pseudonym on every surface and counts and joins stay exact; a user's name becomes their
//!   pseudonym; emails and groups are left empty; columns stay in place.
//! - `excluded`: user-level tables are refused ([`Refused`]); elsewhere user ids, owner ids
//!   and emails are left empty.

use crate::analytics::rows::Cell;
use crate::model::{Privacy, Workspace};
use crate::secret;

/// What a column holds about people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserColumn {
    /// A user's id (a member, a message's sender, an owner).
    Id,
    /// The name of the user whose id is in that column.
    NameOf(usize),
    /// Emails, one or a list.
    Email,
    /// Group names.
    Groups,
}

/// A table's columns that identify people: (column index, what it holds).
pub type UserColumns = &'static [(usize, UserColumn)];

/// A user-level table refused under `excluded`, with the message saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this workspace's privacy setting is excluded: user-level data ({what}) is not exported; an admin can change the privacy setting in the workspace settings"
)]
pub struct Refused {
    pub what: String,
}

/// A workspace's privacy mode with its pseudonym key.
#[derive(Clone)]
pub struct Policy {
    mode: Privacy,
    key: [u8; 32],
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("mode", &self.mode).finish()
    }
}

impl Policy {
    /// The policy of `workspace`, keyed from the server secret.
    pub fn new(mode: Privacy, server_secret: &[u8; 32], workspace: &str) -> Self {
        let label = format!("tally pseudonyms\0{workspace}");
        Policy {
            mode,
            key: secret::derive(server_secret, &label),
        }
    }

    /// The policy of a workspace under a configuration's server secret.
    ///
    /// # Errors
    /// When the server secret cannot be had.
    pub fn of(
        workspace: &Workspace,
        config: &crate::config::Config,
    ) -> Result<Self, secret::SecretError> {
        let server = secret::server_secret(config)?;
        Ok(Policy::new(workspace.privacy, &server, &workspace.id))
    }

    pub fn mode(&self) -> Privacy {
        self.mode
    }

    /// Whether a user-level table (`what`, such as "the users table") may leave.
    ///
    /// # Errors
    /// [`Refused`] under `excluded`.
    pub fn admit(&self, what: &str) -> Result<(), Refused> {
        match self.mode {
            Privacy::Excluded => Err(Refused {
                what: what.to_string(),
            }),
            Privacy::Full | Privacy::Pseudonymized => Ok(()),
        }
    }

    /// A user's stable pseudonym in this workspace: `u_` and 16 hex digits.
    pub fn pseudonym(&self, user_id: &str) -> String {
        let mac = secret::hmac_sha256(&self.key, user_id.as_bytes());
        format!("u_{}", hex::encode(&mac[..8]))
    }

    /// Shapes rows in place: `columns` says which cells identify people.
    pub fn shape(&self, columns: &[(usize, UserColumn)], rows: &mut [Vec<Cell>]) {
        if self.mode == Privacy::Full {
            return;
        }
        for row in rows {
            self.shape_row(columns, row);
        }
    }

    /// Shapes one row in place.
    pub fn shape_row(&self, columns: &[(usize, UserColumn)], row: &mut [Cell]) {
        if self.mode == Privacy::Full {
            return;
        }
        // Names follow the original id, so they are shaped before ids change.
        for &(index, kind) in columns {
            if let UserColumn::NameOf(id_column) = kind {
                let name = match (self.mode, row.get(id_column)) {
                    (Privacy::Pseudonymized, Some(Cell::Plain(id))) => {
                        Cell::Plain(self.pseudonym(id))
                    }
                    _ => Cell::Null,
                };
                row[index] = name;
            }
        }
        for &(index, kind) in columns {
            match kind {
                UserColumn::Id => {
                    row[index] = match (&row[index], self.mode) {
                        (Cell::Plain(id), Privacy::Pseudonymized) => {
                            Cell::Plain(self.pseudonym(id))
                        }
                        _ => Cell::Null,
                    }
                }
                UserColumn::Email | UserColumn::Groups => row[index] = Cell::Null,
                UserColumn::NameOf(_) => {}
            }
        }
    }

    /// A user id as it may leave: itself, its pseudonym, or nothing.
    pub fn user_id(&self, id: &str) -> Option<String> {
        match self.mode {
            Privacy::Full => Some(id.to_string()),
            Privacy::Pseudonymized => Some(self.pseudonym(id)),
            Privacy::Excluded => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: UserColumns = &[
        (0, UserColumn::Id),
        (1, UserColumn::NameOf(0)),
        (2, UserColumn::Email),
        (3, UserColumn::Groups),
    ];

    fn row() -> Vec<Cell> {
        vec![
            Cell::Plain("u1".into()),
            Cell::Text("Ada Lovelace".into()),
            Cell::Text("ada@example.com".into()),
            Cell::Groups(vec!["Research".into()]),
            Cell::Int(7),
        ]
    }

    #[test]
    fn full_leaves_rows_as_they_are() {
        let policy = Policy::new(Privacy::Full, &[1; 32], "w");
        let mut rows = vec![row()];
        policy.shape(COLUMNS, &mut rows);
        assert_eq!(rows[0], row());
        assert!(policy.admit("the users table").is_ok());
    }

    #[test]
    fn pseudonyms_replace_ids_and_names_and_drop_emails_and_groups() {
        let policy = Policy::new(Privacy::Pseudonymized, &[1; 32], "w");
        let mut rows = vec![row()];
        policy.shape(COLUMNS, &mut rows);
        let pseudonym = policy.pseudonym("u1");
        assert!(pseudonym.starts_with("u_") && pseudonym.len() == 18);
        assert!(pseudonym[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            rows[0],
            vec![
                Cell::Plain(pseudonym.clone()),
                Cell::Plain(pseudonym),
                Cell::Null,
                Cell::Null,
                Cell::Int(7)
            ]
        );
    }

    #[test]
    fn pseudonyms_are_stable_per_workspace_and_differ_between_workspaces() {
        let a = Policy::new(Privacy::Pseudonymized, &[1; 32], "w1");
        let again = Policy::new(Privacy::Pseudonymized, &[1; 32], "w1");
        let other = Policy::new(Privacy::Pseudonymized, &[1; 32], "w2");
        assert_eq!(a.pseudonym("u1"), again.pseudonym("u1"));
        assert_ne!(a.pseudonym("u1"), a.pseudonym("u2"));
        assert_ne!(a.pseudonym("u1"), other.pseudonym("u1"));
    }

    #[test]
    fn excluded_refuses_user_tables_and_empties_ids_elsewhere() {
        let policy = Policy::new(Privacy::Excluded, &[1; 32], "w");
        let err = policy.admit("the users table").unwrap_err().to_string();
        assert!(err.contains("excluded") && err.contains("the users table"));
        let mut rows = vec![row()];
        policy.shape(COLUMNS, &mut rows);
        assert_eq!(
            rows[0][..4],
            [Cell::Null, Cell::Null, Cell::Null, Cell::Null]
        );
        assert_eq!(policy.user_id("u1"), None);
    }
}
