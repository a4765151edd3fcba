//! The storage conformance suite: one set of behaviours, run on every backend.

use crate::support::*;
use tally::ingest::directory::{DirValue, DirectoryKind, validate_records};
use tally::ingest::validate_batch;
use tally::model::{Plan, Privacy, Role, Scope};
use tally::storage::{StoreError, UpsertOutcome, WorkspacePatch};

const NOW: i64 = 1_790_000_000_000_000;

#[tokio::test]
async fn workspaces_are_created_once_read_and_patched() {
    each_store(|ts| async move {
        let store = &ts.store;
        let ws = create_workspace(store, "acme", Plan::Pro).await;
        let again = store.create_workspace(&ws).await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{}",
            ts.backend()
        );
        assert_eq!(store.workspace("acme").await.unwrap(), Some(ws.clone()));
        assert_eq!(store.workspace("nope").await.unwrap(), None);
        let patch = WorkspacePatch {
            timezone: Some("Asia/Kathmandu".into()),
            privacy: Some(Privacy::Excluded),
            ..Default::default()
        };
        let patched = store
            .update_workspace("acme", &patch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(patched.timezone, "Asia/Kathmandu");
        assert_eq!(patched.privacy, Privacy::Excluded);
        assert_eq!(patched.name, ws.name);
        assert_eq!(patched.plan, Plan::Pro);
        assert!(
            store
                .update_workspace("nope", &patch)
                .await
                .unwrap()
                .is_none()
        );
        create_workspace(store, "beta", Plan::Free).await;
        let ids: Vec<String> = store
            .workspaces()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(ids, vec!["acme", "beta"]);
        ts
    })
    .await;
}

#[tokio::test]
async fn keys_are_found_by_hash_listed_touched_and_revoked() {
    each_store(|ts| async move {
        let store = &ts.store;
        create_workspace(store, "acme", Plan::Free).await;
        let now = 1_000;
        let minted = tally::access::mint_key(
            "acme",
            "ci",
            Role::Builder,
            vec![Scope::UsageExport, Scope::Ingest],
            None,
            now,
        )
        .unwrap();
        store
            .create_key(&minted.key, &minted.secret_hash)
            .await
            .unwrap();
        let found = store
            .key_by_hash(&minted.secret_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, minted.key);
        assert_eq!(found.scopes, vec![Scope::Ingest, Scope::UsageExport]);
        store.touch_key("acme", &found.id, 5_000).await.unwrap();
        let listed = store.keys("acme").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(5_000));
        assert!(!store.revoke_key("other", &found.id, 6_000).await.unwrap());
        assert!(store.revoke_key("acme", &found.id, 6_000).await.unwrap());
        assert!(!store.revoke_key("acme", &found.id, 7_000).await.unwrap());
        assert!(store.keys("acme").await.unwrap().is_empty());
        let revoked = store
            .key_by_hash(&minted.secret_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(6_000));
        ts
    })
    .await;
}

fn batch(events: serde_json::Value) -> tally::model::ActivityBatch {
    validate_batch(events.as_array().unwrap(), NOW).unwrap()
}

#[tokio::test]
async fn ingest_is_idempotent_by_id_per_type_and_reads_back_exactly() {
    each_store(|ts| async move {
        let store = &ts.store;
        create_workspace(store, "acme", Plan::Free).await;
        create_workspace(store, "beta", Plan::Free).await;
        let events = serde_json::json!([
            {"type": "message", "id": "m2", "occurredAt": "2026-03-01T10:00:00.123456Z", "conversationId": "c", "agentId": "a", "source": "api", "cost": 0.000001},
            {"type": "message", "id": "m1", "occurredAt": "2026-03-01T09:00:00+01:00", "conversationId": "c", "parentMessageId": "m0", "userId": "u", "agentId": "a", "source": "web", "modelId": "gpt", "providerId": "openai", "projectId": "p", "tokensIn": 1, "tokensOut": 2, "cost": 12.5},
            {"type": "tool_execution", "id": "x1", "occurredAt": "2026-03-01T10:00:00Z", "tool": "web_search", "status": "failed"},
            {"type": "skill_execution", "id": "x1", "occurredAt": "2026-03-01T10:00:00Z", "skill": "Summarize"},
            {"type": "workflow_run", "id": "x1", "occurredAt": "2026-03-01T10:00:00Z", "workflowId": "wf", "status": "cancelled"},
            {"type": "message", "id": "m1", "occurredAt": "2026-03-02T09:00:00Z", "conversationId": "other", "agentId": "a", "source": "web"}
        ]);
        let b = batch(events);
        let outcome = store.ingest("acme", b.clone()).await.unwrap();
        assert_eq!((outcome.accepted, outcome.duplicates), (5, 1), "{}", ts.backend());
        let again = store.ingest("acme", b.clone()).await.unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 6));
        let other = store.ingest("beta", b.clone()).await.unwrap();
        assert_eq!(other.accepted, 5, "ids are per workspace");
        let stored = store.activity_between("acme", 0, i64::MAX).await.unwrap();
        let ids: Vec<&str> = stored.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, vec!["m1", "m2"], "ordered by time");
        assert_eq!(stored.messages[0], b.messages[1], "every field round-trips");
        assert_eq!(stored.messages[1], b.messages[0]);
        assert_eq!(stored.messages[1].occurred_at % 1_000_000, 123_456, "microseconds kept");
        assert_eq!(stored.tool_executions, b.tool_executions);
        assert_eq!(stored.skill_executions, b.skill_executions);
        assert_eq!(stored.workflow_runs, b.workflow_runs);
        let counts = store.event_counts("acme").await.unwrap();
        assert_eq!((counts.messages, counts.tool_executions, counts.skill_executions, counts.workflow_runs), (2, 1, 1, 1));
        let window = store.activity_between("acme", b.messages[1].occurred_at, b.messages[0].occurred_at).await.unwrap();
        assert_eq!(window.messages.len(), 1, "from inclusive, to exclusive");
        ts
    })
    .await;
}

#[tokio::test]
async fn concurrent_batches_all_land() {
    each_store(|ts| async move {
        let store = ts.store.clone();
        create_workspace(&store, "acme", Plan::Free).await;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let events: Vec<_> = (0..250)
                    .map(|i| message(&format!("m{t}_{i}"), "2026-03-01T10:00:00Z"))
                    .collect();
                store
                    .ingest("acme", batch(serde_json::Value::Array(events)))
                    .await
                    .unwrap()
                    .accepted
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, 2_000);
        assert_eq!(store.event_counts("acme").await.unwrap().messages, 2_000);
        ts
    })
    .await;
}

#[tokio::test]
async fn directories_merge_by_id_and_refuse_incomplete_new_entries_whole() {
    each_store(|ts| async move {
        let store = &ts.store;
        create_workspace(store, "acme", Plan::Free).await;
        let first = serde_json::json!([
            {"userId": "u1", "email": "ada@example.com", "name": "Ada", "role": "admin", "status": "active", "groups": ["Eng", "Ops"], "joinedAt": "2025-01-01T00:00:00Z", "lastLoginAt": "2026-01-01T00:00:00Z"},
            {"userId": "u2", "email": "bob@example.com", "name": "Bob", "role": "user", "status": "active", "joinedAt": "2025-01-01T00:00:00Z"}
        ]);
        let records = validate_records(DirectoryKind::Members, first.as_array().unwrap(), NOW).unwrap();
        let outcome = store.upsert_directory("acme", DirectoryKind::Members, records).await.unwrap();
        assert_eq!(outcome, UpsertOutcome::Stored { created: 2, updated: 0 });
        let patch = serde_json::json!([
            {"userId": "u1", "status": "revoked", "lastLoginAt": null},
            {"userId": "u3", "name": "Cy"}
        ]);
        let records = validate_records(DirectoryKind::Members, patch.as_array().unwrap(), NOW).unwrap();
        let refused = store.upsert_directory("acme", DirectoryKind::Members, records).await.unwrap();
        let UpsertOutcome::Refused(details) = refused else { panic!("{refused:?}") };
        assert!(details.iter().all(|d| d.index == Some(1)));
        assert_eq!(details.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), vec!["email", "role", "status", "joinedAt"]);
        let unchanged = store.directory("acme", DirectoryKind::Members).await.unwrap();
        assert_eq!(unchanged[0].text("status"), Some("active"), "nothing stored from a refused batch");
        let records = validate_records(DirectoryKind::Members, &patch.as_array().unwrap()[..1], NOW).unwrap();
        let outcome = store.upsert_directory("acme", DirectoryKind::Members, records).await.unwrap();
        assert_eq!(outcome, UpsertOutcome::Stored { created: 0, updated: 1 });
        let members = store.directory("acme", DirectoryKind::Members).await.unwrap();
        assert_eq!(members.len(), 2);
        let ada = &members[0];
        assert_eq!(ada.text("status"), Some("revoked"));
        assert_eq!(ada.text("name"), Some("Ada"), "absent fields keep their value");
        assert_eq!(ada.get("lastLoginAt"), None, "null clears");
        assert_eq!(ada.get("groups"), Some(&DirValue::List(vec!["Eng".into(), "Ops".into()])));
        assert!(store.directory("beta", DirectoryKind::Members).await.unwrap().is_empty());
        ts
    })
    .await;
}

#[tokio::test]
async fn every_directory_kind_round_trips() {
    each_store(|ts| async move {
        let store = &ts.store;
        create_workspace(store, "acme", Plan::Free).await;
        let samples = [
            (DirectoryKind::Agents, serde_json::json!({"agentId": "a1", "name": "Helper", "description": "=cmd", "settings": "global", "modelId": "m", "providerId": "p", "authorEmails": ["a@x.io"], "editorEmails": [], "createdAt": "2025-01-01T00:00:00Z", "lastEdit": "2025-02-01T00:00:00Z"})),
            (DirectoryKind::Tools, serde_json::json!({"id": "t1", "name": "Web search", "description": "Searches"})),
            (DirectoryKind::Skills, serde_json::json!({"id": "s1", "name": "Summarize"})),
            (DirectoryKind::Projects, serde_json::json!({"id": "p1", "name": "Launch", "ownerId": "u1"})),
            (DirectoryKind::Workflows, serde_json::json!({"id": "w1", "name": "Nightly", "ownerId": "u1"})),
            (DirectoryKind::Models, serde_json::json!({"id": "gpt", "name": "GPT", "providerId": "openai"})),
        ];
        for (kind, item) in samples {
            let records = validate_records(kind, &[item], NOW).unwrap();
            store.upsert_directory("acme", kind, records.clone()).await.unwrap();
            let stored = store.directory("acme", kind).await.unwrap();
            assert_eq!(stored.len(), 1, "{kind}");
            for (spec, value) in &records[0].values {
                assert_eq!(stored[0].get(spec.wire), value.as_ref(), "{kind}.{} on {}", spec.wire, ts.backend());
            }
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn console_passwords_are_kept_by_email() {
    each_store(|ts| async move {
        let store = &ts.store;
        assert_eq!(store.password_hash("ada@example.com").await.unwrap(), None);
        store
            .set_password_hash("ada@example.com", "h1", 1)
            .await
            .unwrap();
        store
            .set_password_hash("ada@example.com", "h2", 2)
            .await
            .unwrap();
        assert_eq!(
            store
                .password_hash("ada@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("h2")
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn postgres_keys_all_start_with_the_workspace_id() {
    let Some(ts) = postgres_store().await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&ts.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT tc.table_name, tc.constraint_type, string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position)
             FROM information_schema.table_constraints tc
             JOIN information_schema.key_column_usage kcu
               ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
             WHERE tc.table_schema = current_schema() AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
             GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= 12, "the schema has its tables");
    // The reference tables looked up without a workspace, and the migration ledger.
    let reference = ["api_keys", "accounts", "tally_migrations"];
    for row in rows {
        let (table, kind, columns): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        assert_ne!(
            kind, "FOREIGN KEY",
            "{table}: no foreign keys, so nothing crosses workspaces"
        );
        if reference.contains(&table.as_str()) && kind == "PRIMARY KEY" {
            continue;
        }
        assert!(
            columns.starts_with("workspace_id"),
            "{table} {kind} ({columns}) must start with workspace_id"
        );
    }
    ts.cleanup().await;
}
