//! A PostgreSQL database of a test's own, created on a server the test
//! reaches (`PLUGFLOW_TEST_DATABASE_URL`, default the machine's
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped afterwards.

use std::process::Command;

/// The server tests use: `PLUGFLOW_TEST_DATABASE_URL`, else the local one.
pub fn server_url() -> String {
    std::env::var("PLUGFLOW_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs `work` on a thread of its own: the synchronous client runs a
/// runtime of its own, which may not start inside an async test's.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(work).join().expect("the database thread"))
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "these tests need PostgreSQL and cannot reach {url}: {e}. Start the local server \
             (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; .ci/run does) \
             or set PLUGFLOW_TEST_DATABASE_URL to a server where this user may create databases"
        )
    })
}

/// A database created for one test, dropped (with its connections) when
/// this is dropped.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `pf_test_<unique>` on the test server.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached, saying how to provide one.
    pub fn create() -> Self {
        let server = server_url();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "pf_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        off_runtime(|| {
            connect(&server)
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create the test database");
        });
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("PLUGFLOW_TEST_DATABASE_URL must end in /<database>"),
        };
        Self { name, url }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection to it (from synchronous code only).
    pub fn client(&self) -> postgres::Client {
        connect(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = &self.name;
        off_runtime(|| {
            if let Ok(mut client) = postgres::Client::connect(&server_url(), postgres::NoTls) {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}

/// Restarts the local PostgreSQL cluster (every connection drops).
///
/// # Panics
///
/// When it cannot be restarted.
pub fn restart_local_server() {
    let versions =
        std::fs::read_dir("/etc/postgresql").expect("/etc/postgresql lists the clusters");
    let version = versions
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a PostgreSQL cluster");
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "PostgreSQL restarted");
}
