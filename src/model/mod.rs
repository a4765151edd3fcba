//! The product's words as types: workspaces, plans, privacy modes, roles and scopes, and the
//! identifier rules every surface shares. Pure: nothing here touches storage or the network.

mod events;
mod ids;

pub use events::{ActivityBatch, Execution, ExecutionStatus, Message, WorkflowRun};
pub use ids::{is_valid_event_id, is_valid_source, is_valid_workspace_id};

/// Declares a closed set of lower-case words that parse from and print as text.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as it appears on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted words joined for an error message.
            pub fn expected() -> String {
                [$($text),+].join("|")
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("must be one of {}", Self::expected())),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum! {
    /// A workspace's commercial plan; audit logs need `enterprise`.
    Plan { Free => "free", Pro => "pro", Enterprise => "enterprise" }
}

word_enum! {
    /// How user-identifying data leaves tally.
    Privacy { Full => "full", Pseudonymized => "pseudonymized", Excluded => "excluded" }
}

word_enum! {
    /// A member's or API key's role. Ordered: `User < Builder < Admin`.
    Role { User => "user", Builder => "builder", Admin => "admin" }
}

word_enum! {
    /// A capability an API key carries in addition to its role.
    Scope { Ingest => "ingest", UsageExport => "usage_export", AuditRead => "audit_read" }
}

/// The label people read for one of the eleven known message sources; other sources show as
/// sent.
pub fn source_label(source: &str) -> Option<&'static str> {
    Some(match source {
        "web" => "Web app",
        "extension" => "Browser extension",
        "slack" => "Slack",
        "teams" => "Teams",
        "email" => "Email",
        "triggered" => "Triggered",
        "scheduled" => "Scheduled",
        "api" => "API",
        "zapier" => "Zapier",
        "n8n" => "n8n",
        "make" => "Make",
        _ => return None,
    })
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    /// Default IANA timezone, validated on the way in.
    pub timezone: String,
    pub privacy: Privacy,
    pub created_at: jiff::Timestamp,
}

/// Checks an IANA timezone name against the bundled database.
///
/// # Errors
/// A message naming the zone when it is unknown.
pub fn check_timezone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be an IANA timezone name such as Europe/Paris".into());
    }
    jiff::tz::TimeZone::get(name).map_err(|_| {
        format!("unknown timezone {name:?}: use an IANA name such as Europe/Paris or UTC")
    })
}

/// Microseconds since the Unix epoch: how instants are stored.
pub fn to_micros(t: jiff::Timestamp) -> i64 {
    // Timestamps are bounded (years -9999..=9999), so this never overflows.
    t.as_microsecond()
}

/// The inverse of [`to_micros`].
///
/// # Panics
/// Never for values produced by [`to_micros`]; stored values come only from there.
pub fn from_micros(us: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(us).expect("stored instants are within jiff's range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_roles_are_ordered() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>().unwrap(), *plan);
        }
        assert!(Role::User < Role::Builder && Role::Builder < Role::Admin);
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(err, "must be one of user|builder|admin");
    }

    #[test]
    fn known_sources_have_labels_and_others_show_as_sent() {
        assert_eq!(source_label("extension"), Some("Browser extension"));
        assert_eq!(source_label("n8n"), Some("n8n"));
        assert_eq!(source_label("my_bot"), None);
    }

    #[test]
    fn timezones_are_checked_against_the_bundled_database() {
        assert!(check_timezone("Asia/Kathmandu").is_ok());
        assert!(check_timezone("Pacific/Apia").is_ok());
        let err = check_timezone("Mars/Olympus").unwrap_err();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
