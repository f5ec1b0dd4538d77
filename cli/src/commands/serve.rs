//! `plugflow serve`: the service, with the host every other command builds.

use std::sync::Arc;

use serde_json::json;

use crate::args::{Global, ServeArgs, WorkerArgs};
use crate::error::CliError;
use crate::host;
use crate::output::Output;

/// Serves until SIGINT or SIGTERM.
pub async fn serve(global: &Global, args: &ServeArgs) -> Result<Output, CliError> {
    let mut serve = settings(global)?;
    if let Some(listen) = &args.listen {
        serve.listen.clone_from(listen);
    }
    if let Some(workflows) = &args.workflows {
        serve.workflows = Some(workflows.clone());
    }
    if let Some(store) = &args.store {
        serve.store.clone_from(store);
    }
    if let Some(workers) = args.workers {
        serve.workers = workers;
    }
    run(global, serve).await
}

/// Runs executions from the shared queue until SIGINT or SIGTERM.
pub async fn worker(global: &Global, args: &WorkerArgs) -> Result<Output, CliError> {
    let mut serve = settings(global)?;
    if serve.database_url.is_none() {
        return Err(CliError::config(
            "plugflow worker takes its executions from PostgreSQL: set `[database] url` in the configuration, --database-url or PLUGFLOW_DATABASE_URL",
        ));
    }
    serve.api = false;
    serve.listen.clone_from(&args.listen);
    if let Some(workflows) = &args.workflows {
        serve.workflows = Some(workflows.clone());
    }
    serve.workers = args.workers.unwrap_or(serve.workers).max(1);
    run(global, serve).await
}

/// `[serve]` of the configuration, its paths made relative to the file,
/// with the database URL.
fn settings(global: &Global) -> Result<plugflow_serve::ServeConfig, CliError> {
    let config = host::config(global)?;
    let mut serve = config.serve.clone().unwrap_or_default();
    // Paths in the file are relative to the file; on the command line, to
    // the current directory.
    if let Some(base) = global.config.as_deref().and_then(std::path::Path::parent) {
        if let Some(workflows) = serve.workflows.as_mut().filter(|w| w.is_relative()) {
            *workflows = base.join(&*workflows);
        }
        // `:memory:` names no file.
        let in_memory = serve.store.as_os_str() == ":memory:";
        if serve.store.is_relative() && !in_memory && config.serve.is_some() {
            serve.store = base.join(&serve.store);
        }
    }
    serve.database_url = host::database_url(global, &config);
    Ok(serve)
}

async fn run(global: &Global, serve: plugflow_serve::ServeConfig) -> Result<Output, CliError> {
    let host = host::build(global)?;
    let registry = std::sync::Arc::clone(&host.registry);
    let discovery = host.discovery_config.clone();
    let plugin_dirs = discovery.directories.clone();
    let hosts = std::sync::Arc::clone(&host.plugin_hosts);
    let rescan: plugflow_serve::PluginReloader = Box::new(move || {
        if discovery.directories.is_empty() {
            return json!(null);
        }
        // The same supervisor: unchanged libraries keep their hosts.
        let report = loader::Loader::with_plugin_hosts(discovery.clone(), Arc::clone(&hosts))
            .discover(&registry);
        json!({"loaded": report.totals.loaded, "rejected": report.totals.rejected})
    });
    let server = plugflow_serve::Server::bind(host.registry, serve)
        .await
        .map_err(|e| CliError::failed(e.to_string()))?
        .with_plugin_reloader(rescan, plugin_dirs)
        .with_plugin_hosts(host.plugin_hosts);
    reload_on_hangup(server.reloader());
    let address = server
        .local_addr()
        .map_err(|e| CliError::failed(e.to_string()))?;
    let not_served = server.problems().len();
    tracing::info!(component = "serve", %address, "listening");
    server
        .serve(stopped())
        .await
        .map_err(|e| CliError::failed(format!("the server stopped: {e}")))?;
    Ok(Output {
        json: json!({"stopped": true, "listen": address.to_string(), "workflowsNotServed": not_served}).into(),
        pretty: format!("stopped serving on {address}\n"),
    })
}

/// Reloads plugins and workflows on each SIGHUP.
fn reload_on_hangup(reloader: plugflow_serve::Reloader) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            let reloader = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
        }
    });
    #[cfg(not(unix))]
    drop(reloader);
}

/// Completes on SIGINT or SIGTERM.
async fn stopped() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
