//! `tally audit verify`: an export checked offline with the log's verifier key, or a whole
//! store (every entry, tree node and checkpoint recomputed), optionally against a checkpoint an
//! auditor saved earlier. Prints the first bad entry; fails unless everything verifies.

use anyhow::{Context, anyhow, bail};
use std::collections::HashMap;

use super::commands::{load_config, open};
use super::{GlobalArgs, VerifyArgs};
use crate::audit::log::vkey;
use crate::audit::note::{Checkpoint, Verifier};
use crate::audit::verify::{
    Problem, StoreChecker, check_saved, open_saved_checkpoint, verify_export,
};
use crate::storage::SharedStore;
use crate::storage::audit::{AuditFilter, AuditOrder};

/// Entries and nodes read from the store at a time.
const PAGE: usize = 10_000;

pub async fn verify(global: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<()> {
    let keys = args
        .keys
        .iter()
        .map(|k| read_key(k))
        .collect::<anyhow::Result<Vec<Verifier>>>()?;
    match &args.export {
        Some(path) => verify_export_file(path, &keys, args.checkpoint.as_deref()),
        None => {
            let store = open(&load_config(global, None)?).await?;
            verify_store(&store, &keys, &args).await
        }
    }
}

/// A verifier key given as the string itself or as a file holding it.
fn read_key(key: &str) -> anyhow::Result<Verifier> {
    let text = if std::path::Path::new(key).is_file() {
        std::fs::read_to_string(key).with_context(|| format!("cannot read the key file {key}"))?
    } else {
        key.to_string()
    };
    Verifier::from_vkey(text.trim()).map_err(|e| {
        anyhow!("--key {key}: {e} (give the vkey from GET /api/v1/w/{{wId}}/audit/keys)")
    })
}

fn read_saved(path: &std::path::Path, keys: &[Verifier]) -> anyhow::Result<Checkpoint> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checkpoint file {}", path.display()))?;
    open_saved_checkpoint(&text, keys).map_err(|p| fail(&p))
}

fn fail(problem: &Problem) -> anyhow::Error {
    println!("FAILED: {problem}");
    anyhow!("verification failed: {problem}")
}

fn verify_export_file(
    path: &std::path::Path,
    keys: &[Verifier],
    saved: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if keys.is_empty() {
        bail!(
            "an export is verified with the log's key: pass --key <vkey or file> (from GET /api/v1/w/{{wId}}/audit/keys)"
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the export {}", path.display()))?;
    let saved = saved.map(|p| read_saved(p, keys)).transpose()?;
    let summary = verify_export(&text, keys, saved.as_ref()).map_err(|p| fail(&p))?;
    println!(
        "ok: {} entries of {} verified against its checkpoint of tree size {}{}",
        summary.entries,
        summary.checkpoint.origin,
        summary.checkpoint.tree_size,
        if summary.whole_log {
            " (whole log, root recomputed)"
        } else {
            " (inclusion proofs)"
        }
    );
    Ok(())
}

async fn verify_store(
    store: &SharedStore,
    keys: &[Verifier],
    args: &VerifyArgs,
) -> anyhow::Result<()> {
    let workspaces = match &args.workspace {
        Some(ws) => vec![ws.clone()],
        None => store.audit_workspaces().await?,
    };
    if workspaces.is_empty() {
        println!("ok: no audit log in this store");
    }
    for ws in workspaces {
        let verifiers = if keys.is_empty() {
            stored_verifiers(store, &ws).await?
        } else {
            keys.to_vec()
        };
        match verify_workspace(store, &ws, &verifiers, args).await? {
            Ok(summary) => println!("ok: workspace {ws}: {summary}"),
            Err(problem) => {
                println!("FAILED: workspace {ws}: {problem}");
                bail!("workspace {ws}: {problem}");
            }
        }
    }
    Ok(())
}

async fn stored_verifiers(store: &SharedStore, ws: &str) -> anyhow::Result<Vec<Verifier>> {
    store
        .audit_keys(ws)
        .await?
        .iter()
        .map(|k| {
            Verifier::from_vkey(&vkey(&k.name, &k.key_id, &k.public_key))
                .map_err(|e| anyhow!("workspace {ws}: stored key {} is unusable: {e}", k.key_id))
        })
        .collect()
}

/// Checks one workspace's log; the outer error is a store failure, the inner a bad log.
async fn verify_workspace(
    store: &SharedStore,
    ws: &str,
    verifiers: &[Verifier],
    args: &VerifyArgs,
) -> anyhow::Result<Result<String, Problem>> {
    let mut checker = StoreChecker::new();
    let mut after = None;
    loop {
        let entries = store
            .audit_search(
                ws,
                &AuditFilter::default(),
                AuditOrder::LeafOrder(after),
                PAGE,
            )
            .await?;
        let Some(last) = entries.last() else { break };
        after = Some(last.leaf_index);
        let positions = entries.iter().map(|e| (0, e.leaf_index)).collect();
        let leaves: HashMap<u64, _> = store
            .audit_nodes(ws, positions)
            .await?
            .into_iter()
            .map(|n| (n.index, n.hash))
            .collect();
        for e in &entries {
            if let Err(problem) = checker.entry(e, leaves.get(&e.leaf_index).copied()) {
                return Ok(Err(problem));
            }
        }
    }
    if let Err(problem) = checker.head(store.audit_tree_size(ws).await?) {
        return Ok(Err(problem));
    }
    if let Err(problem) = check_nodes(store, ws, &checker).await? {
        return Ok(Err(problem));
    }
    let checkpoints = store.audit_checkpoints(ws).await?;
    for c in &checkpoints {
        if let Err(problem) = checker.checkpoint(c, verifiers) {
            return Ok(Err(problem));
        }
    }
    if let Some(path) = &args.checkpoint {
        let saved = read_saved(path, verifiers)?;
        if let Err(problem) = check_saved(checker.nodes(), &saved) {
            return Ok(Err(problem));
        }
    }
    Ok(Ok(format!(
        "{} entries, their tree and {} signed checkpoints verified",
        checker.size(),
        checkpoints.len()
    )))
}

async fn check_nodes(
    store: &SharedStore,
    ws: &str,
    checker: &StoreChecker,
) -> anyhow::Result<Result<(), Problem>> {
    let mut after = None;
    let mut count = 0;
    loop {
        let nodes = store.audit_node_page(ws, after, PAGE).await?;
        let Some(last) = nodes.last() else { break };
        after = Some((last.level, last.index));
        for n in &nodes {
            if let Err(problem) = checker.node(n) {
                return Ok(Err(problem));
            }
        }
        count += nodes.len() as u64;
    }
    if count != checker.node_count() {
        return Ok(Err(Problem {
            leaf_index: None,
            event_id: None,
            reason: format!(
                "the store holds {count} tree nodes where the entries make {}: nodes were removed",
                checker.node_count()
            ),
        }));
    }
    Ok(Ok(()))
}
