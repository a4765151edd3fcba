//! Log stream storage conformance: one set of behaviours on every backend.

use crate::support::*;
use tally::storage::StoreError;
use tally::storage::streams::{Lease, StoredStream, StreamProgress};

const NOW: i64 = 1_790_000_000_000_000;
const SECOND: i64 = 1_000_000;

fn stream(ws: &str, id: &str, created_at: i64) -> StoredStream {
    StoredStream {
        workspace_id: ws.into(),
        id: id.into(),
        kind: "https".into(),
        config: r#"{"url":"https://siem.example.com"}"#.into(),
        secrets: vec![1, 2, 3],
        state: "active".into(),
        cursor: 0,
        checkpoint_cursor: 0,
        delivered: 0,
        last_success_at: None,
        last_error: None,
        created_at,
        updated_at: created_at,
    }
}

fn lease(owner: &str, now: i64) -> Lease<'_> {
    Lease {
        owner,
        now,
        until: now + 15 * SECOND,
    }
}

fn progress(cursor: u64, delivered: u64, state: &str) -> StreamProgress {
    StreamProgress {
        cursor,
        checkpoint_cursor: 0,
        delivered,
        state: state.into(),
        last_success_at: Some(NOW),
        last_error: None,
    }
}

#[tokio::test]
async fn streams_are_created_listed_configured_and_deleted_per_workspace() {
    each_store(|ts| async move {
        let store = &ts.store;
        let a = stream("acme", "ls_1", NOW);
        store.stream_create(&a).await.unwrap();
        store
            .stream_create(&stream("acme", "ls_2", NOW + 1))
            .await
            .unwrap();
        store
            .stream_create(&stream("other", "ls_1", NOW))
            .await
            .unwrap();
        assert!(
            matches!(store.stream_create(&a).await, Err(StoreError::Conflict(_))),
            "{}",
            ts.backend()
        );
        let ids: Vec<String> = store
            .streams("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["ls_1", "ls_2"]);
        assert_eq!(store.stream("acme", "ls_1").await.unwrap(), Some(a.clone()));
        assert_eq!(store.stream("acme", "ls_9").await.unwrap(), None);
        assert!(
            store
                .stream_configure("acme", "ls_1", "{}", &[9], NOW + 5)
                .await
                .unwrap()
        );
        let configured = store.stream("acme", "ls_1").await.unwrap().unwrap();
        assert_eq!(
            (
                configured.config.as_str(),
                configured.secrets.as_slice(),
                configured.updated_at
            ),
            ("{}", &[9u8][..], NOW + 5)
        );
        assert!(
            !store
                .stream_configure("acme", "ls_9", "{}", &[], NOW)
                .await
                .unwrap()
        );
        assert!(store.stream_delete("acme", "ls_1").await.unwrap());
        assert!(!store.stream_delete("acme", "ls_1").await.unwrap());
        assert!(
            store.stream("other", "ls_1").await.unwrap().is_some(),
            "other workspaces untouched"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn one_owner_at_a_time_holds_a_stream_until_its_lease_expires() {
    each_store(|ts| async move {
        let store = &ts.store;
        store
            .stream_create(&stream("acme", "ls_1", NOW))
            .await
            .unwrap();
        let mut paused = stream("acme", "ls_2", NOW);
        paused.state = "paused".into();
        store.stream_create(&paused).await.unwrap();
        let claimed = store.stream_claim(lease("a", NOW), 10).await.unwrap();
        assert_eq!(
            claimed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["ls_1"],
            "paused streams are not due"
        );
        assert!(
            store
                .stream_claim(lease("b", NOW + SECOND), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}: leased to a",
            ts.backend()
        );
        assert_eq!(
            store
                .stream_claim(lease("a", NOW + SECOND), 10)
                .await
                .unwrap()
                .len(),
            1,
            "the owner renews"
        );
        assert!(
            !store
                .stream_progress("acme", "ls_1", lease("b", NOW), &progress(5, 5, "active"))
                .await
                .unwrap(),
            "only the owner moves the cursor"
        );
        assert!(
            store
                .stream_progress("acme", "ls_1", lease("a", NOW), &progress(5, 5, "active"))
                .await
                .unwrap()
        );
        assert!(
            store
                .stream_progress("acme", "ls_1", lease("a", NOW), &progress(8, 3, "failing"))
                .await
                .unwrap()
        );
        let s = store.stream("acme", "ls_1").await.unwrap().unwrap();
        assert_eq!(
            (s.cursor, s.delivered, s.state.as_str(), s.last_success_at),
            (8, 8, "failing", Some(NOW))
        );
        // a dies: after its lease b takes over and continues from the cursor.
        let taken = store
            .stream_claim(lease("b", NOW + 16 * SECOND), 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].cursor, 8);
        assert!(
            !store
                .stream_progress("acme", "ls_1", lease("a", NOW), &progress(9, 1, "active"))
                .await
                .unwrap(),
            "a lost it"
        );
        store.stream_release("acme", "ls_1", "b").await.unwrap();
        assert_eq!(
            store
                .stream_claim(lease("a", NOW + 17 * SECOND), 10)
                .await
                .unwrap()
                .len(),
            1,
            "released at once"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn a_stream_paused_during_delivery_stays_paused() {
    each_store(|ts| async move {
        let store = &ts.store;
        store
            .stream_create(&stream("acme", "ls_1", NOW))
            .await
            .unwrap();
        store.stream_claim(lease("a", NOW), 10).await.unwrap();
        assert!(
            store
                .stream_set_state("acme", "ls_1", "paused", false, NOW)
                .await
                .unwrap()
        );
        assert!(
            store
                .stream_progress("acme", "ls_1", lease("a", NOW), &progress(3, 3, "active"))
                .await
                .unwrap()
        );
        let s = store.stream("acme", "ls_1").await.unwrap().unwrap();
        assert_eq!((s.state.as_str(), s.cursor), ("paused", 3));
        let mut failed = progress(3, 0, "stopped");
        failed.last_error = Some("the receiver answered 401".into());
        failed.last_success_at = None;
        assert!(
            store
                .stream_set_state("acme", "ls_1", "active", true, NOW)
                .await
                .unwrap()
        );
        store
            .stream_progress("acme", "ls_1", lease("a", NOW), &failed)
            .await
            .unwrap();
        let s = store.stream("acme", "ls_1").await.unwrap().unwrap();
        assert_eq!(
            (s.state.as_str(), s.last_error.as_deref(), s.last_success_at),
            ("stopped", Some("the receiver answered 401"), Some(NOW))
        );
        assert!(
            store
                .stream_claim(lease("a", NOW), 10)
                .await
                .unwrap()
                .is_empty(),
            "stopped streams wait for an admin"
        );
        assert!(
            store
                .stream_set_state("acme", "ls_1", "active", true, NOW)
                .await
                .unwrap()
        );
        let s = store.stream("acme", "ls_1").await.unwrap().unwrap();
        assert_eq!((s.state.as_str(), s.last_error), ("active", None));
        ts
    })
    .await;
}
