//! The sandbox of untrusted plugins' children (Linux), set before the
//! library is opened so its initialisers are confined too:
//!
//! * **filesystem (Landlock):** no file may be created, written,
//!   truncated, renamed, linked or removed, and no directory, socket
//!   file, FIFO or device node made, anywhere but beneath the scratch
//!   directory. Reading and mapping files stays allowed (the library and
//!   its dependencies must load).
//! * **system calls (seccomp):** `socket` for `AF_INET`, `AF_INET6`,
//!   `AF_PACKET` and `AF_NETLINK` fails with `EPERM` (no new network
//!   sockets; Unix sockets and the pipes the child already holds stay
//!   usable), and so do `execve`, `execveat` (no program can be run),
//!   `ptrace` and `process_vm_writev`.
//!
//! Both apply to the whole child and to anything it forks. A kernel
//! without Landlock makes the child refuse to start (the plugin's calls
//! then fail with `PLUGIN_CRASHED` naming why): an untrusted plugin never
//! runs unconfined.

use std::path::Path;

/// What [`apply`] put in force, for the host's status.
pub const DESCRIPTION: &str =
    "landlock: writes only beneath the scratch directory; seccomp: no inet/packet/netlink sockets, no exec, no ptrace";

/// Confines this process.
///
/// # Errors
///
/// When the kernel cannot enforce the filesystem rule or the filter (the
/// message says which), so the caller refuses to run the plugin.
#[cfg(target_os = "linux")]
pub fn apply(scratch: &Path) -> Result<(), String> {
    std::fs::create_dir_all(scratch).map_err(|e| {
        format!(
            "cannot create the scratch directory {}: {e}",
            scratch.display()
        )
    })?;
    filesystem(scratch)?;
    system_calls()
}

/// Only Linux has the sandbox.
#[cfg(not(target_os = "linux"))]
pub fn apply(_scratch: &Path) -> Result<(), String> {
    Err("the sandbox for untrusted plugins needs Linux (Landlock and seccomp)".to_owned())
}

#[cfg(target_os = "linux")]
fn filesystem(scratch: &Path) -> Result<(), String> {
    use landlock::{
        path_beneath_rules, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI,
    };
    let abi = ABI::V3;
    let writes = AccessFs::from_write(abi);
    let status = Ruleset::default()
        .handle_access(writes)
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules([scratch], writes)))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("Landlock refused the filesystem rule: {e}"))?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err(
            "this kernel does not enforce Landlock, so writes outside the scratch directory cannot be prevented; run untrusted plugins on a kernel with Landlock (Linux 5.13+, enabled at boot)".to_owned(),
        ),
    }
}

#[cfg(target_os = "linux")]
fn system_calls() -> Result<(), String> {
    use std::collections::BTreeMap;

    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    let fail = |e: &dyn std::fmt::Display| format!("cannot build the seccomp filter: {e}");
    let mut socket_rules = Vec::new();
    for domain in [
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_PACKET,
        libc::AF_NETLINK,
    ] {
        let condition = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            u64::try_from(domain).unwrap_or_default(),
        )
        .map_err(|e| fail(&e))?;
        socket_rules.push(SeccompRule::new(vec![condition]).map_err(|e| fail(&e))?);
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_socket, socket_rules);
    for always in [
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_writev,
    ] {
        rules.insert(always, Vec::new());
    }
    let arch = std::env::consts::ARCH.try_into().map_err(|e| fail(&e))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(u32::try_from(libc::EPERM).unwrap_or(1)),
        arch,
    )
    .map_err(|e| fail(&e))?;
    let program: BpfProgram = filter.try_into().map_err(|e| fail(&e))?;
    seccompiler::apply_filter_all_threads(&program)
        .map_err(|e| format!("the kernel refused the seccomp filter: {e}"))
}
