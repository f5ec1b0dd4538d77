//! The plugin-host and scanner children for the benchmarks (the
//! `plugflow` binary does the same): `bench-plugin-host __plugin-host SETTINGS`
//! or `bench-plugin-host __scan-plugins CONFIG FILE...`.

fn main() -> std::process::ExitCode {
    let code = loader::child_mode(std::env::args_os().skip(1)).unwrap_or_else(|| {
        eprintln!(
            "usage: bench-plugin-host __plugin-host SETTINGS | __scan-plugins CONFIG FILE..."
        );
        2
    });
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
