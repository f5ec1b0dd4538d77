//! Forwards a dynamically loaded plugin's `tracing` events to its host.
//!
//! A shared library has its own copy of `tracing`'s global dispatcher, so
//! without this its events would vanish. Spans are not forwarded: only
//! events, formatted as `message key=value ...`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::ffi::{HostServices, LogLevel, LogRecord};

struct Forwarder {
    plugin: String,
    host: HostServices,
    next_span: AtomicU64,
}

fn to_ffi(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl Subscriber for Forwarder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        to_ffi(metadata.level()) <= self.host.max_log_level
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        visitor.message.push_str(&visitor.fields);
        (self.host.log)(LogRecord {
            level: to_ffi(event.metadata().level()),
            plugin: self.plugin.as_str().into(),
            target: event.metadata().target().into(),
            message: visitor.message.as_str().into(),
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Installs the forwarder as this library's global dispatcher and a panic
/// hook that reports panics through it instead of printing to stderr.
/// Idempotent: a second `init` keeps the first forwarder.
pub(crate) fn install(plugin: &str, host: HostServices) {
    let forwarder = Forwarder {
        plugin: plugin.to_owned(),
        host,
        next_span: AtomicU64::new(1),
    };
    if tracing::subscriber::set_global_default(forwarder).is_ok() {
        std::panic::set_hook(Box::new(|info| {
            let payload = super::runtime::panic_message(info.payload());
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            tracing::error!("panic contained by the plugin SDK: {payload}{location}");
        }));
    }
}
