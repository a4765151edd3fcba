//! Real S3-compatible and other receivers started by the tests: `moto_server` (PyPI
//! `moto[server]`) for S3 and `gcp-storage-emulator` (PyPI) for Google Cloud Storage. Without
//! them a test says it skipped; with `TALLY_REQUIRE_EMULATORS=1` (as in CI) a missing emulator
//! fails the test instead.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running emulator, stopped when dropped.
pub struct Emulator {
    child: Child,
    pub endpoint: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn required() -> bool {
    std::env::var("TALLY_REQUIRE_EMULATORS").is_ok_and(|v| v == "1")
}

/// Starts `moto_server` on a free port; `None` (with a notice) when it is not installed.
pub async fn moto() -> Option<Emulator> {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(mut child) => {
            // A missing module exits at once.
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(Some(status)) = child.try_wait() {
                let reason = format!("python3 -m moto.server exited with {status}");
                assert!(
                    !required(),
                    "moto is required (TALLY_REQUIRE_EMULATORS=1): {reason}; pip install 'moto[server]'"
                );
                eprintln!("skipping the S3 variant: {reason}; pip install 'moto[server]'");
                return None;
            }
            child
        }
        Err(e) => {
            assert!(
                !required(),
                "moto_server is required (TALLY_REQUIRE_EMULATORS=1) but cannot start: {e}; pip install 'moto[server]'"
            );
            eprintln!(
                "skipping the S3 variant: moto_server cannot start ({e}); pip install 'moto[server]'"
            );
            return None;
        }
    };
    let emulator = Emulator {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(&emulator.endpoint).send().await.is_ok() {
            return Some(emulator);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "moto_server did not answer on {} within 10 s",
        emulator.endpoint
    );
}

/// Creates a bucket on an S3 emulator (moto accepts unsigned requests).
pub async fn create_bucket(endpoint: &str, bucket: &str) {
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// Starts `gcp-storage-emulator` (in memory) on a free port; `None` (with a notice) when it is
/// not installed.
pub async fn gcs() -> Option<Emulator> {
    let port = free_port();
    let spawned = Command::new("gcp-storage-emulator")
        .args([
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--in-memory",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let hint = "pip install gcp-storage-emulator";
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(
                !required(),
                "gcp-storage-emulator is required (TALLY_REQUIRE_EMULATORS=1) but cannot start: {e}; {hint}"
            );
            eprintln!("skipping the GCS variant: gcp-storage-emulator cannot start ({e}); {hint}");
            return None;
        }
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(&endpoint).send().await.is_ok() {
            return Some(Emulator { child, endpoint });
        }
        if let Ok(Some(status)) = child.try_wait() {
            assert!(
                !required(),
                "gcp-storage-emulator is required (TALLY_REQUIRE_EMULATORS=1) but exited with {status}; {hint}"
            );
            eprintln!(
                "skipping the GCS variant: gcp-storage-emulator exited with {status}; {hint}"
            );
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gcp-storage-emulator did not answer on {endpoint} within 10 s");
}

/// Creates a bucket on the GCS emulator through the JSON API.
pub async fn create_gcs_bucket(endpoint: &str, bucket: &str) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/storage/v1/b"))
        .json(&serde_json::json!({"name": bucket}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}
