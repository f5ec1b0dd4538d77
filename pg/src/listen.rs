//! `LISTEN` on a connection of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::NoTls;

/// What a [`Listener`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A `NOTIFY channel, 'payload'`.
    Message {
        /// The channel.
        channel: String,
        /// The payload.
        payload: String,
    },
    /// Listening (again) after a connect: anything sent while it was not
    /// listening was missed, so look at the state itself.
    Reconnected,
}

/// Listens on some channels until dropped, reconnecting when the
/// connection drops.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts listening on `channels` (plain identifiers) and calls
    /// `on_notice` for what it hears, on the listener's thread.
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn start(
        config: postgres::Config,
        channels: &[&str],
        on_notice: impl Fn(Notice) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let listen: String = channels
            .iter()
            .map(|c| format!("LISTEN \"{}\";", c.replace('"', "")))
            .collect();
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("plugflow-pg-listen".to_owned())
            .spawn(move || listen_loop(&config, &listen, &stopped, &on_notice))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen_loop(
    config: &postgres::Config,
    listen: &str,
    stop: &AtomicBool,
    on_notice: &dyn Fn(Notice),
) {
    let mut pause = Duration::from_millis(50);
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(NoTls) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(
                    component = "pg",
                    "listener cannot connect, trying again: {e}"
                );
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(listen) {
            tracing::warn!(component = "pg", "cannot LISTEN, trying again: {e}");
            std::thread::sleep(pause);
            continue;
        }
        pause = Duration::from_millis(50);
        on_notice(Notice::Reconnected);
        'heard: while !stop.load(Ordering::Relaxed) {
            let mut notifications = client.notifications();
            let mut heard = notifications.timeout_iter(Duration::from_millis(200));
            #[allow(clippy::while_let_loop)]
            loop {
                match heard.next() {
                    Ok(Some(n)) => on_notice(Notice::Message {
                        channel: n.channel().to_owned(),
                        payload: n.payload().to_owned(),
                    }),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(component = "pg", "listener lost its connection: {e}");
                        break 'heard;
                    }
                }
            }
            drop(heard);
            drop(notifications);
            if client.is_closed() {
                break;
            }
        }
    }
}
