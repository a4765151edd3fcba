//! The audit log over HTTP and through `tally audit verify`, on both stores: ingest and
//! idempotency, validation, plan and scope refusals, checkpoints and proofs (checked with the
//! core's own verifiers), search, exports, and tampering with stored entries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tally::audit::canonical::canonical_bytes;
use tally::audit::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use tally::audit::note::{Verifier, open_checkpoint};
use tally::audit::verify::verify_export;
use tally::config::Layers;
use tally::model::{Plan, Role, Scope};
use tally::web::{self, AppState};

use crate::support::*;

const ORIGIN: &str = "tally.test/w/acme";

/// A server over `ts` whose signing key lives in the test's own directory.
struct AuditApp {
    base: String,
    client: reqwest::Client,
    ingest: String,
    reader: String,
    admin: String,
}

impl AuditApp {
    async fn spawn(ts: &TestStore, plan: Plan) -> AuditApp {
        let store = ts.store.clone();
        create_workspace(&store, WS, plan).await;
        let ingest = key(&store, WS, Role::User, vec![Scope::Ingest]).await;
        let reader = key(&store, WS, Role::User, vec![Scope::AuditRead]).await;
        let admin = key(&store, WS, Role::Admin, vec![]).await;
        let config = Layers::defaults()
            .flags([
                ("listen", Some("127.0.0.1:0".to_string())),
                ("data_dir", Some(ts._dir.path().display().to_string())),
                ("public_url", Some("https://tally.test".to_string())),
            ])
            .resolve()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(web::serve(listener, AppState::new(store, config)));
        AuditApp {
            base,
            client: reqwest::Client::new(),
            ingest,
            reader,
            admin,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/w/{WS}/audit/{path}", self.base)
    }

    async fn post(&self, events: &Value, idempotency_key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("events"))
            .bearer_auth(&self.ingest)
            .json(events);
        if let Some(k) = idempotency_key {
            request = request.header("Idempotency-Key", k);
        }
        request.send().await.unwrap()
    }

    async fn ingest(&self, events: &Value) -> Value {
        let response = self.post(events, None).await;
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.reader)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn sign(&self) -> Value {
        let response = self
            .client
            .post(self.url("checkpoint"))
            .bearer_auth(&self.reader)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    async fn verifier(&self) -> Verifier {
        let keys = self.json("keys").await;
        Verifier::from_vkey(keys["data"][0]["vkey"].as_str().unwrap()).unwrap()
    }
}

/// An audit event by a person, at minute `minute` of 2026-03-01.
fn event(id: &str, minute: u32, action: &str) -> Value {
    json!({"id": id, "action": action, "occurredAt": format!("2026-03-01T10:{minute:02}:00Z"),
           "actor": {"type": "user", "id": "u1", "name": "Ada Lovelace", "email": "ada@example.com"},
           "targets": [{"type": "agent", "id": "a1", "name": "Helper"}],
           "context": {"location": "203.0.113.7", "userAgent": "Mozilla/5.0"},
           "metadata": {"plan": "enterprise"}})
}

fn events(prefix: &str, n: u32) -> Value {
    (0..n)
        .map(|i| event(&format!("{prefix}{i}"), i % 60, "agent.executed"))
        .collect()
}

fn hash(b64: &Value) -> Hash {
    BASE64
        .decode(b64.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array().unwrap().iter().map(hash).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn audit_events_are_stored_once_and_replays_store_nothing() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        let batch = events("e", 3);
        assert_eq!(
            app.ingest(&batch).await,
            json!({"accepted": 3, "duplicates": 0})
        );
        assert_eq!(
            app.ingest(&batch).await,
            json!({"accepted": 0, "duplicates": 3})
        );
        let keyed = events("k", 2);
        let first: Value = app
            .post(&keyed, Some("batch-1"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(first, json!({"accepted": 2, "duplicates": 0}));
        // Same key, new ids: a replay of the batch the key named, so nothing is stored.
        let replay = app.post(&events("other", 2), Some("batch-1")).await;
        assert_eq!(replay.status().as_u16(), 200);
        let replay: Value = replay.json().await.unwrap();
        assert_eq!(replay, json!({"accepted": 0, "duplicates": 2}));
        // NDJSON works too, and a repeated id inside a batch is a duplicate.
        let ndjson = format!("{}\n{}\n", event("n1", 1, "a.b"), event("n1", 1, "a.b"));
        let response = app
            .client
            .post(app.url("events"))
            .bearer_auth(&app.ingest)
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"accepted": 1, "duplicates": 1}),
            "{}",
            ts.backend()
        );
        assert_eq!(ts.store.audit_tree_size(WS).await.unwrap(), 6);
        let page = app.json("events?limit=1000").await;
        let mut leaves: Vec<u64> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["leafIndex"].as_u64().unwrap())
            .collect();
        leaves.sort();
        // The search itself was recorded first, as audit_log.viewed (leaf 6).
        assert_eq!(leaves, [0, 1, 2, 3, 4, 5, 6]);
        ts
    })
    .await;
}

#[tokio::test]
async fn each_validation_rule_refuses_the_batch_whole_naming_the_field() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        let base = event("e1", 1, "agent.executed");
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        let huge: serde_json::Map<String, Value> = (0..40)
            .map(|i| (format!("k{i}"), json!("\u{e9}".repeat(1000))))
            .collect();
        let cases: Vec<(&str, Value, &str)> = vec![
            ("action", json!("Agent.Executed"), "action"),
            ("action", json!("executed"), "action"),
            ("actor", json!({"type": "robot", "id": "x"}), "actor.type"),
            ("actor", json!({"type": "user"}), "actor.id"),
            ("targets", json!([{"id": "a1"}]), "targets[0].type"),
            ("targets", json!("a1"), "targets"),
            (
                "context",
                json!({"location": "the moon"}),
                "context.location",
            ),
            (
                "context",
                json!({"userAgent": "x".repeat(1001)}),
                "context.userAgent",
            ),
            ("metadata", json!({"bad key": 1}), "metadata.bad key"),
            ("metadata", json!({"n": {"nested": true}}), "metadata.n"),
            (
                "metadata",
                json!({"n": 9_007_199_254_740_993_i64}),
                "metadata.n",
            ),
            ("metadata", json!({"s": "x".repeat(1001)}), "metadata.s"),
            (
                "metadata",
                json!({"actor_type": "robot"}),
                "metadata.actor_type",
            ),
            ("metadata", Value::Object(many), "metadata"),
            ("metadata", Value::Object(huge), ""),
            ("occurredAt", json!("yesterday"), "occurredAt"),
            ("id", json!("has space"), "id"),
        ];
        for (field, value, named) in cases {
            let mut bad = base.clone();
            bad[field] = value;
            let batch = json!([event("good", 2, "space.deleted"), bad]);
            let error = error_of(app.post(&batch, None).await, 422).await;
            let details = error["details"].as_array().unwrap();
            assert_eq!(details.len(), 1, "{field}: {error}");
            assert_eq!(details[0]["index"], 1);
            assert_eq!(details[0]["field"], named, "{error}");
        }
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove("id");
        let error = error_of(app.post(&json!([missing]), None).await, 422).await;
        assert_eq!(error["details"][0]["field"], "id");
        assert_eq!(
            ts.store.audit_tree_size(WS).await.unwrap(),
            0,
            "nothing was stored"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn audit_routes_need_the_enterprise_plan_and_the_audit_read_scope() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Pro).await;
        let error = error_of(app.post(&events("e", 1), None).await, 403).await;
        assert_eq!(error["type"], "permission_error");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("enterprise plan"),
            "{error}"
        );
        for path in [
            "events",
            "export",
            "checkpoint",
            "keys",
            "proofs/inclusion?leafIndex=0",
        ] {
            let error = error_of(app.get(path).await, 403).await;
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("enterprise plan"),
                "{path}"
            );
        }
        let patch = tally::storage::WorkspacePatch {
            plan: Some(Plan::Enterprise),
            ..Default::default()
        };
        ts.store.update_workspace(WS, &patch).await.unwrap();
        app.ingest(&events("e", 1)).await;
        // The admin role alone does not read the audit log; nor does an ingest key.
        for key in [&app.admin, &app.ingest] {
            let response = app
                .client
                .get(app.url("events"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let error = error_of(response, 403).await;
            assert!(
                error["message"].as_str().unwrap().contains("audit_read"),
                "{error}"
            );
        }
        let response = app
            .client
            .post(app.url("events"))
            .bearer_auth(&app.reader)
            .json(&events("r", 1))
            .send()
            .await
            .unwrap();
        error_of(response, 403).await;
        let found = app.json("events").await;
        assert_eq!(
            found["data"][0]["action"], "audit_log.viewed",
            "the search recorded itself"
        );
        assert_eq!(ids(&found)[1..], ["e0"]);
        ts
    })
    .await;
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_with_the_core() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        let batch = events("e", 10);
        app.ingest(&batch).await;
        let error = error_of(app.get("checkpoint").await, 404).await;
        assert!(
            error["message"].as_str().unwrap().contains("sign one"),
            "{error}"
        );
        let error = error_of(app.get("proofs/inclusion?leafIndex=0").await, 404).await;
        assert!(
            error["message"].as_str().unwrap().contains("sign one"),
            "{error}"
        );
        let signed = app.sign().await;
        assert_eq!(signed["origin"], ORIGIN);
        assert_eq!(signed["treeSize"], 10);
        let verifier = app.verifier().await;
        let checkpoint = open_checkpoint(signed["note"].as_str().unwrap(), &[verifier]).unwrap();
        assert_eq!(checkpoint.root_hash, hash(&signed["rootHash"]));
        assert_eq!(app.json("checkpoint").await, signed);
        for (i, e) in batch.as_array().unwrap().iter().enumerate() {
            let mut stored = e.clone();
            stored["metadata"]["actor_type"] = json!("user");
            let leaf = leaf_hash(&canonical_bytes(&stored).unwrap());
            let proof = app.json(&format!("proofs/inclusion?leafIndex={i}")).await;
            assert_eq!(hash(&proof["leafHash"]), leaf, "leaf {i}");
            assert_eq!(proof["treeSize"], 10);
            verify_inclusion(
                &leaf,
                i as u64,
                10,
                &hashes(&proof["auditPath"]),
                &checkpoint.root_hash,
            )
            .unwrap();
        }
        let by_id = app.json("proofs/inclusion?eventId=e7").await;
        assert_eq!(by_id["leafIndex"], 7);
        error_of(app.get("proofs/inclusion?eventId=nope").await, 404).await;
        error_of(app.get("proofs/inclusion").await, 400).await;

        app.ingest(&events("f", 5)).await;
        let error = error_of(app.get("proofs/inclusion?leafIndex=12").await, 404).await;
        assert!(
            error["message"].as_str().unwrap().contains("sign one"),
            "{error}"
        );
        let second = app.sign().await;
        assert_eq!(second["treeSize"], 15);
        let old = app.json("checkpoint?treeSize=10").await;
        assert_eq!(old, signed);
        error_of(app.get("checkpoint?treeSize=11").await, 404).await;
        let proof = app.json("proofs/consistency?first=10&second=15").await;
        assert_eq!(
            (proof["first"].clone(), proof["second"].clone()),
            (json!(10), json!(15))
        );
        verify_consistency(
            10,
            15,
            &hash(&signed["rootHash"]),
            &hash(&second["rootHash"]),
            &hashes(&proof["proof"]),
        )
        .unwrap();
        error_of(app.get("proofs/consistency?first=10&second=16").await, 404).await;
        error_of(app.get("proofs/consistency?first=12&second=10").await, 400).await;
        let proof = app.json("proofs/inclusion?leafIndex=3&treeSize=10").await;
        assert_eq!(proof["treeSize"], 10);

        let keys = app.json("keys").await;
        let key = &keys["data"][0];
        assert_eq!(keys["data"].as_array().unwrap().len(), 1);
        assert_eq!(key["name"], ORIGIN);
        assert_eq!(key["keyId"].as_str().unwrap().len(), 8);
        assert!(key["retiredAt"].is_null());
        ts
    })
    .await;
}

#[tokio::test]
async fn a_checkpoint_is_signed_every_thousand_events_and_keys_rotate() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        app.ingest(&events("e", 999)).await;
        error_of(app.get("checkpoint").await, 404).await;
        app.ingest(&events("f", 2)).await;
        let checkpoint = app.json("checkpoint").await;
        assert_eq!(checkpoint["treeSize"], 1001);
        // A new key: the old one is retired, its checkpoints still verify with it.
        let old = app.verifier().await;
        let rotated_dir = tempfile::tempdir().unwrap();
        let config = Layers::defaults()
            .flags([
                ("listen", Some("127.0.0.1:0".to_string())),
                ("data_dir", Some(rotated_dir.path().display().to_string())),
                ("public_url", Some("https://tally.test".to_string())),
            ])
            .resolve()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(web::serve(
            listener,
            AppState::new(ts.store.clone(), config),
        ));
        let rotated = AuditApp {
            base,
            client: reqwest::Client::new(),
            ingest: app.ingest.clone(),
            reader: app.reader.clone(),
            admin: app.admin.clone(),
        };
        let keys = rotated.json("keys").await;
        let keys = keys["data"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0]["retiredAt"].is_string() && keys[1]["retiredAt"].is_null());
        assert_eq!(keys[0]["vkey"], old.vkey());
        rotated.ingest(&events("g", 1)).await;
        let new = rotated.sign().await;
        let new_key = Verifier::from_vkey(keys[1]["vkey"].as_str().unwrap()).unwrap();
        open_checkpoint(
            new["note"].as_str().unwrap(),
            std::slice::from_ref(&new_key),
        )
        .unwrap();
        assert!(
            open_checkpoint(new["note"].as_str().unwrap(), std::slice::from_ref(&old)).is_err()
        );
        open_checkpoint(checkpoint["note"].as_str().unwrap(), &[old]).unwrap();
        ts
    })
    .await;
}

#[tokio::test]
async fn search_filters_and_pages_the_same_on_both_stores() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        let mut agent = event("agent-run", 5, "agent.executed");
        agent["metadata"] =
            json!({"actor_type": "agent", "initiating_user_email": "grace@example.com"});
        agent["actor"] = json!({"type": "api_key", "id": "key_9", "name": "Zapier"});
        let mut system = event("sync", 7, "directory.synced");
        system["actor"] = json!({"type": "system", "id": "scheduler"});
        system["targets"] = json!([{"type": "space", "id": "s-42", "name": "Finance Space"}]);
        system["context"] = json!({"location": "internal"});
        let batch = json!([
            event("a", 1, "space.deleted"),
            event("b", 3, "agent.executed"),
            agent,
            system,
            event("c", 3, "agent.executed"),
            event("d", 9, "member.invited"),
        ]);
        app.ingest(&batch).await;
        let found = app.json("events").await;
        assert_eq!(
            found["data"][0]["action"], "audit_log.viewed",
            "the search recorded itself"
        );
        assert_eq!(ids(&found)[1..], ["d", "sync", "agent-run", "c", "b", "a"]);
        assert_eq!(ids(&app.json("events?q=FINANCE%20space").await), ["sync"]);
        assert_eq!(
            ids(&app.json("events?q=grace%40example").await),
            ["agent-run"]
        );
        assert_eq!(ids(&app.json("events?q=internal").await), ["sync"]);
        assert_eq!(
            ids(&app.json("events?q=100%25").await),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(&app.json("events?action=agent.executed").await),
            ["agent-run", "c", "b"]
        );
        assert_eq!(
            ids(&app.json("events?actor=ADA%40example.com").await),
            ["d", "c", "b", "a"]
        );
        assert_eq!(ids(&app.json("events?actor=ada%20lovelace").await).len(), 4);
        assert_eq!(ids(&app.json("events?actor=key_9").await), ["agent-run"]);
        assert_eq!(
            ids(&app.json("events?actorType=agent").await),
            ["agent-run"]
        );
        assert_eq!(ids(&app.json("events?actorType=system").await), ["sync"]);
        assert_eq!(
            ids(&app.json("events?actorType=user").await),
            ["d", "c", "b", "a"]
        );
        assert_eq!(ids(&app.json("events?target=s-42").await), ["sync"]);
        assert_eq!(ids(&app.json("events?target=helper").await).len(), 5);
        let window = "events?from=2026-03-01T10:03:00Z&to=2026-03-01T10:07:00%2B00:00";
        assert_eq!(ids(&app.json(window).await), ["agent-run", "c", "b"]);
        let mut seen = Vec::new();
        let mut path = "events?limit=4".to_string();
        loop {
            let page = app.json(&path).await;
            seen.extend(ids(&page));
            match page["nextCursor"].as_str() {
                Some(cursor) => path = format!("events?limit=4&cursor={cursor}"),
                None => break,
            }
        }
        // The first search of this key was recorded (newest of all): the rest follow it.
        assert!(seen[0].starts_with("tally_"), "{seen:?}");
        assert_eq!(seen[1..], ["d", "sync", "agent-run", "c", "b", "a"]);
        let page = app.json("events?limit=2").await;
        assert_eq!(page["data"][1]["leafIndex"], 5);
        assert_eq!(page["data"][1]["metadata"]["actor_type"], "user");
        for bad in [
            "events?limit=0",
            "events?limit=1001",
            "events?actorType=robot",
            "events?from=x",
            "events?cursor=zz",
            "events?sort=asc",
        ] {
            error_of(app.get(bad).await, 400).await;
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn csv_and_jsonl_exports_carry_what_verification_needs() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        let mut formula = event("f1", 2, "space.deleted");
        formula["actor"]["name"] = json!("=cmd|' /C calc'!A0");
        formula["metadata"] = json!({"note": "a, \"quoted\" value"});
        let mut batch = events("e", 6);
        batch.as_array_mut().unwrap().push(formula);
        app.ingest(&batch).await;
        let response = app.get("export?format=csv").await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = response.text().await.unwrap();
        let mut lines: Vec<&str> = csv.lines().collect();
        // The export recorded itself (audit_log.exported) before it ran.
        let own: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("tally_")).collect();
        assert_eq!(own.len(), 1);
        assert!(own[0].contains(",audit_log.exported,api_key,"), "{}", own[0]);
        lines.retain(|l| !l.starts_with("tally_"));
        assert_eq!(lines[0], "id,leafIndex,occurredAt,action,actorType,actorId,actorName,targets,location,userAgent,metadata");
        assert_eq!(lines.len(), 8);
        assert!(lines[1].starts_with("e0,0,2026-03-01T10:00:00Z,agent.executed,user,u1,Ada Lovelace,"), "{}", lines[1]);
        assert!(lines[7].contains(",'=cmd|' /C calc'!A0,"), "{}", lines[7]);
        assert!(lines[7].contains("\"{\"\"actor_type\"\":\"\"user\"\",\"\"note\"\":\"\"a, \\\"\"quoted\\\"\" value\"\"}\""), "{}", lines[7]);
        let filtered = app.get("export?format=csv&action=space.deleted").await.text().await.unwrap();
        assert_eq!(filtered.lines().count(), 2);

        let verifier = app.verifier().await;
        let whole = app.get("export?format=jsonl").await.text().await.unwrap();
        let first: Value = serde_json::from_str(whole.lines().next().unwrap()).unwrap();
        // 7 events, and the three exports so far, each recorded before it ran.
        assert_eq!(first["checkpoint"]["treeSize"], 10);
        assert_eq!(first["checkpoint"]["origin"], ORIGIN);
        assert_eq!(first["wholeLog"], true);
        let summary = verify_export(&whole, std::slice::from_ref(&verifier), None).unwrap();
        assert!(summary.whole_log);
        assert_eq!(summary.entries, 10);
        let line: Value = serde_json::from_str(whole.lines().nth(1).unwrap()).unwrap();
        assert_eq!(line["leafIndex"], 0);
        assert!(line.get("inclusionProof").is_none());
        assert_eq!(line["event"]["id"], "e0");

        let part = app.get("export?format=jsonl&q=calc").await.text().await.unwrap();
        assert_eq!(part.lines().count(), 2);
        let line: Value = serde_json::from_str(part.lines().nth(1).unwrap()).unwrap();
        assert_eq!(line["leafIndex"], 6);
        assert!(line["inclusionProof"].is_array());
        let summary = verify_export(&part, std::slice::from_ref(&verifier), None).unwrap();
        assert!(!summary.whole_log);
        let altered = whole.replace("Mozilla/5.0", "Mozilla/6.0");
        assert!(verify_export(&altered, &[verifier], None).is_err());
        error_of(app.get("export?format=xml").await, 400).await;
        ts
    })
    .await;
}

/// Runs `tally` with these arguments: (success, stdout + stderr).
fn tally(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env_remove("TALLY_DATABASE_URL")
        .env_remove("TALLY_DATA_DIR")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn verify_passes_on_a_good_export_and_store_and_checks_a_saved_checkpoint() {
    each_store(|ts| async move {
        let app = AuditApp::spawn(&ts, Plan::Enterprise).await;
        app.ingest(&events("e", 20)).await;
        let saved = app.sign().await;
        app.ingest(&events("f", 13)).await;
        let dir = ts._dir.path();
        let export = dir.join("export.jsonl");
        std::fs::write(
            &export,
            app.get("export?format=jsonl").await.text().await.unwrap(),
        )
        .unwrap();
        let part = dir.join("part.jsonl");
        std::fs::write(
            &part,
            app.get("export?format=jsonl&from=2026-03-01T10:10:00Z")
                .await
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        let saved_file = dir.join("saved.json");
        std::fs::write(&saved_file, saved.to_string()).unwrap();
        let vkey = app.verifier().await.vkey();
        let key_file = dir.join("audit.vkey");
        std::fs::write(&key_file, format!("{vkey}\n")).unwrap();
        let (ok, out) = tally(&["audit", "verify", export.to_str().unwrap(), "--key", &vkey]);
        assert!(ok, "{out}");
        // 33 events and the export's own audit_log.exported.
        assert!(out.contains("34 entries"), "{out}");
        let (ok, out) = tally(&[
            "audit",
            "verify",
            part.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        let (ok, out) = tally(&[
            "audit",
            "verify",
            export.to_str().unwrap(),
            "--key",
            &vkey,
            "--checkpoint",
            saved_file.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        let (ok, out) = tally(&["audit", "verify", export.to_str().unwrap()]);
        assert!(!ok && out.contains("--key"), "{out}");
        let (ok, out) = tally(&[
            "--database-url",
            &ts.url,
            "audit",
            "verify",
            "--workspace",
            WS,
        ]);
        assert!(ok, "{out}");
        // and the second export's.
        assert!(out.contains("35 entries"), "{out}");
        let (ok, out) = tally(&[
            "--database-url",
            &ts.url,
            "audit",
            "verify",
            "--checkpoint",
            saved_file.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        ts
    })
    .await;
}

/// Runs SQL directly against the test's store, bypassing tally.
async fn tamper(ts: &TestStore, sql: &str) {
    match ts.url.strip_prefix("sqlite://") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(sql).unwrap();
        }
        None => {
            let (client, conn) = tokio_postgres::connect(&ts.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute(sql).await.unwrap();
        }
    }
}

/// A byte-string literal for the store's SQL dialect.
fn blob(ts: &TestStore, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if ts.url.starts_with("sqlite://") {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    }
}

/// Moves leaves `from..` by `by`, through negative indexes so keys never collide.
fn shift(ws: &str, from: u64, by: i64) -> String {
    format!(
        "UPDATE audit_entries SET leaf_index = -leaf_index - 1 WHERE workspace_id = '{ws}' AND leaf_index >= {from};
         UPDATE audit_entries SET leaf_index = -leaf_index - 1 + {by} WHERE workspace_id = '{ws}' AND leaf_index < 0;"
    )
}

#[tokio::test]
async fn verify_names_the_leaf_of_an_edited_deleted_inserted_or_moved_entry() {
    each_store(|ts| async move {
        let forged = json!({"id": "forged", "action": "space.deleted", "occurredAt": "2026-03-01T10:00:00Z",
            "actor": {"type": "user", "id": "mallory"}, "metadata": {"actor_type": "user"}});
        let bytes = canonical_bytes(&forged).unwrap();
        let (forged_bytes, forged_hash) = (blob(&ts, &bytes), blob(&ts, &leaf_hash(&bytes)));
        let cases = [
            ("edit", format!(
                "UPDATE audit_entries SET canonical = {forged_bytes}, leaf_hash = {forged_hash}, event_id = 'forged'
                 WHERE workspace_id = 'edit' AND leaf_index = 3;")),
            ("delete", "DELETE FROM audit_entries WHERE workspace_id = 'delete' AND leaf_index = 3;".to_string()),
            ("insert", format!(
                "{} INSERT INTO audit_entries (workspace_id, leaf_index, event_id, occurred_at, action, actor_type,
                    actor_kind, actor_id, actor_name, actor_email, targets_key, search_text, canonical, leaf_hash)
                 VALUES ('insert', 3, 'forged', 0, 'space.deleted', 'user', 'user', 'mallory', '', '', '', '',
                    {forged_bytes}, {forged_hash});", shift("insert", 3, 1))),
            ("reorder", 
                "UPDATE audit_entries SET leaf_index = -1 WHERE workspace_id = 'reorder' AND leaf_index = 3;
                 UPDATE audit_entries SET leaf_index = 3 WHERE workspace_id = 'reorder' AND leaf_index = 5;
                 UPDATE audit_entries SET leaf_index = 5 WHERE workspace_id = 'reorder' AND leaf_index = -1;".to_string()),
            ("append", format!(
                "INSERT INTO audit_entries (workspace_id, leaf_index, event_id, occurred_at, action, actor_type,
                    actor_kind, actor_id, actor_name, actor_email, targets_key, search_text, canonical, leaf_hash)
                 VALUES ('append', 8, 'forged', 0, 'space.deleted', 'user', 'user', 'mallory', '', '', '', '',
                    {forged_bytes}, {forged_hash});")),
        ];
        for (ws, _) in &cases {
            create_workspace(&ts.store, ws, Plan::Enterprise).await;
            let records = tally::audit::event::validate_events(
                events("e", 8).as_array().unwrap(),
                jiff::Timestamp::now().as_microsecond(),
            )
            .unwrap();
            ts.store.audit_append(ws, None, records, 0).await.unwrap();
        }
        let (ok, out) = tally(&["--database-url", &ts.url, "audit", "verify"]);
        assert!(ok, "{out}");
        for (ws, sql) in &cases {
            tamper(&ts, sql).await;
            let (ok, out) = tally(&["--database-url", &ts.url, "audit", "verify", "--workspace", ws]);
            assert!(!ok, "{ws}: {out}");
            let expected = if *ws == "append" { "leaf 8" } else { "leaf 3" };
            assert!(out.contains(expected), "{ws} on {}: {out}", ts.backend());
            if *ws == "edit" || *ws == "reorder" {
                let id = if *ws == "edit" { "event forged" } else { "event e5" };
                assert!(out.contains(id), "{ws}: {out}");
            }
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn concurrent_batches_make_one_consistent_tree() {
    each_store(|ts| async move {
        let app = std::sync::Arc::new(AuditApp::spawn(&ts, Plan::Enterprise).await);
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let app = app.clone();
                tokio::spawn(async move { app.ingest(&events(&format!("t{t}-"), 60)).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap()["accepted"], 60);
        }
        assert_eq!(ts.store.audit_tree_size(WS).await.unwrap(), 480);
        let checkpoint = app.sign().await;
        assert_eq!(checkpoint["treeSize"], 480);
        let (ok, out) = tally(&[
            "--database-url",
            &ts.url,
            "audit",
            "verify",
            "--workspace",
            WS,
        ]);
        assert!(ok, "{} {out}", ts.backend());
        assert!(out.contains("480 entries"), "{out}");
        ts
    })
    .await;
}

#[tokio::test]
async fn a_saved_checkpoint_catches_a_history_rewritten_with_the_stored_key() {
    each_store(|ts| async move {
        use tally::audit::log::{AuditLog, checkpoint_json};
        create_workspace(&ts.store, WS, Plan::Enterprise).await;
        let seed = tally::audit::signing::load_or_create(&ts._dir.path().join("k")).unwrap();
        let signer = || tally::audit::note::Signer::new(ORIGIN, seed).unwrap();
        let now = jiff::Timestamp::now().as_microsecond();
        let records = |batch: Value| {
            tally::audit::event::validate_events(batch.as_array().unwrap(), now).unwrap()
        };
        let log = AuditLog::new(ts.store.as_ref(), WS, signer());
        log.append(None, records(events("e", 8))).await.unwrap();
        let saved = ts._dir.path().join("saved.json");
        let checkpoint = checkpoint_json(&log.sign_now().await.unwrap());
        std::fs::write(&saved, checkpoint.to_string()).unwrap();
        log.append(None, records(events("f", 4))).await.unwrap();
        log.sign_now().await.unwrap();
        let with_saved = [
            "--database-url",
            &ts.url,
            "audit",
            "verify",
            "--checkpoint",
            saved.to_str().unwrap(),
        ];
        let (ok, out) = tally(&with_saved);
        assert!(ok, "{out}");
        // Whoever holds the database and the signing key rewrites the whole history coherently.
        tamper(
            &ts,
            &[
                "audit_entries",
                "audit_nodes",
                "audit_heads",
                "audit_checkpoints",
            ]
            .map(|t| format!("DELETE FROM {t} WHERE workspace_id = '{WS}';"))
            .concat(),
        )
        .await;
        log.append(None, records(events("x", 12))).await.unwrap();
        log.sign_now().await.unwrap();
        let (ok, out) = tally(&["--database-url", &ts.url, "audit", "verify"]);
        assert!(ok, "a coherent rewrite passes on its own: {out}");
        let (ok, out) = tally(&with_saved);
        assert!(!ok, "{out}");
        assert!(
            out.contains("saved checkpoint of tree size 8"),
            "{} {out}",
            ts.backend()
        );
        ts
    })
    .await;
}
