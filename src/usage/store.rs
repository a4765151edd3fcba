//! Where usage export files go: the export directory ([`ExportFiles`], the default, links
//! signed by tally), or an S3 bucket when `export_s3_bucket` is set (through `object_store`,
//! links presigned by S3 with the configured credentials, so downloads never pass through
//! tally). Either way a file appears whole or not at all, its link serves that one file for
//! `export_link_ttl_seconds`, and files older than `export_retention_hours` are deleted.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload};

use super::files::ExportFiles;
use crate::analytics::format::{csv_record, csv_row};
use crate::analytics::rows::Cell;
use crate::config::Config;

/// Why an export could not be stored or linked.
#[derive(Debug, thiserror::Error)]
pub enum ExportsError {
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    #[error("the export store is misconfigured: {0}")]
    Config(String),
    #[error("the export directory failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the export bucket failed: {0}")]
    Bucket(#[from] object_store::Error),
}

/// The configured export store.
#[derive(Clone)]
pub enum Exports {
    Local(ExportFiles),
    S3(S3Exports),
}

/// An S3 bucket (or an S3-compatible server at `export_s3_endpoint`) and a key prefix.
#[derive(Clone)]
pub struct S3Exports {
    store: Arc<AmazonS3>,
    prefix: String,
}

/// Text of a CSV in chunks of about 64 KiB, header first.
pub fn csv_chunks<'a>(
    columns: &'a [&'a str],
    rows: &'a [Vec<Cell>],
) -> impl Iterator<Item = String> + 'a {
    let mut header = String::new();
    csv_record(&mut header, columns.iter().copied());
    let mut rows = rows.iter().peekable();
    std::iter::once(header).chain(std::iter::from_fn(move || {
        rows.peek()?;
        let mut chunk = String::with_capacity(1 << 16);
        while chunk.len() < 1 << 16 {
            match rows.next() {
                Some(row) => csv_row(&mut chunk, row),
                None => break,
            }
        }
        Some(chunk)
    }))
}

impl Exports {
    /// The store a configuration names.
    ///
    /// # Errors
    /// When the server secret cannot be had or the S3 settings are incomplete.
    pub fn from_config(config: &Config) -> Result<Self, ExportsError> {
        let Some(bucket) = &config.export_s3_bucket else {
            return Ok(Exports::Local(ExportFiles::from_config(config)?));
        };
        let (Some(id), Some(secret)) = (
            &config.export_s3_access_key_id,
            &config.export_s3_secret_access_key,
        ) else {
            return Err(ExportsError::Config(
                "export_s3_bucket needs export_s3_access_key_id and export_s3_secret_access_key (TALLY_EXPORT_S3_…), which presign download links".into(),
            ));
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&config.export_s3_region)
            .with_access_key_id(id)
            .with_secret_access_key(secret.expose());
        if let Some(endpoint) = &config.export_s3_endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let prefix = config
            .export_s3_prefix
            .as_deref()
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        Ok(Exports::S3(S3Exports {
            store: Arc::new(builder.build()?),
            prefix,
        }))
    }

    /// Writes a CSV of `rows` at `path` (`<dataType>-usage/<wId>/<name>.csv`).
    ///
    /// # Errors
    /// When the directory or bucket fails; nothing partial is left behind.
    pub async fn write(
        &self,
        path: &str,
        columns: &'static [&'static str],
        rows: Vec<Vec<Cell>>,
    ) -> Result<(), ExportsError> {
        match self {
            Exports::Local(files) => {
                let (files, path) = (files.clone(), path.to_string());
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let mut writer = files.create(&path)?;
                    for chunk in csv_chunks(columns, &rows) {
                        writer.write(chunk.as_bytes())?;
                    }
                    writer.commit()
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
                Ok(())
            }
            Exports::S3(s3) => {
                let mut body = Vec::new();
                for chunk in csv_chunks(columns, &rows) {
                    body.extend_from_slice(chunk.as_bytes());
                }
                s3.store.put(&s3.key(path), PutPayload::from(body)).await?;
                Ok(())
            }
        }
    }

    /// A link that serves `path` for `ttl`; `base` is tally's public base URL.
    ///
    /// # Errors
    /// When S3 cannot presign.
    pub async fn link(
        &self,
        base: &str,
        path: &str,
        ttl: Duration,
    ) -> Result<String, ExportsError> {
        match self {
            Exports::Local(files) => {
                let expires = jiff::Timestamp::now().as_second() + ttl.as_secs() as i64;
                Ok(format!(
                    "{base}/api/v1/export/file?{}",
                    files.link_query(path, expires)
                ))
            }
            Exports::S3(s3) => {
                let url = s3
                    .store
                    .signed_url(axum::http::Method::GET, &s3.key(path), ttl)
                    .await?;
                Ok(url.to_string())
            }
        }
    }

    /// Deletes files older than `max_age`; answers how many.
    pub async fn sweep(&self, max_age: Duration) -> usize {
        match self {
            Exports::Local(files) => {
                let files = files.clone();
                tokio::task::spawn_blocking(move || files.sweep(max_age))
                    .await
                    .unwrap_or(0)
            }
            Exports::S3(s3) => s3.sweep(max_age).await,
        }
    }
}

impl S3Exports {
    fn key(&self, path: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(path)
        } else {
            ObjectPath::from(format!("{}/{path}", self.prefix))
        }
    }

    async fn sweep(&self, max_age: Duration) -> usize {
        let cutoff = chrono_cutoff(max_age);
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        let mut deleted = 0;
        while let Some(item) = listing.next().await {
            match item {
                Ok(meta) if meta.last_modified.timestamp() <= cutoff => {
                    if self.store.delete(&meta.location).await.is_ok() {
                        deleted += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "listing the export bucket failed; the sweep runs again");
                    break;
                }
            }
        }
        deleted
    }
}

/// The unix second before which files are old.
fn chrono_cutoff(max_age: Duration) -> i64 {
    jiff::Timestamp::now().as_second() - max_age.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_chunks_hold_the_header_and_every_row_once() {
        let rows: Vec<Vec<Cell>> = (0..20_000)
            .map(|i| vec![Cell::Int(i), Cell::Text(format!("name {i}"))])
            .collect();
        let chunks: Vec<String> = csv_chunks(&["n", "name"], &rows).collect();
        assert!(chunks.len() > 2, "large outputs come in several chunks");
        let text = chunks.concat();
        assert!(text.starts_with("n,name\r\n0,name 0\r\n"));
        assert_eq!(text.lines().count(), 20_001);
        let empty: Vec<String> = csv_chunks(&["n"], &[]).collect();
        assert_eq!(empty, vec!["n\r\n".to_string()]);
    }
}
