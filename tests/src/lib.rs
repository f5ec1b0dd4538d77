//! Helpers for the integration tests: locating the plugin libraries cargo
//! built for this test run and laying them out in temporary directories,
//! and a small HTTP server for tests that need a real one.

pub mod host;
pub mod http_server;
pub mod pg;
pub mod smtp_server;

pub use host::{
    load_libraries, load_libraries_on, peak_rss_bytes, rss_bytes, set_database, AuditedHost, Tier,
};

use std::path::{Path, PathBuf};

/// The directory holding the shared libraries built with the tests (cargo
/// puts a dependency's `cdylib` next to the test executables).
pub fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .expect("test executable has a directory")
        .to_owned()
}

/// The file name of the shared library of crate `lib_name` on this platform.
pub fn library_file_name(lib_name: &str) -> String {
    format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The path of the built shared library of crate `lib_name`. Panics with
/// instructions when it is missing: a test never skips itself.
pub fn library(lib_name: &str) -> PathBuf {
    let path = artifact_dir().join(library_file_name(lib_name));
    assert!(
        path.is_file(),
        "plugin library {} was not built; run the tests with `cargo test --workspace` (the plugflow-tests crate depends on every fixture so cargo builds them)",
        path.display()
    );
    path
}

/// Copies the libraries of `lib_names` into `dir`, returning their paths.
pub fn install(dir: &Path, lib_names: &[&str]) -> Vec<PathBuf> {
    lib_names
        .iter()
        .map(|name| {
            let target = dir.join(library_file_name(name));
            std::fs::copy(library(name), &target).expect("copy plugin library");
            target
        })
        .collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for a server a
/// test starts as a separate process).
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// A command running the `plugflow` binary at `program` (a test's
/// `env!("CARGO_BIN_EXE_plugflow")`) on its built-in plugins only: no
/// plugin directories, no configuration or plugin cache from the
/// environment of whoever runs the tests.
pub fn plugflow_command(program: &str) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_CONFIG");
    command
}
