//! A real server on 127.0.0.1 (a random port) over real built-in plugins,
//! driven by a real HTTP client.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugflow_serve::{ApiKeyConfig, KeySource, ServeConfig, Server};
use registry_core::Registry;
use serde_json::Value;

pub const ACME_KEY: &str = "key-acme-0123456789";
pub const GLOBEX_KEY: &str = "key-globex-0123456789";

/// A running server; stopped when dropped.
pub struct Running {
    pub base: String,
    pub dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn registry() -> Arc<Registry> {
    let registry = Registry::new();
    for definition in [
        plugflow_core::plugflow_definition(),
        plugflow_math::plugflow_definition(),
        plugflow_string::plugflow_definition(),
    ] {
        loader::register_linked_plugin(&registry, definition).expect("built-in registers");
    }
    Arc::new(registry)
}

/// Writes `workflows` (file name, JSON) into a fresh workflows directory.
pub fn workflows_dir(dir: &Path, workflows: &[(&str, Value)]) -> std::path::PathBuf {
    let workflows_dir = dir.join("workflows");
    std::fs::create_dir_all(&workflows_dir).unwrap();
    for (name, workflow) in workflows {
        std::fs::write(workflows_dir.join(name), workflow.to_string()).unwrap();
    }
    workflows_dir
}

pub fn config(dir: &Path, workflows: &[(&str, Value)]) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".into(),
        workflows: Some(workflows_dir(dir, workflows)),
        store: dir.join("executions.db"),
        api_keys: vec![
            ApiKeyConfig {
                tenant_id: "acme".into(),
                key: KeySource::Value(ACME_KEY.into()),
                admin: true,
            },
            ApiKeyConfig {
                tenant_id: "globex".into(),
                key: KeySource::Value(GLOBEX_KEY.into()),
                admin: false,
            },
        ],
        ..ServeConfig::default()
    }
}

/// Starts a server with `config` (its directory kept in `dir`).
pub fn start_with(dir: tempfile::TempDir, config: ServeConfig) -> Running {
    let mut running = start_config(config);
    running.dir = Some(dir);
    running
}

/// Starts a server with `config`, whose files the caller keeps.
pub fn start_config(config: ServeConfig) -> Running {
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(registry(), config).await.expect("binds");
            address_tx.send(server.local_addr().unwrap()).unwrap();
            server
                .serve(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    let address = address_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server starts");
    Running {
        base: format!("http://{address}"),
        dir: None,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

pub fn start(workflows: &[(&str, Value)]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), workflows);
    start_with(dir, config)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `(status, JSON body or Null, headers as (name, value))`.
pub fn call(method: &str, url: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let (status, text, _) = call_raw(method, url, key, body.map(Value::to_string));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn call_raw(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<String>,
) -> (u16, String, Vec<(String, String)>) {
    let agent = agent();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let request = request
        .header("Content-Type", "application/json")
        .body(body.unwrap_or_default())
        .unwrap();
    let mut response = agent.run(request).expect("the server answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text, headers)
}
