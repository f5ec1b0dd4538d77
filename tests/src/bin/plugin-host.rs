//! The plugin-host and scanner children for the integration tests (the
//! `plugflow` binary does the same): `plugin-host __plugin-host SETTINGS`
//! or `plugin-host __scan-plugins CONFIG FILE...`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let code = match args.next().as_deref() {
        Some(loader::PLUGIN_HOST_ARG) => {
            loader::run_plugin_host_child(&args.next().unwrap_or_default())
        }
        Some(loader::SCANNER_ARG) => {
            let config = args.next().unwrap_or_default();
            let files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
            loader::run_scanner_child(&config, &files)
        }
        _ => {
            eprintln!(
                "usage: plugin-host {} SETTINGS | {} CONFIG FILE...",
                loader::PLUGIN_HOST_ARG,
                loader::SCANNER_ARG
            );
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
