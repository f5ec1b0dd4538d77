//! `plugflow plugins list | inspect | check` (`new` is in `scaffold`).

use std::fmt::Write as _;
use std::path::Path;

use loader::{FileOutcome, Loader};
use registry_core::{ListFilter, Registry};
use serde_json::{json, Value};

use crate::args::Global;
use crate::error::CliError;
use crate::output::Output;

/// Lists every node type.
pub fn list(global: &Global) -> Result<Output, CliError> {
    let host = crate::host::build(global)?;
    let listed = host.registry.list(&ListFilter::default());
    let mut pretty = String::new();
    let rows: Vec<Value> = listed
        .iter()
        .map(|m| {
            let _ = writeln!(
                pretty,
                "{:28} {:8} {:10} {}",
                m.manifest.node_type,
                m.manifest.version,
                m.manifest.category,
                m.source.describe()
            );
            json!({
                "nodeType": m.manifest.node_type,
                "version": m.manifest.version,
                "category": m.manifest.category,
                "description": m.manifest.description,
                "execution": m.manifest.execution,
                "tenantScoped": m.manifest.tenant_scoped,
                "tags": m.manifest.tags,
                "source": m.source.describe(),
            })
        })
        .collect();
    let _ = writeln!(pretty, "\n{} node types", rows.len());
    let rejected: Vec<Value> = host
        .discovery
        .files
        .iter()
        .filter_map(|f| match &f.outcome {
            FileOutcome::Rejected { reason, message } => {
                let _ = writeln!(pretty, "rejected {}: {reason}: {message}", f.path.display());
                Some(json!({"path": f.path, "reason": reason.as_str(), "message": message}))
            }
            FileOutcome::Loaded { .. } => None,
        })
        .collect();
    Ok(Output {
        json: json!({"nodeTypes": rows, "rejectedFiles": rejected}).into(),
        pretty,
    })
}

/// Shows a plugin library's manifest (when `target` is a file) or one
/// registered node type in full.
pub fn inspect(global: &Global, target: &str) -> Result<Output, CliError> {
    let path = Path::new(target);
    if path.is_file() || looks_like_library(path) {
        return inspect_library(global, path);
    }
    inspect_node_type(global, target)
}

/// Whether `path` names a shared library (by its extension).
fn looks_like_library(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "so" | "dylib" | "dll"))
}

/// A library's manifest, node types, ABI version and dependencies, read the
/// way loading reads them (in a scanner child by default), without
/// registering anything.
fn inspect_library(global: &Global, path: &Path) -> Result<Output, CliError> {
    if !path.is_file() {
        return Err(CliError::input(format!(
            "{} does not exist or is not a file",
            path.display()
        )));
    }
    let config = crate::host::config(global)?;
    let mut discovery = config.plugins.unwrap_or_default();
    crate::host::scanner_in_this_binary(&mut discovery);
    discovery.isolation = global
        .isolation
        .map_or(loader::Isolation::Process, Into::into);
    let inspected = loader::inspect_library(&discovery, path).map_err(|r| {
        CliError::input(format!(
            "{} is not a loadable plugin: {}: {}",
            path.display(),
            r.reason.as_str(),
            r.message
        ))
        .kind(r.reason.as_str())
    })?;
    let m = &inspected.manifest;
    let mut pretty = format!(
        "{} {} (ABI {}; this host: ABI {})
{}
sha256 {}

node types:
",
        m.name,
        m.version,
        m.abi_version,
        plugin_abi::ABI_VERSION,
        m.description.as_deref().unwrap_or(""),
        inspected.sha256
    );
    for node in &m.node_types {
        let _ = writeln!(
            pretty,
            "  {:28} {:8} {:?}{}  {}",
            node.node_type,
            node.version,
            node.execution,
            if node.tenant_scoped {
                ", tenant-scoped"
            } else {
                ""
            },
            node.description
        );
        for dependency in &node.dependencies {
            let _ = writeln!(
                pretty,
                "      needs {} {}",
                dependency.node_type, dependency.version
            );
        }
    }
    Ok(Output {
        json: json!({
            "path": path,
            "sha256": inspected.sha256,
            "hostAbiVersion": plugin_abi::ABI_VERSION,
            "manifest": m,
        })
        .into(),
        pretty,
    })
}

/// Shows one node type in full.
fn inspect_node_type(global: &Global, node_type: &str) -> Result<Output, CliError> {
    let host = crate::host::build(global)?;
    let metadata = host.registry.metadata(node_type).ok_or_else(|| {
        CliError::input(format!(
            "node type `{node_type}` is not registered; `plugflow plugins list` shows what is"
        ))
    })?;
    let mut json = serde_json::to_value(&*metadata).map_err(|e| CliError::failed(e.to_string()))?;
    let expressions = super::describe::expressions(&json["parameterSchema"]);
    json["expressions"] = Value::Array(expressions);
    let pretty = super::describe::page(&json);
    Ok(Output {
        json: json.into(),
        pretty,
    })
}

/// Scans `dir` and reports every file.
pub fn check(global: &Global, dir: &Path) -> Result<Output, CliError> {
    if !dir.is_dir() {
        return Err(CliError::input(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let config = crate::host::config(global)?;
    let mut discovery = config.plugins.unwrap_or_default();
    discovery.directories = vec![dir.to_owned()];
    crate::host::scanner_in_this_binary(&mut discovery);
    // Every file is judged afresh here, whatever the cache remembers.
    discovery.cache_file = None;
    // Checking unknown files is what isolation is for: on by default here.
    discovery.isolation = global
        .isolation
        .map_or(loader::Isolation::Process, Into::into);
    // The files are judged on their own: a library providing the same node
    // types as a built-in is still reported loaded here.
    let registry = Registry::new();
    let report = Loader::new(discovery).discover(&registry);
    let mut pretty = String::new();
    let files: Vec<Value> = report
        .files
        .iter()
        .map(|f| {
            let (status, reason, message, node_types) = match &f.outcome {
                FileOutcome::Loaded {
                    plugin,
                    version,
                    node_types,
                    shadowed,
                } => (
                    "loaded",
                    Value::Null,
                    if shadowed.is_empty() {
                        format!("{plugin} {version}")
                    } else {
                        format!("{plugin} {version} (shadowed: {})", shadowed.join(", "))
                    },
                    node_types.clone(),
                ),
                FileOutcome::Rejected { reason, message } => (
                    "rejected",
                    json!(reason.as_str()),
                    message.clone(),
                    Vec::new(),
                ),
            };
            let _ = writeln!(
                pretty,
                "{:8} {:22} {}  {}",
                status,
                reason.as_str().unwrap_or("-"),
                f.path.display(),
                message
            );
            json!({
                "path": f.path,
                "status": status,
                "reason": reason,
                "message": message,
                "nodeTypes": node_types,
                "timings": f.timings,
            })
        })
        .collect();
    let t = report.totals;
    let _ = writeln!(
        pretty,
        "\n{} files: {} loaded, {} rejected, {} node types, {:.2} ms",
        t.candidates,
        t.loaded,
        t.rejected,
        t.node_types,
        t.elapsed_us as f64 / 1000.0
    );
    let json = json!({"files": files, "totals": t, "issues": report.issues});
    if t.rejected > 0 {
        Err(CliError::failed(format!(
            "{} of {} plugin files in {} were rejected",
            t.rejected,
            t.candidates,
            dir.display()
        ))
        .kind("PLUGINS_REJECTED")
        .with_document(json)
        .with_pretty(pretty))
    } else {
        Ok(Output {
            json: json.into(),
            pretty,
        })
    }
}

/// `plugflow plugins cache show|clear`.
pub fn cache(global: &Global, command: &crate::args::CacheCommand) -> Result<Output, CliError> {
    let config = crate::host::config(global)?;
    let discovery = config.plugins.unwrap_or_default();
    let Some(path) = crate::host::cache_file(global, &discovery) else {
        return Err(CliError::input(
            "the plugin cache is off (--plugin-cache off / PLUGFLOW_PLUGIN_CACHE=off)",
        ));
    };
    match command {
        crate::args::CacheCommand::Clear => {
            let existed = match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    return Err(CliError::failed(format!(
                        "cannot delete {}: {e}",
                        path.display()
                    )))
                }
            };
            Ok(Output {
                json: json!({"cache": path, "cleared": existed}).into(),
                pretty: if existed {
                    format!("deleted {}\n", path.display())
                } else {
                    format!("{} did not exist\n", path.display())
                },
            })
        }
        crate::args::CacheCommand::Show => {
            let (cache, discarded) = loader::CacheFile::load(&path);
            let mut pretty = format!("{}\n", path.display());
            if let Some(why) = &discarded {
                pretty.push_str(&format!("(not usable: {why}; it will be rebuilt)\n"));
            }
            let entries: Vec<Value> = cache
                .entries
                .values()
                .map(|e| {
                    let (status, reason, node_types) = match &e.outcome {
                        loader::CachedOutcome::Loaded { manifest, .. } => (
                            "loaded",
                            Value::Null,
                            manifest.node_types.iter().map(|n| n.node_type.clone()).collect::<Vec<_>>(),
                        ),
                        loader::CachedOutcome::Rejected { rejection } => {
                            ("rejected", json!(rejection.reason), Vec::new())
                        }
                    };
                    pretty.push_str(&format!(
                        "{status:8} {:24} {}  sha256 {}…\n",
                        reason.as_str().unwrap_or("-"),
                        e.path.display(),
                        &e.sha256[..e.sha256.len().min(12)]
                    ));
                    json!({"path": e.path, "status": status, "reason": reason, "nodeTypes": node_types,
                           "size": e.size, "sha256": e.sha256, "checkedAt": e.checked_at, "host": e.host})
                })
                .collect();
            pretty.push_str(&format!("{} files\n", entries.len()));
            Ok(Output {
                json: json!({"cache": path, "discarded": discarded, "entries": entries}).into(),
                pretty,
            })
        }
    }
}
