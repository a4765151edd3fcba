//! `tally demo` and `tally generate`: fill a workspace with realistic generated activity.

use anyhow::{Context, anyhow};
use std::io::{IsTerminal, Write};
use std::time::Instant;

use super::commands::{load_config, open, serve_with, set_password};
use super::{DemoArgs, GenerateArgs, GlobalArgs};
use crate::access::mint_key;
use crate::config::Config;
use crate::generate::{GenerateOptions, Generator, batch_to_wire};
use crate::ingest::directory::{DirectoryKind, validate_records};
use crate::model::{Plan, Privacy, Role, Scope, Workspace, check_timezone};
use crate::storage::{SharedStore, UpsertOutcome};

const DEMO_WORKSPACE: &str = "demo";
const DEMO_TIMEZONE: &str = "Europe/Paris";
const DEMO_PASSWORD: &str = "tally-demo-admin";

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<()> {
    let mut global = global.clone();
    if global.data_dir.is_none() && std::env::var_os("TALLY_DATA_DIR").is_none() {
        global.data_dir = Some("tally-demo-data".into());
    }
    let config = load_config(&global, Some(&args.serve))?;
    crate::telemetry::init(&config);
    let store = open(&config).await?;
    if store.workspace(DEMO_WORKSPACE).await?.is_none() {
        let ws = Workspace {
            id: DEMO_WORKSPACE.into(),
            name: "Demo Workspace".into(),
            plan: Plan::Enterprise,
            timezone: DEMO_TIMEZONE.into(),
            privacy: Privacy::Full,
            created_at: jiff::Timestamp::now()
                - jiff::SignedDuration::from_hours(24 * i64::from(args.days) + 24),
        };
        store.create_workspace(&ws).await?;
        let options = GenerateOptions::new(
            args.seed,
            args.members,
            args.days,
            jiff::Timestamp::now(),
            DEMO_TIMEZONE,
        );
        fill(&store, DEMO_WORKSPACE, options).await?;
        let events = fill_audit(&store, &config, args.days, args.seed).await?;
        eprintln!("audit log: {events} events, checkpoint signed");
        demo_stream(&store, &config).await?;
    } else {
        eprintln!(
            "reusing the demo workspace in {}",
            config.data_dir.display()
        );
    }
    let admin_email = first_admin_email(&store).await?;
    set_password(&store, &admin_email, DEMO_PASSWORD).await?;
    let now = jiff::Timestamp::now().as_microsecond();
    let scopes = vec![Scope::Ingest, Scope::UsageExport, Scope::AuditRead];
    let minted = mint_key(DEMO_WORKSPACE, "demo", Role::Admin, scopes, None, now)?;
    store.create_key(&minted.key, &minted.secret_hash).await?;
    let base = config.base_url();
    println!();
    println!(
        "tally demo is ready ({} store in {})",
        store.backend(),
        config.data_dir.display()
    );
    println!("  console:   {base}/w/{DEMO_WORKSPACE}/analytics");
    println!("  login:     {admin_email} / {DEMO_PASSWORD}");
    println!(
        "  API key:   {}  (role admin; scopes ingest, usage_export, audit_read)",
        minted.secret
    );
    println!(
        "  try:       curl -H 'Authorization: Bearer {}' {base}/api/v1/w/{DEMO_WORKSPACE}/settings",
        minted.secret
    );
    println!("  API docs:  {base}/api/v1/openapi.json");
    println!();
    std::io::stdout().flush()?;
    if args.no_serve {
        return Ok(());
    }
    serve_with(store, config).await
}

/// A paused webhook log stream, so the API and the console show one; resuming it would send
/// the whole log to an address that does not answer, and show it failing.
async fn demo_stream(store: &SharedStore, config: &Config) -> anyhow::Result<()> {
    use crate::streams::{config::check, seal};
    let raw = serde_json::json!({"url": "https://siem.example.com/tally", "secret": crate::access::random_hex(16)?});
    let settings = check(
        crate::streams::Kind::Https,
        raw.as_object().unwrap_or(&Default::default()),
        false,
    )
    .map_err(|e| anyhow!("the demo stream is invalid: {e:?}"))?;
    let id = "ls_demo";
    let now = jiff::Timestamp::now().as_microsecond();
    let stream = crate::storage::streams::StoredStream {
        workspace_id: DEMO_WORKSPACE.into(),
        id: id.into(),
        kind: "https".into(),
        config: serde_json::Value::Object(settings.public.clone()).to_string(),
        secrets: seal::seal_map(&seal::key(config)?, DEMO_WORKSPACE, id, &settings.secrets)?,
        state: crate::streams::State::Paused.as_str().into(),
        cursor: 0,
        checkpoint_cursor: 0,
        delivered: 0,
        last_success_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    store.stream_create(&stream).await?;
    Ok(())
}

/// Appends the demo's audit trail through the log, so checkpoints are signed as in production.
async fn fill_audit(
    store: &SharedStore,
    config: &Config,
    days: u32,
    seed: u64,
) -> anyhow::Result<u64> {
    use crate::audit::{demo, event::validate_events, log::AuditLog, signing};
    let members = store
        .directory(DEMO_WORKSPACE, DirectoryKind::Members)
        .await?;
    let people: Vec<demo::Person> = members
        .iter()
        .filter(|m| m.text("status") == Some("active"))
        .filter_map(|m| {
            Some(demo::Person {
                id: m.id.clone(),
                email: m.text("email")?.to_string(),
                name: m.text("name").unwrap_or(&m.id).to_string(),
                admin: m.text("role") == Some("admin"),
            })
        })
        .collect();
    let agents: Vec<(String, String)> = store
        .directory(DEMO_WORKSPACE, DirectoryKind::Agents)
        .await?
        .iter()
        .map(|a| (a.id.clone(), a.text("name").unwrap_or(&a.id).to_string()))
        .collect();
    let now = jiff::Timestamp::now();
    let events = demo::trail(&people, &agents, days, now.as_second(), seed);
    let records = validate_events(&events, now.as_microsecond())
        .map_err(|e| anyhow!("the generated audit trail is invalid: {e:?}"))?;
    let signer = signing::signer(config, signing::seed(config)?, DEMO_WORKSPACE)?;
    let log = AuditLog::new(store.as_ref(), DEMO_WORKSPACE, signer);
    for chunk in records.chunks(crate::ingest::MAX_BATCH_ITEMS) {
        log.append(None, chunk.to_vec()).await?;
    }
    log.sign_now().await?;
    Ok(records.len() as u64)
}

async fn first_admin_email(store: &SharedStore) -> anyhow::Result<String> {
    let members = store
        .directory(DEMO_WORKSPACE, DirectoryKind::Members)
        .await?;
    members
        .iter()
        .find(|m| m.text("role") == Some("admin") && m.text("status") == Some("active"))
        .and_then(|m| m.text("email"))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the demo workspace has no active admin"))
}

/// `tally generate`: into the store, or as files with `--out`.
pub async fn generate(config: &Config, args: GenerateArgs) -> anyhow::Result<()> {
    check_timezone(&args.timezone).map_err(|e| anyhow!("--timezone: {e}"))?;
    let end = match &args.end {
        Some(t) => t.parse().map_err(|e| anyhow!("--end {t:?}: {e}"))?,
        None => jiff::Timestamp::now(),
    };
    let options = GenerateOptions::new(args.seed, args.members, args.days, end, &args.timezone);
    if let Some(dir) = &args.out {
        return write_files(dir, options);
    }
    let store = open(config).await?;
    if store.workspace(&args.workspace).await?.is_none() {
        store
            .create_workspace(&Workspace {
                id: args.workspace.clone(),
                name: args.workspace.clone(),
                plan: Plan::Enterprise,
                timezone: args.timezone.clone(),
                privacy: Privacy::Full,
                created_at: jiff::Timestamp::now(),
            })
            .await?;
        eprintln!("created workspace {} (enterprise plan)", args.workspace);
    }
    fill(&store, &args.workspace, options).await
}

/// Writes the directories and activity of a workspace straight into the store.
pub async fn fill(
    store: &SharedStore,
    workspace: &str,
    options: GenerateOptions,
) -> anyhow::Result<()> {
    let days = options.days;
    let generator = Generator::new(options);
    let now = jiff::Timestamp::now().as_microsecond() + 86_400_000_000;
    for (kind, items) in generator.directories() {
        let records = validate_records(kind, &items, now)
            .map_err(|e| anyhow!("generated {kind} records are invalid: {e:?}"))?;
        if let UpsertOutcome::Refused(e) = store.upsert_directory(workspace, kind, records).await? {
            return Err(anyhow!("generated {kind} records were refused: {e:?}"));
        }
    }
    let started = Instant::now();
    let mut total = 0u64;
    let terminal = std::io::stderr().is_terminal();
    for (day, batch) in generator.days().enumerate() {
        total += batch.len() as u64;
        for chunk in split_batch(batch, crate::ingest::MAX_BATCH_ITEMS) {
            store.ingest(workspace, chunk).await?;
        }
        let day = day as u32 + 1;
        if terminal {
            eprint!("\rgenerating: day {day}/{days}, {total} events");
        } else if day % 10 == 0 || day == days {
            eprintln!("generating: day {day}/{days}, {total} events");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "\rgenerated {total} events over {days} days in {seconds:.1} s ({:.0} events/s)",
        total as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Cuts a batch into batches of at most `max` events, as the ingest API would receive them.
pub fn split_batch(
    batch: crate::model::ActivityBatch,
    max: usize,
) -> Vec<crate::model::ActivityBatch> {
    let crate::model::ActivityBatch {
        messages,
        tool_executions,
        skill_executions,
        workflow_runs,
    } = batch;
    let mut out = Vec::new();
    let mut push = |make: &dyn Fn(&mut crate::model::ActivityBatch)| {
        let mut b = crate::model::ActivityBatch::default();
        make(&mut b);
        out.push(b);
    };
    for c in messages.chunks(max) {
        push(&|b| b.messages = c.to_vec());
    }
    for c in tool_executions.chunks(max) {
        push(&|b| b.tool_executions = c.to_vec());
    }
    for c in skill_executions.chunks(max) {
        push(&|b| b.skill_executions = c.to_vec());
    }
    for c in workflow_runs.chunks(max) {
        push(&|b| b.workflow_runs = c.to_vec());
    }
    out
}

fn write_files(dir: &std::path::Path, options: GenerateOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let generator = Generator::new(options);
    for (kind, items) in generator.directories() {
        let path = dir.join(format!("{kind}.json"));
        std::fs::write(&path, serde_json::to_vec(&items)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let path = dir.join("events.ndjson");
    let file =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut total = 0u64;
    for batch in generator.days() {
        for event in batch_to_wire(&batch) {
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
            total += 1;
        }
    }
    out.flush()?;
    eprintln!(
        "wrote {total} events to {} and the directories beside it",
        path.display()
    );
    Ok(())
}
