//! The seccomp filters: which system calls the sandboxed interpreter may not make.
//!
//! Two filters, built once per process before any fork: a deny list answering `EPERM` (sockets,
//! new processes, namespaces, mounts, modules, tracing, io_uring, clocks, keyrings, and calls
//! that act on another process by pid), and a small hand-written one answering `ENOSYS` to
//! `clone3` (so that glibc falls back to `clone`, whose flags the first filter can inspect) and,
//! on x86_64, to the x32 syscall range (which would otherwise bypass a deny list).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    sock_filter, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

/// System calls denied outright.
const DENIED: &[libc::c_long] = &[
    // Network: no socket of any family (socketpair stays, it reaches nothing).
    libc::SYS_socket,
    // Other processes: tracing, memory access, file descriptor theft.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    // Namespaces and mounts.
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    // The kernel itself.
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_fanotify_init,
    libc::SYS_vhangup,
    // The machine's clock and names.
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    // Exec only through plain execve (Landlock limits it to the interpreter).
    libc::SYS_execveat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// System calls that may only act on the calling process (pid 0): otherwise the sandbox could
/// lower the limits or priority of the host, which runs as the same user.
const SELF_ONLY: &[libc::c_long] =
    &[libc::SYS_prlimit64, libc::SYS_sched_setaffinity, libc::SYS_sched_setscheduler, libc::SYS_sched_setparam, libc::SYS_sched_setattr];

#[cfg(target_arch = "x86_64")]
const ARCH: Option<(TargetArch, u32)> = Some((TargetArch::x86_64, 0xC000_003E));
#[cfg(target_arch = "aarch64")]
const ARCH: Option<(TargetArch, u32)> = Some((TargetArch::aarch64, 0xC000_00B7));
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<(TargetArch, u32)> = None;

/// The filters to install, in order, or why there are none for this machine.
pub(crate) fn filters() -> Result<&'static [BpfProgram], String> {
    static FILTERS: OnceLock<Result<Vec<BpfProgram>, String>> = OnceLock::new();
    FILTERS.get_or_init(build).as_deref().map_err(Clone::clone)
}

fn build() -> Result<Vec<BpfProgram>, String> {
    let (arch, audit_arch) = ARCH.ok_or_else(|| format!("the sandbox has no seccomp filter for {}", std::env::consts::ARCH))?;
    let deny_list = deny_list(arch).map_err(|e| format!("building the seccomp deny list failed: {e}"))?;
    Ok(vec![deny_list, enosys_filter(audit_arch)])
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(conditions)
}

fn deny_list(arch: TargetArch) -> Result<BpfProgram, BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&nr| (nr as i64, Vec::new())).collect();
    // clone: threads only. A new process (fork, vfork, posix_spawn) lacks CLONE_THREAD.
    rules.insert(libc::SYS_clone as i64, vec![rule(vec![condition(0, SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64), 0)?])?]);
    for &nr in SELF_ONLY {
        rules.insert(nr as i64, vec![rule(vec![condition(0, SeccompCmpOp::Ne, 0)?])?]);
    }
    // setpriority(which, who, prio): only PRIO_PROCESS of the caller (who = 0).
    rules.insert(
        libc::SYS_setpriority as i64,
        vec![rule(vec![condition(0, SeccompCmpOp::Ne, libc::PRIO_PROCESS as u64)?])?, rule(vec![condition(1, SeccompCmpOp::Ne, 0)?])?],
    );
    // ioprio_set(which, who, prio): only IOPRIO_WHO_PROCESS (1) of the caller.
    rules.insert(
        libc::SYS_ioprio_set as i64,
        vec![rule(vec![condition(0, SeccompCmpOp::Ne, 1)?])?, rule(vec![condition(1, SeccompCmpOp::Ne, 0)?])?],
    );
    // kill(pid, sig) with pid < 0 signals process groups or, with -1, every process the user owns.
    rules.insert(libc::SYS_kill as i64, vec![rule(vec![condition(0, SeccompCmpOp::Ge, 0x8000_0000)?])?]);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)?;
    BpfProgram::try_from(filter)
}

fn statement(code: u32, k: u32) -> sock_filter {
    sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code: code as u16, jt, jf, k }
}

/// `clone3` and (on x86_64) x32 system calls answer `ENOSYS`; everything else passes on.
fn enosys_filter(audit_arch: u32) -> BpfProgram {
    const ARCH_OFFSET: u32 = 4;
    const NR_OFFSET: u32 = 0;
    let x32_bit: u32 = if cfg!(target_arch = "x86_64") { 0x4000_0000 } else { u32::MAX };
    let allow = libc::SECCOMP_RET_ALLOW;
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    vec![
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH_OFFSET),
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, audit_arch, 1, 0),
        statement(libc::BPF_RET | libc::BPF_K, allow),
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR_OFFSET),
        jump(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, x32_bit, 2, 0),
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, libc::SYS_clone3 as u32, 1, 0),
        statement(libc::BPF_RET | libc::BPF_K, allow),
        statement(libc::BPF_RET | libc::BPF_K, enosys),
    ]
}

/// Installs `filters` on the calling thread. Async-signal-safe: called between fork and exec.
pub(crate) fn install(filters: &[BpfProgram]) -> std::io::Result<()> {
    for program in filters {
        if seccompiler::apply_filter(program).is_err() {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_build_for_this_machine() {
        let filters = filters().expect("x86_64 or aarch64");
        assert_eq!(filters.len(), 2);
        assert!(filters.iter().all(|f| !f.is_empty() && f.len() < 4096));
    }
}
