//! One running interpreter process: starting it confined, and the framed conversation with its
//! driver while its stdout and stderr are read on the side.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::filesystem;
use crate::isolation::{ChildSetup, Namespaces, Plan};
use crate::output::CappedBuffer;
use crate::protocol::{encode, DriverFrame, FrameReader, HostFrame};
use crate::python::{PythonInstallation, PYTHON_FLAGS};
use crate::quota::DiskQuota;
use crate::sandbox::Interruption;
use crate::{SandboxConfig, SandboxError};

/// The driver the interpreter runs (see its docstring for the protocol).
const DRIVER: &str = include_str!("driver.py");

/// Compiles the driver (passed as the last argument) under a name its tracebacks can be told by.
const BOOTSTRAP: &str =
    "import sys; source = sys.argv.pop(); exec(compile(source, '<agentos-driver>', 'exec'), {'__name__': '__agentos_driver__'})";

/// How long a fresh interpreter may take to import its site-packages and answer the handshake.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an output stream is read after an execution ends (a background thread that
/// prints forever must not hold the host).
const DRAIN_LIMIT: usize = 1 << 20;

fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two fds into `fds`, which we then own.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe as (read end, write end), both close-on-exec.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into `fds`, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn duplicate_above(fd: &OwnedFd, lowest: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd that we own.
    let duplicate = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, lowest) };
    if duplicate < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(duplicate) })
}

fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: the AsyncFd owns the fd and nothing else closes or replaces it.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}

fn raw_read(fd: &AsyncFd<OwnedFd>, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reads into a buffer we own, of its length.
    let n = unsafe { libc::read(fd.get_ref().as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One read from `fd` when it is readable: `Ok(0)` at end of file.
async fn read_some(fd: &AsyncFd<OwnedFd>, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| raw_read(inner, buffer)) {
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

/// stdout and stderr of one execution.
pub(crate) struct Streams {
    pub stdout: CappedBuffer,
    pub stderr: CappedBuffer,
}

impl Streams {
    /// Empty streams, each keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Streams { stdout: CappedBuffer::new(limit), stderr: CappedBuffer::new(limit) }
    }
}

/// What happened next while waiting on the interpreter.
pub(crate) enum Event {
    Frame(DriverFrame),
    /// The driver's socket closed: the interpreter died or closed it.
    Closed,
    Deadline,
    Violation(String),
}

/// How sending a frame ended.
pub(crate) enum Sent {
    Done,
    Closed,
    Deadline,
}

/// One running interpreter process and the host's ends of its pipes.
pub(crate) struct Interpreter {
    child: tokio::process::Child,
    protocol: AsyncFd<OwnedFd>,
    stdout: AsyncFd<OwnedFd>,
    stderr: AsyncFd<OwnedFd>,
    frames: FrameReader,
    /// An exec frame was sent and its `done` frame not yet read.
    pub in_cell: bool,
    /// The library functions the driver could not define, by name, with why.
    pub library_failures: BTreeMap<String, String>,
    protocol_open: bool,
    stdout_open: bool,
    stderr_open: bool,
}

impl Interpreter {
    /// Starts a confined interpreter for `config` (in the namespaces of `quota`, when there is
    /// one) and completes the handshake.
    pub async fn start(
        python: &PythonInstallation,
        plan: &Plan,
        config: &SandboxConfig,
        env: &[(String, String)],
        quota: Option<&DiskQuota>,
    ) -> Result<Interpreter, SandboxError> {
        let (host_end, child_end) = socket_pair()?;
        // Above the fds the child's dup2 targets, so that moving it to fd 3 cannot clobber another.
        let child_end = duplicate_above(&child_end, 10)?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        // With a quota the code's work directory is the overlay, whose inodes Landlock must grant.
        let work_dir = quota.map_or_else(|| config.work_dir.clone(), DiskQuota::merged_path);
        let landlock = match plan.landlock {
            true => Some(filesystem::ruleset(&work_dir, python, plan.scopes)?),
            false => None,
        };
        let namespaces = match (plan.namespaces, quota) {
            (false, _) => Namespaces::None,
            (true, None) => Namespaces::New,
            (true, Some(quota)) => {
                let (user, mount) = quota.namespaces();
                let work_dir = std::ffi::CString::new(config.work_dir.as_os_str().as_encoded_bytes())
                    .map_err(|e| SandboxError::WorkDir { path: config.work_dir.clone(), reason: e.to_string() })?;
                Namespaces::Join { user, mount, work_dir }
            }
        };
        let mut setup = ChildSetup {
            protocol_fd: child_end.as_raw_fd(),
            namespaces,
            rlimits: ChildSetup::rlimits(&config.limits),
            landlock,
            seccomp: plan.seccomp,
        };
        let mut command = tokio::process::Command::new(&python.executable);
        command
            .args(PYTHON_FLAGS)
            .args(["-c", BOOTSTRAP, DRIVER])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&config.work_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout_write))
            .stderr(Stdio::from(stderr_write))
            .kill_on_drop(true);
        // SAFETY: `apply` makes only async-signal-safe system calls on data prepared above.
        unsafe { command.pre_exec(move || setup.apply()) };
        let child = command.spawn().map_err(|source| SandboxError::Spawn { python: python.executable.clone(), source })?;
        drop(command);
        drop(child_end);
        let mut interpreter = Interpreter {
            child,
            protocol: async_fd(host_end)?,
            stdout: async_fd(stdout_read)?,
            stderr: async_fd(stderr_read)?,
            frames: FrameReader::default(),
            in_cell: false,
            library_failures: BTreeMap::new(),
            protocol_open: true,
            stdout_open: true,
            stderr_open: true,
        };
        interpreter.handshake(config).await?;
        Ok(interpreter)
    }

    /// Sends the init frame and waits for `ready`; startup output is dropped unless it explains a failure.
    async fn handshake(&mut self, config: &SandboxConfig) -> Result<(), SandboxError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut streams = Streams::new(config.limits.output_bytes.max(4096));
        let init = encode(&HostFrame::Init { tools: &config.tools, library: &config.library, output_limit: config.limits.output_bytes });
        let failure = match self.send(&init, deadline).await {
            Sent::Done => match self.next_event(&mut streams, deadline).await {
                Event::Frame(DriverFrame::Ready { library_failures }) => {
                    self.library_failures = library_failures;
                    return Ok(());
                }
                Event::Frame(other) => format!("it answered the handshake with {other:?}"),
                Event::Closed => self.died().await.to_string(),
                Event::Deadline => format!("it did not answer within {} s", START_TIMEOUT.as_secs()),
                Event::Violation(detail) => detail,
            },
            Sent::Closed => self.died().await.to_string(),
            Sent::Deadline => format!("it did not read its init frame within {} s", START_TIMEOUT.as_secs()),
        };
        self.terminate().await;
        self.drain(&mut streams);
        let stderr = streams.stderr.clipped().render(config.limits.output_bytes.max(4096));
        Err(SandboxError::Handshake {
            detail: if stderr.trim().is_empty() { failure } else { format!("{failure}; its stderr:\n{}", stderr.trim_end()) },
        })
    }

    /// Writes `bytes` to the driver by the deadline.
    pub async fn send(&self, bytes: &[u8], deadline: Instant) -> Sent {
        let mut written = 0;
        while written < bytes.len() {
            let mut guard = match tokio::time::timeout_at(deadline, self.protocol.writable()).await {
                Err(_) => return Sent::Deadline,
                Ok(Err(_)) => return Sent::Closed,
                Ok(Ok(guard)) => guard,
            };
            let rest = &bytes[written..];
            let result = guard.try_io(|fd| {
                // SAFETY: sends from a buffer we own; MSG_NOSIGNAL turns a dead peer into EPIPE, not SIGPIPE.
                let n = unsafe { libc::send(fd.get_ref().as_raw_fd(), rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(Ok(n)) => written += n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => return Sent::Closed,
                Err(_would_block) => {}
            }
        }
        Sent::Done
    }

    /// Reads stdout, stderr and the socket until a frame is complete, the socket closes or the deadline passes.
    pub async fn next_event(&mut self, streams: &mut Streams, deadline: Instant) -> Event {
        let mut scratch = vec![0u8; 3 * 16384];
        loop {
            match self.frames.next_frame() {
                Ok(Some(frame)) => return Event::Frame(frame),
                Ok(None) => {}
                Err(detail) => return Event::Violation(detail),
            }
            if !self.protocol_open {
                return Event::Closed;
            }
            let (socket_buffer, rest) = scratch.split_at_mut(16384);
            let (stdout_buffer, stderr_buffer) = rest.split_at_mut(16384);
            tokio::select! {
                read = read_some(&self.protocol, socket_buffer) => match read {
                    Ok(n) if n > 0 => self.frames.push(&socket_buffer[..n]),
                    _ => self.protocol_open = false,
                },
                read = read_some(&self.stdout, stdout_buffer), if self.stdout_open => match read {
                    Ok(n) if n > 0 => streams.stdout.push(&stdout_buffer[..n]),
                    _ => self.stdout_open = false,
                },
                read = read_some(&self.stderr, stderr_buffer), if self.stderr_open => match read {
                    Ok(n) if n > 0 => streams.stderr.push(&stderr_buffer[..n]),
                    _ => self.stderr_open = false,
                },
                () = tokio::time::sleep_until(deadline) => return Event::Deadline,
            }
        }
    }

    /// Reads what the code wrote before its last frame (or before it died) without waiting.
    pub fn drain(&mut self, streams: &mut Streams) {
        let mut buffer = [0u8; 16384];
        for (fd, open, sink) in
            [(&self.stdout, &mut self.stdout_open, &mut streams.stdout), (&self.stderr, &mut self.stderr_open, &mut streams.stderr)]
        {
            let mut drained = 0;
            while *open && drained < DRAIN_LIMIT {
                match raw_read(fd, &mut buffer) {
                    Ok(0) => *open = false,
                    Ok(n) => {
                        sink.push(&buffer[..n]);
                        drained += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => *open = false,
                }
            }
        }
    }

    /// After the socket closed: kills what is left and says how the interpreter ended.
    pub async fn died(&mut self) -> Interruption {
        match self.terminate().await {
            Some(status) => Interruption::Died { signal: status.signal(), exit_code: status.code() },
            None => Interruption::Died { signal: None, exit_code: None },
        }
    }

    /// Sends `SIGKILL` to the interpreter's process group.
    pub fn kill_group(&self) {
        // An unreaped child keeps its pid, so the group id cannot belong to anyone else yet.
        if let Some(pid) = self.child.id() {
            // SAFETY: signals the process group the child leads (it called setsid).
            unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
        }
    }

    /// Kills the process group and waits (at most 10 s) for the interpreter's exit status.
    pub async fn terminate(&mut self) -> Option<ExitStatus> {
        self.kill_group();
        let _ = self.child.start_kill();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.ok().and_then(Result::ok)
    }
}
