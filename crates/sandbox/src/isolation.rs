//! Which confinement mechanisms this machine has, which a sandbox applies, and applying them in
//! the child between fork and exec.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

use landlock::{RulesetCreated, RulesetStatus};
use seccompiler::BpfProgram;

use crate::{quota, syscalls, Limits, SandboxError};

/// A kernel mechanism that confines the interpreter. Rlimits, the wall-clock timeout, the own
/// process group and the emptied environment need nothing from the kernel and are always applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// Landlock file-system rules: read-write work directory; read-only Python installation and
    /// system libraries; exec of the interpreter only; no TCP bind or connect.
    LandlockFilesystem,
    /// Landlock scoping (ABI 6): no signals to, and no abstract Unix sockets of, processes outside
    /// the sandbox, which otherwise share the host's user id.
    LandlockScopes,
    /// A new user namespace (no capabilities on the host) and network namespace (no network).
    Namespaces,
    /// The seccomp filter: no sockets, no new processes, no mount, namespace, module, tracing,
    /// io_uring or clock syscalls, and pid-targeted syscalls only on the interpreter itself.
    Seccomp,
    /// The disk quota: in a mount namespace of the sandbox's own, an overlay over the work
    /// directory whose writes land in a tmpfs of [`Limits::disk_bytes`] and
    /// [`Limits::disk_files`], copied back into the work directory by the host.
    DiskQuota,
}

impl Mechanism {
    /// Every mechanism, in the order they are reported.
    pub const ALL: [Mechanism; 5] =
        [Mechanism::LandlockFilesystem, Mechanism::LandlockScopes, Mechanism::Namespaces, Mechanism::Seccomp, Mechanism::DiskQuota];

    /// What the mechanism keeps from the code.
    pub fn protects(self) -> &'static str {
        match self {
            Mechanism::LandlockFilesystem => "files outside the work directory and programs other than Python",
            Mechanism::LandlockScopes => "signals to other processes of the same user (the host among them)",
            Mechanism::Namespaces => "the network and the host's capabilities",
            Mechanism::Seccomp => "sockets, new processes (fork bombs, subprocess, os.system) and kernel-level syscalls",
            Mechanism::DiskQuota => "the host's disk: the bytes and number of files the code writes",
        }
    }

    /// What the kernel needs to offer it.
    pub fn requirement(self) -> &'static str {
        match self {
            Mechanism::LandlockFilesystem => "Landlock (Linux 5.13+, `landlock` in the kernel's lsm= list)",
            Mechanism::LandlockScopes => "Landlock ABI 6 (Linux 6.12+)",
            Mechanism::Namespaces => "user namespaces (CONFIG_USER_NS, not disabled by sysctl or AppArmor)",
            Mechanism::Seccomp => "seccomp filters (CONFIG_SECCOMP_FILTER) on x86_64 or aarch64",
            Mechanism::DiskQuota => {
                "user and mount namespaces with tmpfs and overlayfs mountable in them (Linux 5.11+, overlayfs `userxattr`)"
            }
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::LandlockFilesystem => "Landlock file-system rules",
            Mechanism::LandlockScopes => "Landlock signal scoping",
            Mechanism::Namespaces => "user and network namespaces",
            Mechanism::Seccomp => "seccomp filter",
            Mechanism::DiskQuota => "disk quota (a tmpfs under an overlay)",
        })
    }
}

/// A mechanism this machine lacks, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// What the probe found, e.g. the error of `unshare(2)`.
    pub reason: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mechanism;
        write!(f, "no {m} ({}), which keeps {} from the code; it needs {}", self.reason, m.protects(), m.requirement())
    }
}

/// The mechanisms this machine's kernel lacks (empty when a sandbox would be fully confined),
/// probed once per process by forking three short-lived children. The CLI can call this before
/// starting a run, to tell the user to pass `--unsafe-sandbox` or to fix the machine.
pub fn missing_mechanisms() -> Vec<Missing> {
    KernelSupport::get().missing()
}

/// What the kernel offers, probed once per process.
#[derive(Debug)]
pub(crate) struct KernelSupport {
    /// Landlock ABI version, or why there is none.
    pub landlock_abi: Result<u32, String>,
    /// Whether a child can enter new user and network namespaces, or the error.
    pub namespaces: Result<(), String>,
    /// The seccomp filters, if a child could install them, or why not.
    pub seccomp: Result<&'static [BpfProgram], String>,
    /// Whether a disk quota could be set up over a temporary folder, or why not.
    pub disk_quota: Result<(), String>,
}

impl KernelSupport {
    /// Probes once (forking three short-lived children) and caches the answer.
    pub fn get() -> &'static KernelSupport {
        static SUPPORT: OnceLock<KernelSupport> = OnceLock::new();
        SUPPORT.get_or_init(|| {
            let seccomp = syscalls::filters().and_then(|filters| in_child(|| syscalls::install(filters)).map(|()| filters));
            KernelSupport {
                landlock_abi: landlock_abi(),
                namespaces: in_child(enter_namespaces).map_err(|e| format!("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed: {e}")),
                seccomp,
                disk_quota: quota::probe(),
            }
        })
    }

    /// What is missing, in [`Mechanism::ALL`] order.
    pub fn missing(&self) -> Vec<Missing> {
        let mut missing = Vec::new();
        match &self.landlock_abi {
            Err(reason) => {
                missing.push(Missing { mechanism: Mechanism::LandlockFilesystem, reason: reason.clone() });
                missing.push(Missing { mechanism: Mechanism::LandlockScopes, reason: reason.clone() });
            }
            Ok(abi) if *abi < 6 => {
                missing.push(Missing { mechanism: Mechanism::LandlockScopes, reason: format!("this kernel has Landlock ABI {abi}") })
            }
            Ok(_) => {}
        }
        if let Err(reason) = &self.namespaces {
            missing.push(Missing { mechanism: Mechanism::Namespaces, reason: reason.clone() });
        }
        if let Err(reason) = &self.seccomp {
            missing.push(Missing { mechanism: Mechanism::Seccomp, reason: reason.clone() });
        }
        if let Err(reason) = &self.disk_quota {
            missing.push(Missing { mechanism: Mechanism::DiskQuota, reason: reason.clone() });
        }
        missing
    }
}

fn landlock_abi() -> Result<u32, String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the version query reads no memory.
    let version =
        unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, LANDLOCK_CREATE_RULESET_VERSION) };
    if version > 0 {
        return Ok(version as u32);
    }
    Err(match io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => "Landlock is built into this kernel but not enabled at boot".to_string(),
        _ => "this kernel has no Landlock".to_string(),
    })
}

fn enter_namespaces() -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `probe` in a forked child and reports its result. `probe` must be async-signal-safe.
fn in_child(probe: impl FnOnce() -> io::Result<()>) -> Result<(), String> {
    // SAFETY: the child only runs `probe` (async-signal-safe by contract) and `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork failed: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = match probe() {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(255).clamp(1, 255),
        };
        // SAFETY: leaves the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(format!("waiting for the probe failed: {}", io::Error::last_os_error()));
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, code) => Err(io::Error::from_raw_os_error(code).to_string()),
        _ => Err(format!("the probe died with wait status {status}")),
    }
}

/// The mechanisms one sandbox applies: what the kernel has, or an error naming what it lacks.
#[derive(Debug)]
pub(crate) struct Plan {
    pub landlock_abi: Option<u32>,
    pub landlock: bool,
    pub scopes: bool,
    pub namespaces: bool,
    pub seccomp: Option<&'static [BpfProgram]>,
    pub disk_quota: bool,
    pub missing: Vec<Missing>,
}

impl Plan {
    /// Applies everything `support` offers; refuses when something is missing unless `allow_unsafe`.
    pub fn new(support: &KernelSupport, allow_unsafe: bool) -> Result<Plan, SandboxError> {
        let missing = support.missing();
        if !missing.is_empty() && !allow_unsafe {
            return Err(SandboxError::MissingMechanisms { missing });
        }
        let landlock_abi = support.landlock_abi.as_ref().ok().copied();
        Ok(Plan {
            landlock_abi,
            landlock: landlock_abi.is_some(),
            scopes: landlock_abi.is_some_and(|abi| abi >= 6),
            namespaces: support.namespaces.is_ok(),
            seccomp: support.seccomp.as_ref().ok().copied(),
            // The quota's mounts live in a user namespace: without namespaces there is none.
            disk_quota: support.disk_quota.is_ok() && support.namespaces.is_ok(),
            missing,
        })
    }

    /// The mechanisms this plan applies.
    pub fn active(&self) -> Vec<Mechanism> {
        Mechanism::ALL.into_iter().filter(|m| !self.missing.iter().any(|missing| missing.mechanism == *m)).collect()
    }
}

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// What the child does to itself between fork and exec. Everything is prepared by the parent;
/// [`ChildSetup::apply`] only makes system calls.
pub(crate) struct ChildSetup {
    /// The child's end of the protocol socket, moved to fd 3.
    pub protocol_fd: RawFd,
    pub namespaces: Namespaces,
    pub rlimits: [(Resource, libc::rlimit); 5],
    pub landlock: Option<RulesetCreated>,
    pub seccomp: Option<&'static [BpfProgram]>,
}

/// Which namespaces the child enters.
pub(crate) enum Namespaces {
    /// None (the machine lacks them and `allow_unsafe` is set).
    None,
    /// A new user and network namespace.
    New,
    /// The user and mount namespace of the sandbox's disk quota, a new network namespace, and the
    /// work directory (as the mount namespace shows it) as the current directory.
    Join { user: RawFd, mount: RawFd, work_dir: CString },
}

/// The fd the driver reads and writes frames on.
pub(crate) const PROTOCOL_FD: RawFd = 3;

impl ChildSetup {
    /// The rlimits for `limits`: CPU (soft, then `SIGKILL` a second later), address space, file
    /// size, open files, and no core dumps.
    pub fn rlimits(limits: &Limits) -> [(Resource, libc::rlimit); 5] {
        let both = |value: u64| libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
        let cpu =
            libc::rlimit { rlim_cur: limits.cpu_seconds as libc::rlim_t, rlim_max: limits.cpu_seconds.saturating_add(1) as libc::rlim_t };
        [
            (libc::RLIMIT_CPU, cpu),
            (libc::RLIMIT_AS, both(limits.memory_bytes)),
            (libc::RLIMIT_FSIZE, both(limits.file_size_bytes)),
            (libc::RLIMIT_NOFILE, both(limits.open_files)),
            (libc::RLIMIT_CORE, both(0)),
        ]
    }

    /// Confines the calling (child) process: a session of its own, namespaces (joining the disk
    /// quota's), rlimits, the protocol socket on fd 3 and every other fd above 2 closed at exec,
    /// Landlock, then seccomp.
    /// Async-signal-safe: no allocation, no locks.
    pub fn apply(&mut self) -> io::Result<()> {
        // SAFETY (whole function): plain system calls on values prepared before fork.
        unsafe {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            match &self.namespaces {
                Namespaces::None => {}
                Namespaces::New => enter_namespaces()?,
                Namespaces::Join { user, mount, work_dir } => {
                    for (fd, kind) in [(*user, libc::CLONE_NEWUSER), (*mount, libc::CLONE_NEWNS)] {
                        if libc::setns(fd, kind) != 0 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                    if libc::unshare(libc::CLONE_NEWNET) != 0 || libc::chdir(work_dir.as_ptr()) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            for (resource, limit) in &self.rlimits {
                if libc::setrlimit(*resource, limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::dup2(self.protocol_fd, PROTOCOL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::syscall(libc::SYS_close_range, PROTOCOL_FD as libc::c_uint + 1, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                for fd in PROTOCOL_FD + 1..65536 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
        }
        if let Some(ruleset) = self.landlock.take() {
            match ruleset.restrict_self() {
                Ok(status) if status.ruleset != RulesetStatus::NotEnforced => {}
                Ok(_) => return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
                Err(_) => return Err(io::Error::last_os_error()),
            }
        }
        if let Some(filters) = self.seccomp {
            syscalls::install(filters)?;
        }
        Ok(())
    }
}

/// What confines one sandbox, for the CLI to print.
#[derive(Clone, Debug)]
pub struct IsolationReport {
    /// The interpreter (the real executable).
    pub python: PathBuf,
    /// Its version, e.g. `3.11.7`.
    pub python_version: String,
    /// The work directory (canonical).
    pub work_dir: PathBuf,
    /// Mechanisms applied.
    pub active: Vec<Mechanism>,
    /// Mechanisms this machine lacks (non-empty only with `allow_unsafe`).
    pub missing: Vec<Missing>,
    /// The kernel's Landlock ABI, if it has Landlock.
    pub landlock_abi: Option<u32>,
    /// What the code may read besides the work directory (with Landlock): the Python
    /// installation, its `sys.path` and the system libraries.
    pub read_only: Vec<PathBuf>,
    /// The limits applied.
    pub limits: Limits,
    /// Names of the environment variables the code sees.
    pub env: Vec<String>,
}

impl IsolationReport {
    /// Whether every mechanism is active.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sandbox: python {} ({}), work directory {}", self.python_version, self.python.display(), self.work_dir.display())?;
        for mechanism in &self.active {
            match (mechanism, self.landlock_abi) {
                (Mechanism::LandlockFilesystem, Some(abi)) => {
                    writeln!(f, "  active   {mechanism} (ABI {abi}): keeps {}", mechanism.protects())?
                }
                _ => writeln!(f, "  active   {mechanism}: keeps {}", mechanism.protects())?,
            }
        }
        for missing in &self.missing {
            writeln!(f, "  MISSING  {missing}")?;
        }
        let read_only: Vec<String> = self.read_only.iter().map(|p| p.display().to_string()).collect();
        writeln!(f, "  reads    {} (read-only)", read_only.join(", "))?;
        let l = &self.limits;
        writeln!(
            f,
            "  limits   {} s wall clock per execution (kills the process group), {} CPU s per interpreter, {} memory, {} per file, {} open files, {} bytes of each output",
            l.timeout.as_secs_f64(),
            l.cpu_seconds,
            mib(l.memory_bytes),
            mib(l.file_size_bytes),
            l.open_files,
            l.output_bytes
        )?;
        writeln!(f, "  env      emptied; the code sees only {}", self.env.join(", "))?;
        if self.active.contains(&Mechanism::DiskQuota) {
            write!(
                f,
                "  disk     {} and {} files written in all (writes refused past them), copied into the work directory after each execution",
                mib(l.disk_bytes),
                l.disk_files
            )
        } else {
            write!(f, "  unlimited: total disk use and number of files in the work directory (only each file's size is limited)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support(landlock_abi: Result<u32, String>, namespaces: Result<(), String>) -> KernelSupport {
        KernelSupport { landlock_abi, namespaces, seccomp: syscalls::filters(), disk_quota: Ok(()) }
    }

    #[test]
    fn a_machine_without_a_mechanism_refuses_and_names_it() {
        let old_kernel = support(Ok(3), Err("unshare failed: Operation not permitted".into()));
        let err = Plan::new(&old_kernel, false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Landlock signal scoping") && text.contains("ABI 3"), "{text}");
        assert!(text.contains("user and network namespaces") && text.contains("Operation not permitted"), "{text}");
        assert!(text.contains("--unsafe-sandbox"), "{text}");
        assert!(!text.contains("seccomp"), "{text}");
    }

    #[test]
    fn allow_unsafe_starts_with_what_there_is_and_reports_the_rest() {
        let no_landlock = support(Err("this kernel has no Landlock".into()), Ok(()));
        let plan = Plan::new(&no_landlock, true).expect("allowed");
        assert!(!plan.landlock && !plan.scopes && plan.namespaces && plan.seccomp.is_some());
        assert_eq!(plan.active(), vec![Mechanism::Namespaces, Mechanism::Seccomp, Mechanism::DiskQuota]);
        assert_eq!(plan.missing.len(), 2);
    }

    #[test]
    fn a_machine_without_overlays_in_namespaces_has_no_disk_quota_and_says_so() {
        let mut no_overlay = support(Ok(6), Ok(()));
        no_overlay.disk_quota = Err("mounting the overlay (overlayfs with userxattr) failed: Invalid argument (os error 22)".into());
        let text = Plan::new(&no_overlay, false).unwrap_err().to_string();
        assert!(text.contains("no disk quota") && text.contains("Invalid argument") && text.contains("Linux 5.11+"), "{text}");
        let plan = Plan::new(&no_overlay, true).expect("allowed");
        assert!(!plan.disk_quota && plan.namespaces);
        assert_eq!(plan.missing.iter().map(|m| m.mechanism).collect::<Vec<_>>(), [Mechanism::DiskQuota]);
    }

    #[test]
    fn this_machine_is_probed_without_harm() {
        let support = KernelSupport::get();
        // Whatever the answer, probing twice gives the same one and the host still runs.
        assert!(std::ptr::eq(support, KernelSupport::get()));
        assert_eq!(support.missing().len(), KernelSupport::get().missing().len());
    }
}
