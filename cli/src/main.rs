//! The `plugflow` command-line program.

mod args;
mod builtins;
mod commands;
mod config;
mod error;
mod host;
mod locate;
mod output;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use args::{AuditCommand, Cli, Command, DbCommand, LogFormat, OutputFormat, PluginsCommand};
use error::{CliError, EXIT_FAILED, EXIT_INVALID};
use output::{sanitize, write_stdout, Output};

// A workflow run allocates many small values (parameters, outputs, results);
// mimalloc serves them for a fraction of the system allocator's cost.
// Plugin libraries loaded from files keep their own allocator: values cross
// the boundary as text or as abi_stable types that free on their own side.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The message of the last panic, printed if it ends the program.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn init_logging(global: &args::Global) -> Result<(), CliError> {
    let filter = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => tracing_subscriber::EnvFilter::try_new(&global.log_level).map_err(|e| {
            CliError::input(format!(
                "--log-level `{}` is not a level (error, warn, info, debug, trace) or a filter: {e}",
                global.log_level
            ))
            .kind("USAGE")
        })?,
    };
    if !args::is_log_level(&global.log_level) {
        return Err(CliError::input(format!(
            "--log-level `{}` is not a level: use error, warn, info, debug or trace (or a filter such as `plugflow=debug`)",
            global.log_level
        ))
        .kind("USAGE"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.fmt_fields(escaped_fields()).try_init(),
    };
    Ok(())
}

/// Text log fields with control characters escaped: a node id or message
/// from a workflow can neither forge a log line nor drive the terminal.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = sanitize(&format!("{value:?}"));
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

async fn dispatch(cli: &Cli) -> Result<Output, CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Run(a) => commands::run::run(g, &a.workflow, &a.run, a.full).await,
        Command::Stats(a) => commands::run::stats(g, &a.workflow, &a.run, a.metrics).await,
        Command::Validate(a) => commands::validate::validate(g, a),
        Command::Plugins(PluginsCommand::List) => commands::plugins::list(g),
        Command::Plugins(PluginsCommand::Inspect { target }) => {
            commands::plugins::inspect(g, target)
        }
        Command::Plugins(PluginsCommand::New {
            name,
            dir,
            plugflow_path,
            published,
        }) => {
            let source = commands::scaffold::Source::choose(plugflow_path.as_deref(), *published)?;
            commands::scaffold::new_plugin(name, dir.as_deref(), &source)
        }
        Command::Plugins(PluginsCommand::Check { dir }) => commands::plugins::check(g, dir),
        Command::Plugins(PluginsCommand::Cache(c)) => commands::plugins::cache(g, c),
        Command::Graph(a) => commands::graph::graph(g, &a.workflow, a.result.as_deref()),
        Command::Audit(AuditCommand::Verify { log }) => commands::audit::verify(g, log),
        Command::Serve(a) => commands::serve::serve(g, a).await,
        Command::Worker(a) => commands::serve::worker(g, a).await,
        Command::Db(DbCommand::Migrate { apply }) => commands::db::migrate(g, *apply),
    }
}

/// Whether the raw arguments (or the environment) ask for JSON output:
/// used when the arguments themselves cannot be parsed.
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
        || std::env::var("PLUGFLOW_OUTPUT").is_ok_and(|v| v == "json")
}

/// Reports `error` (one JSON document or the pretty text on stdout, one
/// line on stderr) and returns its exit code.
fn report(error: &CliError, format: OutputFormat) -> ExitCode {
    let stdout = match format {
        OutputFormat::Json => error.json(),
        OutputFormat::Pretty => error
            .pretty
            .clone()
            .unwrap_or_default()
            .trim_end()
            .to_owned(),
    };
    let _ = write_stdout(&stdout);
    eprint_line(&format!("plugflow: {}", sanitize(&error.message)));
    ExitCode::from(error.code)
}

fn eprint_line(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn main() -> ExitCode {
    // The child modes: `plugflow __scan-plugins CONFIG FILE...` (the
    // isolated scanner) and `plugflow __plugin-host SETTINGS` (the process
    // tier). A library that crashes takes only that child down.
    if let Some(code) = loader::child_mode(std::env::args_os().skip(1)) {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    output::reserve_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = write_stdout(e.to_string().trim_end());
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(EXIT_INVALID)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let message = e.to_string();
            let first = message
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            if json_requested() {
                let error = CliError::input(first.to_owned()).kind("USAGE");
                let _ = write_stdout(&error.json());
            }
            eprint_line(message.trim_end());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let format = cli.global.output;
    if let Err(error) = init_logging(&cli.global) {
        return report(&error, format);
    }
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
            return report(
                &CliError::failed(format!("cannot start the async runtime: {e}")).kind("INTERNAL"),
                format,
            )
        }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(dispatch(&cli))
    }));
    // A plugin call abandoned at its timeout may still hold a blocking
    // thread; it must not keep the process from exiting.
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(output)) => {
            let _ = write_stdout(&output.render(format));
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => report(&error, format),
        Err(_) => {
            let message = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut last| last.take())
                .unwrap_or_else(|| "unknown panic".to_owned());
            report(
                &CliError::new(
                    EXIT_FAILED,
                    "INTERNAL",
                    format!("internal error: {message} (please report this bug)"),
                ),
                format,
            )
        }
    }
}
