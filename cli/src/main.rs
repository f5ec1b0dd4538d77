//! The `plugflow` command-line program.

mod args;
mod builtins;
mod commands;
mod config;
mod error;
mod host;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use args::{AuditCommand, Cli, Command, LogFormat, OutputFormat, PluginsCommand};
use error::{CliError, EXIT_FAILED};

/// The message of the last panic, printed if it ends the program.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn init_logging(global: &args::Global) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&global.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn dispatch(cli: &Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Run(a) => commands::run::run(g, &a.workflow, &a.run).await,
        Command::Stats(a) => commands::run::stats(g, &a.workflow, &a.run, a.metrics).await,
        Command::Validate(a) => commands::validate::validate(g, &a.workflow, a.tenant.as_deref()),
        Command::Plugins(PluginsCommand::List) => commands::plugins::list(g),
        Command::Plugins(PluginsCommand::Inspect { node_type }) => {
            commands::plugins::inspect(g, node_type)
        }
        Command::Plugins(PluginsCommand::Check { dir }) => commands::plugins::check(g, dir),
        Command::Plugins(PluginsCommand::Cache(c)) => commands::plugins::cache(g, c),
        Command::Graph(a) => commands::graph::graph(g, &a.workflow, a.result.as_deref()),
        Command::Audit(AuditCommand::Verify { log }) => commands::audit::verify(g, log),
    }
}

fn main() -> ExitCode {
    // Scanner mode of process isolation: `plugflow __scan-plugins CONFIG
    // FILE...` opens and checks each file and reports on stdout. A library
    // that crashes takes only this child process down.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == loader::isolate::SCAN_ARG) {
        let config = args
            .next()
            .and_then(|c| c.into_string().ok())
            .unwrap_or_default();
        let files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
        let code = loader::isolate::child_main(&config, &files);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    init_logging(&cli.global);
    // A bug must never end in a backtrace and exit code 101: one line, 1.
    // The hook only remembers the message: a panic that is caught (a
    // plugin's, contained by the SDK or a task boundary) is not a crash.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::debug!(component = "cli", event = "panic", "{message}{location}");
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(message);
        }
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plugflow: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(dispatch(&cli))
    }));
    // A plugin call abandoned at its timeout may still hold a blocking
    // thread; it must not keep the process from exiting.
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            if let (OutputFormat::Json, Some(doc)) = (cli.global.output, &error.document) {
                println!("{}", serde_json::to_string_pretty(doc).unwrap_or_default());
            }
            eprintln!("plugflow: {}", error.message);
            ExitCode::from(error.code)
        }
        Err(_) => {
            let message = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut last| last.take())
                .unwrap_or_else(|| "unknown panic".to_owned());
            eprintln!("plugflow: internal error: {message} (please report this bug)");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
