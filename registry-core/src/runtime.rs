//! plugflow's own background runtime: blocking node types run on its pool
//! and every timer the library needs (node timeouts, retry backoff, the
//! execution deadline) runs on its clock. The library's futures can so be
//! awaited on any executor — a tokio runtime with or without timers, or
//! none at all — without "there is no reactor running" or "timers are
//! disabled" panics.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

/// The background runtime, started on first use. `None` if the operating
/// system refused to start its threads.
fn background() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("plugflow-background")
                .enable_time()
                .build()
                .map_err(|e| tracing::error!(component = "registry", event = "runtime_failed", "cannot start plugflow's background runtime: {e}"))
                .ok()
        })
        .as_ref()
}

/// Why a blocking call did not complete.
#[derive(Debug)]
pub(crate) enum BlockingError {
    /// It ran past its timeout and was abandoned.
    TimedOut,
    /// It panicked, or the runtime could not run it.
    Failed(String),
}

/// Runs `work` on the background runtime's blocking pool, giving up after
/// `timeout` (the work itself is abandoned, not killed).
pub(crate) async fn run_blocking<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BlockingError> {
    let Some(runtime) = background() else {
        return Err(BlockingError::Failed(
            "plugflow's background runtime is not available".to_owned(),
        ));
    };
    let task = runtime.spawn_blocking(work);
    let guarded = runtime.spawn(async move { tokio::time::timeout(timeout, task).await });
    match guarded.await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(join))) => Err(BlockingError::Failed(join.to_string())),
        Ok(Err(_elapsed)) => Err(BlockingError::TimedOut),
        Err(join) => Err(BlockingError::Failed(join.to_string())),
    }
}

/// A future that completes after `duration`, on plugflow's clock.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    match background() {
        Some(rt) => {
            rt.spawn(async move {
                tokio::time::sleep(duration).await;
                let _ = done.send(());
            });
        }
        // Without the background runtime, a thread keeps the time.
        None => {
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let _ = done.send(());
            });
        }
    }
    async move {
        let _ = wait.await;
    }
}

/// A future that completes at `deadline`, on plugflow's clock.
pub fn sleep_until(deadline: std::time::Instant) -> impl Future<Output = ()> + Send + 'static {
    sleep(deadline.saturating_duration_since(std::time::Instant::now()))
}
