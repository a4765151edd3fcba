//! Shared test helpers: a fresh store per test on each backend, and a served app on port 0.
//!
//! PostgreSQL tests use `TALLY_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test)
//! with a fresh schema per test. Without a reachable server they are skipped with a notice,
//! unless `TALLY_REQUIRE_POSTGRES=1`, as in CI, makes that a failure.

use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tally::access::mint_key;
use tally::config::{Config, Layers};
use tally::model::{Plan, Privacy, Role, Scope, Workspace};
use tally::storage::{self, SharedStore};
use tally::web::{self, AppState};

/// A store that exists for one test.
pub struct TestStore {
    pub store: SharedStore,
    /// The URL another process can open it with.
    pub url: String,
    pub _dir: tempfile::TempDir,
    schema: Option<String>,
}

impl TestStore {
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Drops the PostgreSQL schema the test used.
    pub async fn cleanup(self) {
        if let Some(schema) = self.schema
            && let Ok((client, conn)) =
                tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await
        {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        }
    }
}

pub fn pg_url() -> String {
    std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn postgres_required() -> bool {
    std::env::var("TALLY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tally.sqlite");
    let store = storage::open(None, dir.path()).await.unwrap();
    TestStore {
        store,
        url: format!("sqlite://{}", path.display()),
        _dir: dir,
        schema: None,
    }
}

/// A fresh PostgreSQL schema, or `None` (with a notice) when PostgreSQL is not reachable.
pub async fn postgres_store() -> Option<TestStore> {
    let connected = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls),
    )
    .await;
    let (client, conn) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return skip(&e.to_string()),
        Err(_) => return skip("timed out"),
    };
    tokio::spawn(conn);
    let schema = unique("tally_t");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let separator = if pg_url().contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}options=-c%20search_path%3D{schema}", pg_url());
    let store = storage::open(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    Some(TestStore {
        store,
        url,
        _dir: dir,
        schema: Some(schema),
    })
}

fn skip(reason: &str) -> Option<TestStore> {
    assert!(
        !postgres_required(),
        "PostgreSQL is required (TALLY_REQUIRE_POSTGRES=1) but unreachable at {}: {reason}",
        pg_url()
    );
    eprintln!(
        "skipping the PostgreSQL variant: {} unreachable ({reason})",
        pg_url()
    );
    None
}

/// Runs `test` once on SQLite and once on PostgreSQL (when reachable).
pub async fn each_store<F, Fut>(test: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = TestStore>,
{
    let done = test(sqlite_store().await).await;
    done.cleanup().await;
    if let Some(store) = postgres_store().await {
        let done = test(store).await;
        done.cleanup().await;
    }
}

pub const WS: &str = "acme";

pub async fn create_workspace(store: &SharedStore, id: &str, plan: Plan) -> Workspace {
    let ws = Workspace {
        id: id.into(),
        name: format!("{id} Inc"),
        plan,
        timezone: "UTC".into(),
        privacy: Privacy::Full,
        created_at: jiff::Timestamp::from_second(1_767_225_600).unwrap(),
    };
    store.create_workspace(&ws).await.unwrap();
    ws
}

pub async fn key(store: &SharedStore, ws: &str, role: Role, scopes: Vec<Scope>) -> String {
    let now = jiff::Timestamp::now().as_microsecond();
    let minted = mint_key(ws, "test", role, scopes, None, now).unwrap();
    store
        .create_key(&minted.key, &minted.secret_hash)
        .await
        .unwrap();
    minted.secret
}

/// The configuration of a test server whose files live in `dir`.
pub fn test_config(dir: &std::path::Path) -> Config {
    test_config_with(dir, &[])
}

/// The configuration of a test server whose files live in `dir`, with `TALLY_*` variables.
pub fn test_config_with(dir: &std::path::Path, vars: &[(&str, &str)]) -> Config {
    Layers::defaults()
        .env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .unwrap()
        .flags([
            ("listen", Some("127.0.0.1:0".to_string())),
            ("data_dir", Some(dir.display().to_string())),
        ])
        .resolve()
        .unwrap()
}

/// A server on port 0 over `ts`, with workspace `acme` and keys of every kind.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin: String,
    pub builder: String,
    pub user: String,
    pub ingest: String,
}

impl TestApp {
    pub async fn spawn(ts: &TestStore) -> TestApp {
        TestApp::spawn_with(ts, test_config(ts._dir.path())).await
    }

    /// A server with its own configuration (limits, for instance).
    pub async fn spawn_with(ts: &TestStore, config: Config) -> TestApp {
        let store = ts.store.clone();
        create_workspace(&store, WS, Plan::Enterprise).await;
        let admin = key(&store, WS, Role::Admin, vec![]).await;
        let builder = key(&store, WS, Role::Builder, vec![]).await;
        let user = key(&store, WS, Role::User, vec![]).await;
        let ingest = key(&store, WS, Role::User, vec![Scope::Ingest]).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(web::serve(listener, AppState::new(store, config)));
        TestApp {
            base,
            client: reqwest::Client::new(),
            admin,
            builder,
            user,
            ingest,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a JSON array of events with the ingest key.
    pub async fn post_events(&self, events: &Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/w/{WS}/events")))
            .bearer_auth(&self.ingest)
            .json(events)
            .send()
            .await
            .unwrap()
    }
}

/// A valid message event.
pub fn message(id: &str, at: &str) -> Value {
    json!({"type": "message", "id": id, "occurredAt": at, "conversationId": "c1",
           "userId": "u1", "agentId": "a1", "source": "web", "tokensIn": 12, "tokensOut": 34,
           "cost": 0.0021})
}

/// The body of an error answer, checked for the shared shape.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"].clone()
}
