//! Log streams to object stores, on both stores: gzip JSONL objects named by date and leaves
//! in an S3 bucket (moto) and a GCS bucket (gcp-storage-emulator), every record once in leaf
//! order; a missing bucket stops the stream visibly until it is resumed.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use serde_json::{Value, json};

use crate::emulators;
use crate::receivers::assert_in_order_without_gaps;
use crate::stream_delivery::{ingest_audit, start_worker};
use crate::streams::{call, create_stream, json_of, spawn};
use crate::support::*;

const PREFIX: &str = "siem/tally";

fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Checks an object's name against the leaves it holds, and answers its records.
fn check_object(name: &str, records: Vec<Value>) -> Vec<Value> {
    let date = jiff::Timestamp::now().strftime("%Y/%m/%d").to_string();
    let dir = format!("{PREFIX}/{WS}/{date}/");
    assert!(name.starts_with(&dir), "{name} is under {dir}");
    let file = name.trim_start_matches(&dir);
    let leaves: Vec<u64> = records
        .iter()
        .filter_map(|r| r["leafIndex"].as_u64())
        .collect();
    if let (Some(first), Some(last)) = (leaves.first(), leaves.last()) {
        assert_eq!(file, format!("{first:020}-{last:020}.jsonl.gz"));
    }
    records
}

/// Every record in the objects, ordered by object name (names sort by first leaf).
fn leaves_of(mut objects: Vec<(String, Vec<Value>)>) -> Vec<u64> {
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
        .into_iter()
        .flat_map(|(name, records)| check_object(&name, records))
        .filter_map(|r| r["leafIndex"].as_u64())
        .collect()
}

async fn s3_objects(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<Value>)> {
    let listed: Vec<_> = store.list(Some(&PREFIX.into())).collect().await;
    let mut out = Vec::new();
    for meta in listed {
        let meta = meta.unwrap();
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location.to_string(), gunzip_lines(&bytes)));
    }
    out
}

async fn gcs_objects(endpoint: &str, bucket: &str) -> Vec<(String, Vec<Value>)> {
    let client = reqwest::Client::new();
    let listed: Value = client
        .get(format!(
            "{endpoint}/storage/v1/b/{bucket}/o?prefix={PREFIX}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for item in listed["items"].as_array().cloned().unwrap_or_default() {
        let name = item["name"].as_str().unwrap().to_string();
        let bytes = client
            .get(format!("{endpoint}/{bucket}/{name}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((name, gunzip_lines(&bytes)));
    }
    out
}

/// Polls the objects until they hold every leaf of the log.
async fn until_complete<F, Fut>(ts: &TestStore, mut read: F) -> Vec<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<(String, Vec<Value>)>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = ts.store.audit_tree_size(WS).await.unwrap();
        let leaves = leaves_of(read().await);
        if leaves.iter().max().is_some_and(|&m| m + 1 >= n) {
            assert_in_order_without_gaps(&leaves, n);
            return leaves;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "objects hold {} of {n} leaves",
            leaves.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn s3_objects_hold_every_record_and_a_missing_bucket_stops_the_stream() {
    let Some(moto) = emulators::moto().await else {
        return;
    };
    each_store(|ts| {
        let endpoint = moto.endpoint.clone();
        async move {
            let bucket = format!("siem-{}", ts.backend());
            let app = spawn(&ts).await;
            let _worker = start_worker(&ts);
            let config = json!({"bucket": bucket, "prefix": PREFIX, "region": "us-east-1", "endpoint": endpoint,
                                "accessKeyId": "testing", "secretAccessKey": "testing-secret"});
            let created = json_of(create_stream(&app, json!({"kind": "s3", "config": config})).await, 201).await;
            assert!(!created.to_string().contains("testing-secret"));
            let id = created["id"].as_str().unwrap().to_string();
            ingest_audit(&app, "a", 40).await;
            let mut stopped = Value::Null;
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while stopped["state"] != "stopped" {
                assert!(std::time::Instant::now() < deadline, "{stopped}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                stopped = json_of(call(&app, reqwest::Method::GET, &format!("/{id}"), None).await, 200).await["status"].clone();
            }
            assert!(stopped["lastError"].as_str().unwrap().contains("object store"), "{stopped}");
            emulators::create_bucket(&endpoint, &bucket).await;
            json_of(call(&app, reqwest::Method::POST, &format!("/{id}/resume"), None).await, 200).await;
            ingest_audit(&app, "b", 40).await;
            let store: Arc<dyn ObjectStore> = Arc::new(
                AmazonS3Builder::new()
                    .with_bucket_name(&bucket)
                    .with_region("us-east-1")
                    .with_endpoint(&endpoint)
                    .with_allow_http(true)
                    .with_access_key_id("testing")
                    .with_secret_access_key("testing-secret")
                    .build()
                    .unwrap(),
            );
            let leaves = until_complete(&ts, || s3_objects(&store)).await;
            assert_eq!(leaves, (0..leaves.len() as u64).collect::<Vec<_>>(), "once each");
            let tested = json_of(call(&app, reqwest::Method::POST, &format!("/{id}/test"), None).await, 200).await;
            assert_eq!(tested, json!({"delivered": true, "error": null}));
            let test_prefix = format!("{PREFIX}/{WS}/test").into();
            let listed: Vec<_> = store.list(Some(&test_prefix)).collect().await;
            assert_eq!(listed.len(), 1, "the test record's object");
            ts
        }
    })
    .await;
}

#[tokio::test]
async fn gcs_objects_hold_every_record_in_order() {
    let Some(gcs) = emulators::gcs().await else {
        return;
    };
    each_store(|ts| {
        let endpoint = gcs.endpoint.clone();
        async move {
            // The emulator matches bucket names before decoding the path, in which object_store
            // percent-encodes all but letters and digits.
            let bucket = format!("siem{}", ts.backend());
            emulators::create_gcs_bucket(&endpoint, &bucket).await;
            let app = spawn(&ts).await;
            let _worker = start_worker(&ts);
            let config = json!({"bucket": bucket, "prefix": PREFIX, "endpoint": endpoint});
            json_of(
                create_stream(&app, json!({"kind": "gcs", "config": config})).await,
                201,
            )
            .await;
            ingest_audit(&app, "a", 60).await;
            let leaves = until_complete(&ts, || gcs_objects(&endpoint, &bucket)).await;
            assert_eq!(
                leaves,
                (0..leaves.len() as u64).collect::<Vec<_>>(),
                "once each"
            );
            ts
        }
    })
    .await;
}
