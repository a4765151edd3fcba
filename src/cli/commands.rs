//! What each command does. Errors are `anyhow` here, at the edge, worded for the operator.

use anyhow::{Context, anyhow, bail};
use std::io::Write;

use super::*;
use crate::access::{hash_password, mint_key};
use crate::config::{Config, Layers};
use crate::ingest::directory::DirectoryKind;
use crate::model::{Plan, Privacy, Role, Scope, Workspace, check_timezone, is_valid_workspace_id};
use crate::storage::{self, SharedStore, WorkspacePatch};
use crate::web::{self, AppState};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve(load_config(&global, Some(&args))?).await,
        Command::Demo(args) => super::demo::run(&global, args).await,
        Command::Workspace(cmd) => workspace(&open(&load_config(&global, None)?).await?, cmd).await,
        Command::Keys(cmd) => keys(&open(&load_config(&global, None)?).await?, cmd).await,
        Command::Members(cmd) => members(&open(&load_config(&global, None)?).await?, cmd).await,
        Command::Generate(args) => super::demo::generate(&load_config(&global, None)?, args).await,
        Command::Rebuild(args) => rebuild(&load_config(&global, None)?, args).await,
        Command::Audit(AuditCommand::Verify(args)) => super::audit::verify(&global, args).await,
        Command::Migrate => {
            let store = open(&load_config(&global, None)?).await?;
            println!("schema up to date ({})", store.backend());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(web::openapi_document())?);
            Ok(())
        }
        Command::Healthcheck { url } => healthcheck(&url).await,
    }
}

/// Resolves the configuration: defaults, the TOML file, `TALLY_*` variables, then flags.
pub fn load_config(global: &GlobalArgs, serve: Option<&ServeArgs>) -> anyhow::Result<Config> {
    let mut layers = Layers::defaults();
    if let Some(path) = &global.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        layers = layers.toml(&text, &path.display().to_string())?;
    }
    layers = layers.env(std::env::vars())?;
    let path_text = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    layers = layers.flags([
        ("data_dir", path_text(&global.data_dir)),
        ("database_url", global.database_url.clone()),
        ("listen", serve.and_then(|s| s.listen.clone())),
        ("public_url", serve.and_then(|s| s.public_url.clone())),
    ]);
    Ok(layers.resolve()?)
}

/// Opens the configured store.
pub async fn open(config: &Config) -> anyhow::Result<SharedStore> {
    let url = config.database_url.as_ref().map(|s| s.expose());
    Ok(storage::open(url, &config.data_dir).await?)
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init(&config);
    let store = open(&config).await?;
    serve_with(store, config).await
}

pub async fn serve_with(store: SharedStore, config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another server running there? Pick another with --listen or TALLY_LISTEN",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    // The checkpoint signing key exists from the first start, not the first audit event.
    crate::audit::signing::seed(&config)?;
    // So is the server secret that signs download links and keys pseudonyms.
    let exports = crate::usage::store::Exports::from_config(&config)?;
    let signer = tokio::spawn(crate::audit::log::sign_periodically(
        store.clone(),
        config.clone(),
    ));
    let retention = std::time::Duration::from_secs(config.export_retention_hours * 3600);
    let sweeper = tokio::spawn(sweep_exports(exports, retention));
    let state = AppState::new(store.clone(), config.clone());
    let streams = tokio::spawn(crate::streams::worker::run(
        store.clone(),
        crate::streams::worker::WorkerSettings::new(
            crate::streams::worker::replica_name(addr),
            crate::streams::seal::key(&config)?,
            config.streams_allow_private,
        ),
        state.metrics.streams.clone(),
    ));
    tracing::info!(%addr, store = store.backend(), "listening");
    let warmer = tokio::spawn(warm_analytics(state.clone()));
    let served = web::serve(listener, state).await;
    signer.abort();
    sweeper.abort();
    warmer.abort();
    streams.abort();
    served?;
    Ok(())
}

/// Loads every workspace's analytics rollups in the background after start, one at a time, so
/// the first dashboard or export does not wait for them; requests are served meanwhile.
async fn warm_analytics(state: AppState) {
    let workspaces = match state.store.workspaces().await {
        Ok(all) => all,
        Err(e) => return tracing::warn!(error = %e, "cannot list workspaces to warm analytics"),
    };
    for ws in workspaces {
        let started = std::time::Instant::now();
        match state.analytics.warm(state.store.as_ref(), &ws.id).await {
            Ok(()) => tracing::info!(
                workspace = %ws.id,
                seconds = started.elapsed().as_secs_f64(),
                "analytics rollups loaded"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "loading analytics rollups failed; the first answer retries")
            }
        }
        // The dashboard's ranges in the workspace's zone, so its first view is answered from
        // remembered days.
        for days in crate::web::console::sections::RANGES {
            let Ok(range) = crate::web::console::sections::last_days(&ws, *days) else {
                break;
            };
            let parts = crate::analytics::engine::Parts::ALL;
            if let Err(e) = state
                .analytics
                .answers(state.store.as_ref(), &ws.id, &range, parts)
                .await
            {
                tracing::warn!(error = %e, "computing the dashboard's ranges failed");
                break;
            }
        }
    }
}

/// Rebuilds a workspace's rollups from raw events and prints each table's digest.
async fn rebuild(config: &Config, args: super::RebuildArgs) -> anyhow::Result<()> {
    use crate::analytics::{Query, Table, format, service};
    let store = open(config).await?;
    let ws = store.workspace(&args.workspace).await?.ok_or_else(|| {
        anyhow!(
            "no workspace {:?}: see `tally workspace list`",
            args.workspace
        )
    })?;
    let zone = args.timezone.as_deref().unwrap_or(&ws.timezone);
    let tz = crate::model::check_timezone(zone).map_err(|e| anyhow!("--timezone {e}"))?;
    let date = |flag: &str, text: &str| -> anyhow::Result<jiff::civil::Date> {
        text.parse()
            .map_err(|e| anyhow!("--{flag} {text:?} is not a date YYYY-MM-DD: {e}"))
    };
    let end = match &args.end {
        Some(text) => date("end", text)?,
        None => jiff::Timestamp::now().to_zoned(tz.clone()).date(),
    };
    let start = match &args.start {
        Some(text) => date("start", text)?,
        None => end.checked_sub(jiff::Span::new().days(89))?,
    };
    anyhow::ensure!(start <= end, "--start must not be after --end");
    let policy = crate::privacy::Policy::of(&ws, config)?;
    let engine = service::Engine::default();
    let started = std::time::Instant::now();
    let seq = engine.rebuild(store.as_ref(), &ws.id).await?;
    eprintln!(
        "rollups of {} rebuilt from raw events (ingest sequence {seq}) in {:.1} s",
        ws.id,
        started.elapsed().as_secs_f64()
    );
    let query = Query::new(tz, start, end);
    println!("{start}..{end} in {zone}:");
    for table in Table::ALL.iter().filter(|t| **t != Table::Messages) {
        if table.is_user_level() && policy.admit(table.name()).is_err() {
            println!("  {:<14} withheld (privacy excluded)", table.name());
            continue;
        }
        let rows = service::rows(&engine, store.as_ref(), &ws.id, &query, *table, &policy).await?;
        let csv = format::csv(table.columns(), &rows);
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(csv.as_bytes()));
        println!(
            "  {:<14} {:>8} rows  sha256 {digest}",
            table.name(),
            rows.len()
        );
    }
    Ok(())
}

/// Deletes usage export files past their retention, every ten minutes.
async fn sweep_exports(exports: crate::usage::store::Exports, retention: std::time::Duration) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let deleted = exports.sweep(retention).await;
        if deleted > 0 {
            tracing::info!(deleted, "expired usage export files deleted");
        }
    }
}

fn word<T: std::str::FromStr<Err = String>>(flag: &str, value: &str) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|e| anyhow!("--{flag} {value:?}: {e}"))
}

async fn workspace(store: &SharedStore, cmd: WorkspaceCommand) -> anyhow::Result<()> {
    match cmd {
        WorkspaceCommand::Create {
            id,
            name,
            plan,
            timezone,
            privacy,
        } => {
            if !is_valid_workspace_id(&id) {
                bail!(
                    "workspace id {id:?} must be 1 to 64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit"
                );
            }
            check_timezone(&timezone).map_err(|e| anyhow!("--timezone: {e}"))?;
            let ws = Workspace {
                id,
                name,
                plan: word::<Plan>("plan", &plan)?,
                timezone,
                privacy: word::<Privacy>("privacy", &privacy)?,
                created_at: jiff::Timestamp::now(),
            };
            store.create_workspace(&ws).await?;
            println!(
                "created workspace {} ({} plan, {})",
                ws.id, ws.plan, ws.timezone
            );
        }
        WorkspaceCommand::Update {
            id,
            name,
            plan,
            timezone,
            privacy,
        } => {
            if let Some(tz) = &timezone {
                check_timezone(tz).map_err(|e| anyhow!("--timezone: {e}"))?;
            }
            let patch = WorkspacePatch {
                name,
                plan: plan.map(|p| word("plan", &p)).transpose()?,
                timezone,
                privacy: privacy.map(|p| word("privacy", &p)).transpose()?,
            };
            let ws = store
                .update_workspace(&id, &patch)
                .await?
                .ok_or_else(|| anyhow!("no workspace {id:?}: see `tally workspace list`"))?;
            println!(
                "updated workspace {} ({} plan, {}, privacy {})",
                ws.id, ws.plan, ws.timezone, ws.privacy
            );
        }
        WorkspaceCommand::List { json } => {
            let list = store.workspaces().await?;
            if json {
                let rows: Vec<_> = list.iter().map(web::settings_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for w in list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        w.id, w.plan, w.timezone, w.privacy, w.name
                    );
                }
            }
        }
    }
    Ok(())
}

async fn require_workspace(store: &SharedStore, id: &str) -> anyhow::Result<Workspace> {
    store.workspace(id).await?.ok_or_else(|| {
        anyhow!("no workspace {id:?}: create it with `tally workspace create {id} --name …`")
    })
}

async fn keys(store: &SharedStore, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            workspace,
            role,
            scopes,
            name,
            expires_at,
            json,
        } => {
            require_workspace(store, &workspace).await?;
            let role: Role = word("role", &role)?;
            let scopes = scopes
                .iter()
                .map(|s| word::<Scope>("scope", s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let expires_at = expires_at
                .map(|t| t.parse::<jiff::Timestamp>().map(|t| t.as_microsecond()))
                .transpose()
                .map_err(|e| anyhow!("--expires-at: {e}"))?;
            let now = jiff::Timestamp::now().as_microsecond();
            let minted = mint_key(&workspace, &name, role, scopes, expires_at, now)?;
            store.create_key(&minted.key, &minted.secret_hash).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": minted.key.id, "secret": minted.secret})
                );
            } else {
                println!("created key {} (role {})", minted.key.id, minted.key.role);
                println!("secret: {}", minted.secret);
                println!("store it now: it is not shown again");
            }
        }
        KeysCommand::List { workspace, json } => {
            require_workspace(store, &workspace).await?;
            let keys = store.keys(&workspace).await?;
            if json {
                let rows: Vec<_> = keys.iter().map(web::key_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for k in keys {
                    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                    println!("{}\t{}\t{}\t{}", k.id, k.role, scopes.join(","), k.name);
                }
            }
        }
        KeysCommand::Revoke { workspace, key_id } => {
            let now = jiff::Timestamp::now().as_microsecond();
            if !store.revoke_key(&workspace, &key_id, now).await? {
                bail!(
                    "no live key {key_id:?} in workspace {workspace:?}: see `tally keys list --workspace {workspace}`"
                );
            }
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

async fn members(store: &SharedStore, cmd: MembersCommand) -> anyhow::Result<()> {
    let MembersCommand::SetPassword {
        workspace,
        user,
        password_stdin,
    } = cmd;
    require_workspace(store, &workspace).await?;
    let members = store.directory(&workspace, DirectoryKind::Members).await?;
    let member = members
        .iter()
        .find(|m| m.id == user)
        .ok_or_else(|| anyhow!("no member {user:?} in workspace {workspace:?}: upsert it with PUT /api/v1/w/{workspace}/members first"))?;
    let email = member
        .text("email")
        .ok_or_else(|| anyhow!("member {user:?} has no email"))?
        .to_string();
    if !password_stdin {
        eprint!("new password for {email}: ");
        std::io::stderr().flush()?;
    }
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    set_password(store, &email, password).await?;
    println!("password set for {email}");
    Ok(())
}

pub async fn set_password(store: &SharedStore, email: &str, password: &str) -> anyhow::Result<()> {
    let hash = hash_password(password).map_err(|e| anyhow!("cannot hash the password: {e}"))?;
    let now = jiff::Timestamp::now().as_microsecond();
    store.set_password_hash(email, &hash, now).await?;
    Ok(())
}

async fn healthcheck(url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must start with http://"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot connect to {host}"))?;
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer.lines().next().unwrap_or_default();
    if status.contains(" 200 ") {
        println!("ready");
        Ok(())
    } else {
        bail!("not ready: {status}")
    }
}
