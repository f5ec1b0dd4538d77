//! plugflow's own background runtime: blocking node types run on its pool
//! and every timer the library needs (node timeouts, retry backoff, the
//! execution deadline) runs on its clock. The library's futures can so be
//! awaited on any executor — a tokio runtime with or without timers, or
//! none at all — without "there is no reactor running" or "timers are
//! disabled" panics.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::Poll;
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
                .map_err(|e| {
                    tracing::error!(
                        component = "registry",
                        event = "runtime_failed",
                        "cannot start plugflow's background runtime: {e}"
                    )
                })
                .ok()
        })
        .as_ref()
}

/// Drops `value` on the background runtime's blocking pool instead of
/// here: freeing a large request (a bulk write's ten thousand records is a
/// hundred thousand allocations) then overlaps what the caller does next
/// instead of adding to the node's time. Dropped here when the runtime is
/// not available.
pub(crate) fn drop_behind<T: Send + 'static>(value: T) {
    match background() {
        Some(runtime) => {
            runtime.spawn_blocking(move || drop(value));
        }
        None => drop(value),
    }
}

/// Why a blocking call did not complete.
#[derive(Debug)]
pub(crate) enum BlockingError {
    /// It ran past its timeout and was abandoned.
    TimedOut,
    /// It panicked, or the runtime could not run it.
    Failed(String),
}

/// Runs `work` on a blocking pool, giving up after `timeout` (the work
/// itself is abandoned, not killed). The caller's tokio runtime, when there
/// is one, lends its pool, so its `max_blocking_threads` bounds how many
/// calls (abandoned ones included) run at once; otherwise plugflow's
/// background runtime does. The timeout always runs on plugflow's clock.
pub(crate) async fn run_blocking<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BlockingError> {
    let mut task = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work),
        Err(_) => match background() {
            Some(runtime) => runtime.spawn_blocking(work),
            None => {
                return Err(BlockingError::Failed(
                    "plugflow's background runtime is not available".to_owned(),
                ))
            }
        },
    };
    let mut expired = std::pin::pin!(sleep(timeout));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(joined) = Pin::new(&mut task).poll(cx) {
            return Poll::Ready(joined.map_err(|join| BlockingError::Failed(join.to_string())));
        }
        expired
            .as_mut()
            .poll(cx)
            .map(|()| Err(BlockingError::TimedOut))
    })
    .await
}

/// A future that completes after `duration`, on plugflow's clock.
pub fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    match background() {
        Some(rt) => {
            rt.spawn(async move {
                let mut done = done;
                let mut timer = std::pin::pin!(tokio::time::sleep(duration));
                // Ends early when nobody waits any more (the call finished
                // before its timeout), so finished timeouts hold no timer.
                let elapsed = std::future::poll_fn(|cx| {
                    if done.poll_closed(cx).is_ready() {
                        return Poll::Ready(false);
                    }
                    timer.as_mut().poll(cx).map(|()| true)
                })
                .await;
                if elapsed {
                    let _ = done.send(());
                }
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Sender};
    use std::thread::ThreadId;
    use std::time::Duration;

    /// Says on which thread it was dropped.
    struct Tattler(Sender<ThreadId>);

    impl Drop for Tattler {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    #[test]
    fn a_value_dropped_behind_is_dropped_on_another_thread() {
        let (send, dropped) = channel();
        super::drop_behind(Tattler(send));
        let on = dropped
            .recv_timeout(Duration::from_secs(10))
            .expect("dropped within ten seconds");
        assert_ne!(on, std::thread::current().id());
    }
}
