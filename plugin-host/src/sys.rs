//! The few operating-system calls the process tier needs that std does not
//! offer: taking fds 0 and 1 for the program's own use and pointing them
//! elsewhere, and how a child ended.

/// Takes this process's stdin for the protocol and points fd 0 at
/// `/dev/null`: a plugin that reads stdin cannot consume the host's calls.
#[cfg(unix)]
pub(crate) fn reserve_stdin() -> std::io::Result<std::fs::File> {
    use std::os::fd::{AsFd, AsRawFd};
    let own = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: dup2 on descriptors this process owns and that stay open for
    // the call; fd 0 then refers to /dev/null.
    if unsafe { libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(own)
}

/// Without Unix descriptors, stdin stays shared.
#[cfg(not(unix))]
pub(crate) fn reserve_stdin() -> std::io::Result<std::fs::File> {
    Err(std::io::Error::other(
        "stdin cannot be reserved on this platform",
    ))
}

/// Takes this process's stdout for the program's own output and points fd
/// 1 at stderr: what plugins loaded in this process print (`println!`)
/// then lands among the logs, never in the program's output — a JSON
/// document on stdout stays exactly one document.
///
/// # Errors
///
/// When the descriptors cannot be duplicated (stdout is then left as it
/// was).
#[cfg(unix)]
pub fn reserve_stdout() -> std::io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    let own = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    // SAFETY: dup2 on descriptors this process owns; fd 1 then refers to
    // the same open file as fd 2.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(own)
}

/// Without Unix descriptors, stdout stays shared.
#[cfg(not(unix))]
pub fn reserve_stdout() -> std::io::Result<std::fs::File> {
    Err(std::io::Error::other(
        "stdout cannot be reserved on this platform",
    ))
}

/// How a child ended, in words for an error message.
pub(crate) fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal} ({})", signal_name(signal));
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "ended abnormally".to_owned(),
    }
}

#[cfg(unix)]
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT: the plugin aborted",
        libc::SIGSEGV => "SIGSEGV: the plugin touched invalid memory",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGXCPU => "SIGXCPU: the CPU-time limit was reached",
        libc::SIGSYS => "SIGSYS: a forbidden system call",
        _ => "signal",
    }
}
