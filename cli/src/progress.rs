//! The progress display of `plugflow run` on a terminal.
//!
//! It appears only for runs that last: a bar drawn for a workflow that
//! finishes in a few milliseconds would be noise. Off when stderr is not a
//! terminal and with `--quiet`; it goes to stderr so stdout stays the result.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plugflow_engine::{NodeProgress, NodeStatus, Progress, ProgressObserver};

/// How long a run goes before the bar is drawn.
const SHOW_AFTER: Duration = Duration::from_millis(300);

struct Bar(ProgressBar);

impl ProgressObserver for Bar {
    fn node_finished(&self, progress: NodeProgress<'_>) {
        self.0.set_length(progress.total as u64);
        self.0.set_position(progress.done as u64);
        if progress.status == NodeStatus::Error {
            self.0.set_message(format!("{} failed", progress.node_id));
        } else {
            self.0.set_message(progress.node_id.to_owned());
        }
    }
}

/// A progress display for one run; dropped (or [`finish`](Display::finish)ed)
/// it leaves no trace on the terminal.
pub struct Display {
    bar: ProgressBar,
    reveal: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    /// A display for a run of `total` nodes, or `None` when it must stay
    /// off (`quiet`, or stderr is not a terminal).
    pub fn start(total: usize, quiet: bool) -> Option<Self> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes  {wide_msg}",
        ) {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let reveal = tokio::spawn(async move {
            tokio::time::sleep(SHOW_AFTER).await;
            shown.set_draw_target(ProgressDrawTarget::stderr());
            shown.enable_steady_tick(Duration::from_millis(120));
        });
        Some(Self {
            bar,
            reveal: Some(reveal),
        })
    }

    /// The observer to put in the run options.
    pub fn observer(&self) -> Progress {
        Progress::new(Bar(self.bar.clone()))
    }

    /// Removes the bar before the result is printed.
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(reveal) = self.reveal.take() {
            reveal.abort();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_follows_the_nodes() {
        let bar = ProgressBar::hidden();
        let observer = Bar(bar.clone());
        for (done, (id, status)) in [("a", NodeStatus::Success), ("b", NodeStatus::Error)]
            .into_iter()
            .enumerate()
        {
            observer.node_finished(NodeProgress {
                node_id: id,
                status,
                done: done + 1,
                total: 5,
            });
        }
        assert_eq!(bar.length(), Some(5));
        assert_eq!(bar.position(), 2);
        assert_eq!(bar.message(), "b failed");
    }

    #[tokio::test]
    async fn no_display_when_quiet() {
        assert!(Display::start(10, true).is_none());
    }
}
