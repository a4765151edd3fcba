//! Directories: members, agents, tools, skills, projects, workflows and models, upserted in bulk
//! and merged by id (absent fields keep their value, `null` clears an optional one).
//!
//! Each directory is described once, as data ([`DirectoryKind::fields`]); validation, storage and
//! the API documentation all read that description.

use serde_json::Value;
use std::fmt;
use std::str::FromStr;

use super::fields::{FieldError, Fields, email_problem, text_problem};

/// What a directory field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text of at most this many characters.
    Text(usize),
    /// An email address.
    Email,
    /// An id of another entity.
    Id,
    /// An RFC 3339 instant.
    Time,
    /// One word of a closed set.
    Word(&'static [&'static str]),
    /// A list of email addresses.
    Emails,
    /// A list of group names.
    Groups,
}

/// One field of a directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The camelCase wire name.
    pub wire: &'static str,
    /// The storage column.
    pub column: &'static str,
    pub ty: FieldType,
    /// Whether a new record must carry it.
    pub required: bool,
}

const fn field(
    wire: &'static str,
    column: &'static str,
    ty: FieldType,
    required: bool,
) -> FieldSpec {
    FieldSpec {
        wire,
        column,
        ty,
        required,
    }
}

const NAME: FieldType = FieldType::Text(256);
const DESCRIPTION: FieldType = FieldType::Text(4000);

const MEMBER_FIELDS: &[FieldSpec] = &[
    field("email", "email", FieldType::Email, true),
    field("name", "name", NAME, true),
    field(
        "role",
        "role",
        FieldType::Word(&["admin", "builder", "user"]),
        true,
    ),
    field(
        "status",
        "status",
        FieldType::Word(&["active", "revoked"]),
        true,
    ),
    field("groups", "groups", FieldType::Groups, false),
    field("joinedAt", "joined_at", FieldType::Time, true),
    field("lastLoginAt", "last_login_at", FieldType::Time, false),
];
const AGENT_FIELDS: &[FieldSpec] = &[
    field("name", "name", NAME, true),
    field("description", "description", DESCRIPTION, false),
    field(
        "settings",
        "settings",
        FieldType::Word(&["published", "unpublished", "global"]),
        true,
    ),
    field("modelId", "model_id", FieldType::Id, false),
    field("providerId", "provider_id", FieldType::Id, false),
    field("authorEmails", "author_emails", FieldType::Emails, false),
    field("editorEmails", "editor_emails", FieldType::Emails, false),
    field("createdAt", "created_at", FieldType::Time, false),
    field("lastEdit", "last_edit", FieldType::Time, false),
];
const NAMED_FIELDS: &[FieldSpec] = &[
    field("name", "name", NAME, true),
    field("description", "description", DESCRIPTION, false),
];
const OWNED_FIELDS: &[FieldSpec] = &[
    field("name", "name", NAME, true),
    field("ownerId", "owner_id", FieldType::Id, false),
];
const MODEL_FIELDS: &[FieldSpec] = &[
    field("name", "name", NAME, true),
    field("providerId", "provider_id", FieldType::Id, false),
];

/// The directories tally keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryKind {
    Members,
    Agents,
    Tools,
    Skills,
    Projects,
    Workflows,
    Models,
}

impl DirectoryKind {
    pub const ALL: &'static [DirectoryKind] = &[
        DirectoryKind::Members,
        DirectoryKind::Agents,
        DirectoryKind::Tools,
        DirectoryKind::Skills,
        DirectoryKind::Projects,
        DirectoryKind::Workflows,
        DirectoryKind::Models,
    ];

    /// The route segment and table name.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryKind::Members => "members",
            DirectoryKind::Agents => "agents",
            DirectoryKind::Tools => "tools",
            DirectoryKind::Skills => "skills",
            DirectoryKind::Projects => "projects",
            DirectoryKind::Workflows => "workflows",
            DirectoryKind::Models => "models",
        }
    }

    /// The wire name of the record's id.
    pub fn id_field(self) -> &'static str {
        match self {
            DirectoryKind::Members => "userId",
            DirectoryKind::Agents => "agentId",
            _ => "id",
        }
    }

    /// Every field but the id, in storage order.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            DirectoryKind::Members => MEMBER_FIELDS,
            DirectoryKind::Agents => AGENT_FIELDS,
            DirectoryKind::Tools | DirectoryKind::Skills => NAMED_FIELDS,
            DirectoryKind::Projects | DirectoryKind::Workflows => OWNED_FIELDS,
            DirectoryKind::Models => MODEL_FIELDS,
        }
    }

    fn allowed_wire_names(self) -> Vec<&'static str> {
        std::iter::once(self.id_field())
            .chain(self.fields().iter().map(|f| f.wire))
            .collect()
    }
}

impl fmt::Display for DirectoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DirectoryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DirectoryKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown directory {s:?}"))
    }
}

/// A stored directory value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirValue {
    Text(String),
    /// Microseconds since the epoch.
    Time(i64),
    List(Vec<String>),
}

/// One record of a directory upsert: its id and the fields it names. A field named with
/// `None` is cleared; a field not named keeps its stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRecord {
    pub id: String,
    pub values: Vec<(FieldSpec, Option<DirValue>)>,
}

impl DirectoryRecord {
    /// The value a field holds in this record, when it names one.
    pub fn get(&self, wire: &str) -> Option<&DirValue> {
        self.values
            .iter()
            .find(|(spec, _)| spec.wire == wire)
            .and_then(|(_, v)| v.as_ref())
    }

    /// The text a field holds, when it holds text.
    pub fn text(&self, wire: &str) -> Option<&str> {
        match self.get(wire) {
            Some(DirValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The required fields a record that creates a new entry lacks.
    pub fn missing_for_new(&self, kind: DirectoryKind) -> Vec<&'static str> {
        kind.fields()
            .iter()
            .filter(|spec| spec.required && self.get(spec.wire).is_none())
            .map(|spec| spec.wire)
            .collect()
    }
}

/// Validates the items of a directory upsert.
///
/// # Errors
/// Every field error found, in batch order; nothing is to be stored then.
pub fn validate_records(
    kind: DirectoryKind,
    items: &[Value],
    now_micros: i64,
) -> Result<Vec<DirectoryRecord>, Vec<FieldError>> {
    let allowed = kind.allowed_wire_names();
    let mut records = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errors.push(FieldError {
                index: Some(index),
                field: String::new(),
                reason: format!("each {} record must be a JSON object", kind.as_str()),
            });
            continue;
        };
        let mut f = Fields::new(obj, Some(index), &mut errors);
        f.refuse_unknown(&allowed);
        let id = f.id(kind.id_field(), true);
        let mut values = Vec::new();
        for spec in kind.fields() {
            if !f.has(spec.wire) {
                continue;
            }
            if f.value(spec.wire).is_none() {
                if spec.required {
                    f.error(
                        spec.wire,
                        "cannot be null: leave it out to keep the stored value",
                    );
                } else {
                    values.push((*spec, None));
                }
                continue;
            }
            if let Some(v) = read_value(&mut f, spec, now_micros) {
                values.push((*spec, Some(v)));
            }
        }
        if f.clean() {
            records.extend(id.map(|id| DirectoryRecord { id, values }));
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

fn read_value(f: &mut Fields<'_>, spec: &FieldSpec, now: i64) -> Option<DirValue> {
    let wire = spec.wire;
    match spec.ty {
        FieldType::Text(max) => f.text(wire, true, max).map(DirValue::Text),
        FieldType::Id => f.id(wire, true).map(DirValue::Text),
        FieldType::Time => f.instant(wire, true, now).map(DirValue::Time),
        FieldType::Email => {
            let s = f.str(wire, true)?;
            match email_problem(s) {
                None => Some(DirValue::Text(s.to_string())),
                Some(reason) => {
                    f.error(wire, reason);
                    None
                }
            }
        }
        FieldType::Word(words) => {
            let s = f.str(wire, true)?;
            if words.contains(&s) {
                Some(DirValue::Text(s.to_string()))
            } else {
                f.error(wire, format!("must be one of {}", words.join("|")));
                None
            }
        }
        FieldType::Emails => f.list(wire, 100, email_problem).map(DirValue::List),
        FieldType::Groups => f
            .list(wire, 1000, |s| text_problem(s, 256))
            .map(DirValue::List),
    }
}

/// Reports the records that would create entries without their required fields.
pub fn missing_required(
    kind: DirectoryKind,
    records: &[DirectoryRecord],
    exists: impl Fn(&str) -> bool,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    // A record may complete an entry that an earlier record of the same batch created.
    let mut created = std::collections::HashSet::new();
    for (index, record) in records.iter().enumerate() {
        if created.contains(record.id.as_str()) || exists(&record.id) {
            continue;
        }
        let missing = record.missing_for_new(kind);
        if missing.is_empty() {
            created.insert(record.id.as_str());
        }
        for wire in missing {
            errors.push(FieldError {
                index: Some(index),
                field: wire.to_string(),
                reason: format!(
                    "is required for a new {} entry ({} {:?} is not known yet)",
                    kind.as_str(),
                    kind.id_field(),
                    record.id
                ),
            });
        }
    }
    errors
}
