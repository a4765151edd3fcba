//! The command line: clap types whose doc comments are the help text. `main.rs` calls [`main`].

mod audit;
mod commands;
mod demo;
pub use demo::split_batch;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// tally: workspace analytics, a tamper-evident audit log and usage exports.
#[derive(Debug, Parser)]
#[command(name = "tally", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (each also a `TALLY_*` variable and a config-file key).
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// TOML configuration file (keys as in the README); also TALLY_CONFIG.
    #[arg(long, global = true, env = "TALLY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store and local files [default: tally-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// postgres://user@host/db for PostgreSQL; absent: the embedded store in the data directory.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (and console) for real.
    Serve(ServeArgs),
    /// Create a demo workspace with 90 days of generated activity, print how to reach it, and serve.
    Demo(DemoArgs),
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage members' console access.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Generate a realistic workspace, into the store or as files for the ingest API.
    Generate(GenerateArgs),
    /// Recompute a workspace's analytics rollups from its raw events and print each table's
    /// rows and SHA-256 (the same bytes as the CSV analytics export of that range); a running
    /// server rebuilds its own with POST /api/v1/w/{wId}/analytics/rebuild.
    Rebuild(RebuildArgs),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Bring the store's schema up to date and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Exit 0 when a running server answers /readyz.
    Healthcheck {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to bind, such as 0.0.0.0:8080 [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// External base URL, when behind a proxy.
    #[arg(long)]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Members of the demo workspace.
    #[arg(long, default_value_t = 300)]
    pub members: usize,
    /// Days of history.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prepare the workspace, print the access details, and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        /// Workspace id: [A-Za-z0-9][A-Za-z0-9_-]{0,63}.
        id: String,
        #[arg(long)]
        name: String,
        /// free, pro or enterprise.
        #[arg(long, default_value = "free")]
        plan: String,
        /// Default IANA timezone.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// full, pseudonymized or excluded.
        #[arg(long, default_value = "full")]
        privacy: String,
    },
    /// Change a workspace's name, plan, timezone or privacy mode.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        privacy: Option<String>,
    },
    /// List workspaces.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; its secret is printed once.
    Create {
        #[arg(long)]
        workspace: String,
        /// user, builder or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// ingest, usage_export or audit_read; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        /// RFC 3339 expiry time.
        #[arg(long)]
        expires_at: Option<String>,
        /// Print {"id", "secret"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a workspace's live keys.
    List {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key.
    Revoke {
        #[arg(long)]
        workspace: String,
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Set the console password of a member (by user id), read from a prompt or stdin.
    SetPassword {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an export offline (`tally audit verify EXPORT.jsonl --key VKEY`) or the whole
    /// store (`--data-dir DIR` or `--database-url URL`, optionally `--workspace W`): every leaf
    /// recomputed from its event's canonical bytes, the tree, and every signed checkpoint.
    /// Prints the first bad entry's leaf index and event id; exits 0 only when all verifies.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A JSONL export (GET /api/v1/w/{wId}/audit/export?format=jsonl); without it the store is checked.
    pub export: Option<PathBuf>,
    /// The log's verifier key (the vkey of GET .../audit/keys), or a file holding it; repeat for
    /// several. Required for an export; for a store it replaces the keys the store lists.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// Check only this workspace of the store.
    #[arg(long)]
    pub workspace: Option<String>,
    /// A checkpoint saved earlier (the checkpoint route's JSON, or its note): also prove the log
    /// consistent with it, so a history rewritten with the stored key is caught.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Workspace to fill; created (enterprise plan) when missing.
    #[arg(long)]
    pub workspace: String,
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// IANA timezone of the workspace's daily rhythm.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// End of the generated period (RFC 3339) [default: now].
    #[arg(long)]
    pub end: Option<String>,
    /// Write directory JSON files and events.ndjson into this directory instead of the store.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The workspace.
    #[arg(long)]
    pub workspace: String,
    /// First local date [default: 89 days before --end].
    #[arg(long)]
    pub start: Option<String>,
    /// Last local date [default: today in the zone].
    #[arg(long)]
    pub end: Option<String>,
    /// IANA timezone of the days [default: the workspace's].
    #[arg(long)]
    pub timezone: Option<String>,
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Whatever the command fails with, worded for the operator.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(cli))
}
