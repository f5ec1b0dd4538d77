//! The child modes a host binary must dispatch before anything else: the
//! isolated scanner and the process tier's plugin host.

use std::ffi::OsString;
use std::path::PathBuf;

/// Runs the child mode `args` (the program's arguments, without its name)
/// ask for — `__scan-plugins CONFIG FILE...` or `__plugin-host SETTINGS` —
/// and returns its exit code; `None` when the arguments name neither, so
/// the binary goes on as itself.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     if let Some(code) = loader::child_mode(std::env::args_os().skip(1)) {
///         return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
///     }
///     // ... the program itself ...
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn child_mode(args: impl IntoIterator<Item = OsString>) -> Option<i32> {
    let mut args = args.into_iter();
    let mode = args.next()?;
    let text = |a: Option<OsString>| a.and_then(|a| a.into_string().ok()).unwrap_or_default();
    if mode == crate::PLUGIN_HOST_ARG {
        return Some(crate::hosted::child_main(&text(args.next())));
    }
    if mode == crate::SCANNER_ARG {
        let config = text(args.next());
        let files: Vec<PathBuf> = args.map(Into::into).collect();
        return Some(crate::isolate::child_main(&config, &files));
    }
    None
}
