//! One delivery attempt per batch, per kind: the HTTP sinks (webhook, Splunk HEC, Datadog
//! intake) through one `reqwest` client, which honours `HTTPS_PROXY`; S3 and GCS through
//! `object_store`. Each attempt answers a [`Verdict`](super::retry::Verdict) with a reason an
//! admin can read; nothing here retries, the worker does.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::Kind;
use super::config::Settings;
use super::record::{self, Item, SplunkFields};
use super::retry::{Verdict, classify};
use super::sign;

/// How long one request may take before it counts as a timeout (retried).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A stream's destination, ready to send to.
pub enum Sink {
    Webhook {
        url: String,
        secret: Vec<u8>,
    },
    Splunk(super::splunk::Hec),
    Datadog {
        url: String,
        api_key: String,
    },
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: Option<String>,
    },
}

/// An attempt's verdict and, when it did not deliver, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub verdict: Verdict,
    pub reason: Option<String>,
}

impl Attempt {
    pub(super) fn delivered() -> Self {
        Attempt {
            verdict: Verdict::Delivered,
            reason: None,
        }
    }

    pub(super) fn failed(verdict: Verdict, reason: String) -> Self {
        Attempt {
            verdict,
            reason: Some(reason),
        }
    }
}

/// The HTTP client every stream shares: a request taking longer than `timeout` fails (and is
/// retried); no redirects (a redirect could lead a delivery to an address the destination
/// check refused); proxies from the environment. Unless `allow_private`, names resolve to
/// public addresses only, except through a proxy, whose own name is the operator's to choose
/// and whose egress policy then applies.
///
/// # Errors
/// When the TLS backend cannot start.
pub fn http_client(timeout: Duration, allow_private: bool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")));
    let proxied = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if !allow_private && !proxied {
        builder = builder.dns_resolver(std::sync::Arc::new(super::resolve::PublicOnly));
    }
    builder.build().map_err(|e| e.to_string())
}

impl Sink {
    /// The object prefix of an object store sink.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            Sink::Object { prefix, .. } => prefix.as_deref(),
            _ => None,
        }
    }

    /// The sink a stream's settings describe.
    ///
    /// # Errors
    /// A reason when the settings cannot make a sink (an object store refusing its options).
    pub fn new(kind: Kind, s: &Settings) -> Result<Sink, String> {
        let text = |name: &str| s.text(name).unwrap_or_default().to_string();
        Ok(match kind {
            Kind::Https => Sink::Webhook {
                url: text("url"),
                secret: text("secret").into_bytes(),
            },
            Kind::Splunk => Sink::Splunk(super::splunk::Hec::new(
                text("url"),
                text("token"),
                SplunkFields {
                    index: s.text("index").map(str::to_string),
                    sourcetype: s.text("sourcetype").map(str::to_string),
                },
            )),
            Kind::Datadog => {
                let base = s
                    .text("url")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("https://http-intake.logs.{}", text("site")));
                Sink::Datadog {
                    url: format!("{base}/api/v2/logs"),
                    api_key: text("apiKey"),
                }
            }
            Kind::S3 => Sink::Object {
                store: s3(s)?,
                prefix: s.text("prefix").map(str::to_string),
            },
            Kind::Gcs => Sink::Object {
                store: gcs(s)?,
                prefix: s.text("prefix").map(str::to_string),
            },
        })
    }

    /// Sends one batch; an object store stores it as `object_name`.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        object_name: &str,
        items: &[Item],
    ) -> Attempt {
        match self {
            Sink::Webhook { url, secret } => {
                let body = record::webhook_body(items);
                let t = jiff::Timestamp::now().as_second();
                let request = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header(sign::HEADER, sign::signature(secret, t, &body))
                    .body(body);
                post(request).await
            }
            Sink::Splunk(hec) => hec.send(client, items).await,
            Sink::Datadog { url, api_key } => {
                for body in record::datadog_bodies(items) {
                    let request = client
                        .post(url)
                        .header("DD-API-KEY", api_key)
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(record::gzip(&body));
                    let attempt = post(request).await;
                    if attempt.verdict != Verdict::Delivered {
                        return attempt;
                    }
                }
                Attempt::delivered()
            }
            Sink::Object { store, .. } => {
                let bytes = record::jsonl_gz(items);
                match store
                    .put(&ObjectPath::from(object_name), bytes.into())
                    .await
                {
                    Ok(_) => Attempt::delivered(),
                    Err(e) => object_failure(e),
                }
            }
        }
    }
}

async fn post(request: reqwest::RequestBuilder) -> Attempt {
    match post_response(request).await {
        Ok(_) => Attempt::delivered(),
        Err(attempt) => attempt,
    }
}

/// Sends a request: the response when it succeeded, else the failed attempt.
pub(super) async fn post_response(
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, Attempt> {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let verdict = classify(status, retry_after.as_deref(), jiff::Timestamp::now());
            if verdict == Verdict::Delivered {
                return Ok(response);
            }
            let body: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            Err(Attempt::failed(
                verdict,
                format!("the receiver answered {status}: {}", body.trim()),
            ))
        }
        // Timeouts, refused or dropped connections: all worth another try.
        Err(e) => Err(Attempt::failed(
            Verdict::Retry { after: None },
            format!("cannot reach the receiver: {}", error_chain(&e)),
        )),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn object_failure(e: object_store::Error) -> Attempt {
    let reason = error_chain(&e);
    // object_store reads an ETag after a successful PUT; GCS emulators answer 200 without
    // one. The store accepted the object, so the batch is delivered.
    if reason.contains("ETag Header missing from response") {
        return Attempt::delivered();
    }
    let verdict = match &e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::NotFound { .. }
        | object_store::Error::NotSupported { .. } => Verdict::Permanent,
        _ => Verdict::Retry { after: None },
    };
    Attempt::failed(
        verdict,
        format!("the object store refused the object: {reason}"),
    )
}

/// Few retries inside `object_store`: the worker retries, and shows `failing` meanwhile.
fn object_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 1,
        retry_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn object_client(endpoint: Option<&str>) -> object_store::ClientOptions {
    object_store::ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
}

fn s3(s: &Settings) -> Result<Arc<dyn ObjectStore>, String> {
    let endpoint = s.text("endpoint");
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(s.text("bucket").unwrap_or_default())
        .with_region(s.text("region").unwrap_or_default())
        .with_access_key_id(s.text("accessKeyId").unwrap_or_default())
        .with_secret_access_key(s.text("secretAccessKey").unwrap_or_default())
        .with_retry(object_retry())
        .with_client_options(object_client(endpoint));
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}

fn gcs(s: &Settings) -> Result<Arc<dyn ObjectStore>, String> {
    let endpoint = s.text("endpoint");
    let mut builder = object_store::gcp::GoogleCloudStorageBuilder::new()
        .with_bucket_name(s.text("bucket").unwrap_or_default())
        .with_retry(object_retry())
        .with_client_options(object_client(endpoint));
    // object_store takes a base URL only from service account credentials; an endpoint
    // without credentials talks to an emulator anonymously.
    let key = match (s.text("credentialsJson"), endpoint) {
        (Some(json), None) => Some(json.to_string()),
        (Some(json), Some(endpoint)) => {
            let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
            value["gcs_base_url"] = endpoint.into();
            Some(value.to_string())
        }
        (None, Some(endpoint)) => Some(
            serde_json::json!({"private_key": "", "private_key_id": "", "client_email": "", "gcs_base_url": endpoint, "disable_oauth": true})
                .to_string(),
        ),
        (None, None) => None,
    };
    if let Some(key) = key {
        builder = builder.with_service_account_key(key);
    }
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}
