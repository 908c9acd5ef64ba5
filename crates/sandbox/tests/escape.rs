//! Escape attempts: each is code an agent could write to leave the sandbox or harm the host. The
//! suite counts them and fails if any succeeds.
//!
//! An attempt's code prints `ESCAPED` when what it tried worked; an attempt is stopped when that
//! word is absent, no planted secret shows up in its observation, and its own check on the host
//! side holds (no connection accepted, no file written outside, the other sandbox alive, ...).

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentos_sandbox::{Execution, NoTools, Sandbox};
use common::config;

/// What the host checks after an attempt, besides the absence of `ESCAPED` and of the secrets.
type HostCheck<'a> = Box<dyn Fn(&Execution) -> Result<(), String> + 'a>;

struct Attempt<'a> {
    name: &'static str,
    code: String,
    check: HostCheck<'a>,
}

fn attempt<'a>(name: &'static str, code: impl Into<String>) -> Attempt<'a> {
    Attempt { name, code: code.into(), check: Box::new(|_| Ok(())) }
}

fn checked<'a>(name: &'static str, code: impl Into<String>, check: impl Fn(&Execution) -> Result<(), String> + 'a) -> Attempt<'a> {
    Attempt { name, code: code.into(), check: Box::new(check) }
}

/// Code that runs `body` and prints `ESCAPED <what>` if it did not raise.
fn must_fail(body: &str, what: &str) -> String {
    let indented: String = body.lines().map(|line| format!("    {line}\n")).collect();
    format!("try:\n{indented}    print('ESCAPED', {what:?})\nexcept Exception as e:\n    print('stopped:', type(e).__name__, e)\n")
}

/// Code that calls libc through ctypes and prints `ESCAPED` if the call returned `success`.
fn libc_call(call: &str, what: &str) -> String {
    format!(
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nresult = libc.{call}\n\
         if result >= 0:\n    print('ESCAPED', {what:?}, result)\nelse:\n    print('stopped:', os.strerror(ctypes.get_errno()))\n"
    )
}

/// Bytes of the regular files under `dir` (each inode once, by its allocated blocks) and the
/// number of entries.
fn disk_use(dir: &Path) -> (u64, u64) {
    fn walk(dir: &Path, inodes: &mut std::collections::HashSet<u64>, bytes: &mut u64, entries: &mut u64) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            *entries += 1;
            if meta.is_dir() {
                walk(&entry.path(), inodes, bytes, entries);
            } else if meta.is_file() && inodes.insert(meta.ino()) {
                *bytes += meta.blocks() * 512;
            }
        }
    }
    let (mut bytes, mut entries) = (0, 0);
    walk(dir, &mut Default::default(), &mut bytes, &mut entries);
    (bytes, entries)
}

fn outcome(condition: bool, failure: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(failure.into())
    }
}

#[tokio::test]
async fn every_escape_attempt_is_stopped() {
    const SECRET: &str = "s3cr3t-agentos-escape-test-value";
    // SAFETY: set before any sandbox (or other thread of this test) reads the environment.
    unsafe { std::env::set_var("AGENTOS_ESCAPE_TEST_SECRET", SECRET) };
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let secret_file = home.join("secret.txt");
    std::fs::write(&secret_file, SECRET).unwrap();
    let outside = root.path().join("outside-written.txt");
    let unix_socket = home.join("host.sock");
    let _unix_listener = std::os::unix::net::UnixListener::bind(&unix_socket).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || loop {
        if let Ok((mut stream, _)) = listener.accept() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.read(&mut [0u8; 16]);
        }
        std::thread::sleep(Duration::from_millis(20));
    });

    let mut config = config(root.path());
    config.limits.timeout = Duration::from_secs(3);
    config.limits.memory_bytes = 768 << 20;
    config.limits.disk_bytes = 64 << 20;
    config.limits.disk_files = 2000;
    let mut sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let mut neighbour = Sandbox::start(common::config(&root.path().join("neighbour"))).await.expect("a second sandbox starts");
    let neighbour_pid = neighbour.execute("import os\nos.getpid()", &NoTools).await.unwrap().value.expect("a pid");
    let neighbour_dir = neighbour.work_dir().to_path_buf();
    std::fs::write(neighbour_dir.join("private.txt"), SECRET).unwrap();

    let secret_path = secret_file.display().to_string();
    let outside_path = outside.display().to_string();
    let no_connection = |_: &Execution| outcome(accepted.load(Ordering::SeqCst) == 0, "the host's listener accepted a connection");
    let nothing_outside = |_: &Execution| outcome(!outside.exists(), format!("{} was written", outside.display()));
    let restarted = |e: &Execution| outcome(e.restarted, "the interpreter was expected to be killed and restarted");
    let work_dir = sandbox.work_dir().to_path_buf();
    let within_quota = |_: &Execution| {
        let (bytes, entries) = disk_use(&work_dir);
        outcome(
            bytes <= 64 << 20 && entries <= 2000,
            format!("the work directory holds {bytes} bytes in {entries} entries, past the quota"),
        )
    };
    let quota_used_up =
        |e: &Execution| within_quota(e).and_then(|()| outcome(e.disk_quota.is_some(), "the host did not see the quota used up"));
    let attempts = vec![
        checked("TCP to a port the host listens on", must_fail(&format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"), "connected to the host"), no_connection),
        checked("UDP to the host", must_fail(&format!("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port}))"), "sent UDP"), no_connection),
        attempt("TCP to an external address", must_fail("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)", "reached 1.1.1.1")),
        attempt("DNS lookup", must_fail("import socket\nsocket.getaddrinfo('example.com', 80)", "resolved a name")),
        attempt("HTTP through urllib", must_fail("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)", "fetched a page")),
        attempt("raw socket through ctypes", libc_call(&format!("syscall({}, 2, 1, 0)", libc::SYS_socket), "socket(AF_INET) through syscall()")),
        attempt("Unix socket the host listens on", must_fail(&format!("import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})", unix_socket.display().to_string()), "connected to a host Unix socket")),
        attempt("read /etc/shadow", must_fail("print(open('/etc/shadow').read())", "read /etc/shadow")),
        attempt("read a secret in the user's home", must_fail(&format!("print(open({secret_path:?}).read())"), "read the home secret")),
        attempt("list /root", must_fail("print(__import__('os').listdir('/root'))", "listed /root")),
        attempt("list /", must_fail("print(__import__('os').listdir('/'))", "listed /")),
        attempt("read /etc/passwd", must_fail("print(open('/etc/passwd').read())", "read /etc/passwd")),
        attempt("walk out with ../", must_fail("import os\nos.chdir('..')\nprint(os.listdir('.'))", "listed the parent directory")),
        checked("write outside the work directory", must_fail(&format!("open({outside_path:?}, 'w').write('x')"), "wrote outside"), nothing_outside),
        attempt("write into /tmp", must_fail("open('/tmp/agentos-escape-test', 'w').write('x')", "wrote to /tmp")),
        attempt("write into the Python installation", must_fail("import os, sysconfig\nopen(os.path.join(sysconfig.get_paths()['stdlib'], 'agentos_escape.py'), 'w')", "wrote into the stdlib")),
        attempt("symbolic link out of the work directory", must_fail(&format!("import os\nos.symlink({secret_path:?}, 'link')\nprint(open('link').read())"), "read through a symlink")),
        attempt("hard link out of the work directory", must_fail(&format!("import os\nos.link({secret_path:?}, 'hardlink')\nprint(open('hardlink').read())"), "hard-linked a secret")),
        attempt("/proc/1/root", must_fail("print(open('/proc/1/root/etc/shadow').read())", "read through /proc/1/root")),
        attempt("the parent's environment in /proc", must_fail("import os\nprint(open(f'/proc/{os.getppid()}/environ').read())", "read the parent's environ")),
        attempt("own /proc/self/environ", must_fail("print(open('/proc/self/environ').read())", "read /proc/self/environ")),
        attempt("os.environ", "import os\nprint(dict(os.environ))"),
        attempt("another sandbox's work directory", must_fail(&format!("print(open({:?}).read())", neighbour_dir.join("private.txt").display().to_string()), "read the neighbour's file")),
        attempt("a block device", must_fail("print(open('/dev/vda', 'rb').read(64))", "read a disk")),
        attempt("the controlling terminal", must_fail("open('/dev/tty', 'w').write('x')", "opened a terminal")),
        attempt("fork bomb", must_fail("import os\nwhile True:\n    os.fork()", "forked")),
        attempt("raw clone through ctypes", libc_call(&format!("syscall({}, 17, 0, 0, 0, 0)", libc::SYS_clone), "clone(SIGCHLD) through syscall()") + "if result == 0:\n    os._exit(0)\n"),
        attempt("subprocess", must_fail("import subprocess\nprint(subprocess.run(['cat', '/etc/shadow'], capture_output=True))", "ran a subprocess")),
        attempt("os.system", "import os\nstatus = os.system('echo ESCAPED from a shell')\nprint('stopped: status', status) if status != 0 else print('ESCAPED', 'a shell ran')"),
        attempt("exec a shell in place of Python", must_fail("import os\nos.execv('/bin/sh', ['sh', '-c', 'echo ESCAPED'])", "exec'd a shell")),
        checked(
            "exec a fresh Python to shed the driver",
            "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', \"print(open('/etc/shadow').read()); print('ESCAPED')\"])",
            restarted,
        ),
        attempt("signal the host", must_fail("import os, signal\nos.kill(os.getppid(), signal.SIGCONT)", "signalled the host")),
        attempt("signal every process", must_fail("import os, signal\nos.kill(-1, signal.SIGCONT)", "signalled every process")),
        attempt("kill the other sandbox", must_fail(&format!("import os, signal\nos.kill({neighbour_pid}, signal.SIGKILL)"), "killed the neighbour")),
        attempt("ptrace the host", libc_call("ptrace(16, os.getppid(), 0, 0)", "attached to the host")),
        attempt("read the host's memory", must_fail("import os\nopen(f'/proc/{os.getppid()}/mem', 'rb')", "opened the host's memory")),
        attempt("lower the host's limits", must_fail("import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_NOFILE)", "reached the host's rlimits")),
        attempt("renice every process of the user", libc_call("setpriority(2, 0, 19)", "reniced the user's processes")),
        attempt("raise its own memory limit", must_fail("import resource\nresource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))", "raised RLIMIT_AS")),
        attempt("become root with setuid(0)", must_fail("import os\nos.setuid(0)", "became root")),
        attempt("give a file away (CAP_CHOWN)", must_fail("import os\nopen('owned', 'w').close()\nos.chown('owned', 1234, 1234)", "chowned a file")),
        attempt("device node for /dev/mem (CAP_MKNOD)", must_fail("import os, stat\nos.mknod('mem', stat.S_IFCHR | 0o600, os.makedev(1, 1))\nopen('mem', 'rb').read(1)", "made /dev/mem")),
        attempt("set the hostname", libc_call("sethostname(b'escaped', 7)", "renamed the host")),
        attempt("thread bomb", must_fail("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()", "threads never ran out")),
        attempt("new user namespace", libc_call("unshare(0x10000000)", "unshared a user namespace")),
        attempt("mount", libc_call("mount(b'none', b'.', b'tmpfs', 0, None)", "mounted a tmpfs")),
        attempt("io_uring", libc_call(&format!("syscall({}, 8, ctypes.create_string_buffer(120))", libc::SYS_io_uring_setup), "set up io_uring")),
        attempt("load a kernel module", libc_call(&format!("syscall({}, -1, b'', 0)", libc::SYS_finit_module), "called finit_module")),
        attempt("bpf", libc_call(&format!("syscall({}, 0, None, 0)", libc::SYS_bpf), "called bpf")),
        attempt("x32 syscall number", libc_call(&format!("syscall({}, 2, 1, 0)", 0x4000_0000 | libc::SYS_socket), "made an x32 syscall")),
        attempt("memory bomb", must_fail("hog = bytearray(64 << 30)", "allocated 64 GiB")),
        attempt("growing memory bomb", must_fail("hog = []\nwhile True:\n    hog.append(bytearray(32 << 20))", "never ran out of memory")),
        checked("infinite loop", "while True:\n    pass", |e: &Execution| outcome(e.timed_out() && e.restarted, "the loop was not stopped by the timeout")),
        attempt("write the driver's socket", "import os\nos.write(3, b'\\xff\\xff\\xff\\xffjunk')\nimport time\ntime.sleep(1)\nprint('ESCAPED? the junk frame was accepted')"),
        checked("amplify the host's copy with sparse files and hard links", "import os\nfor i in range(200):\n    with open(f'sparse{i}', 'wb') as f:\n        f.truncate(60 << 20)\nfor i in range(500):\n    os.link('sparse0', f'link{i}')\nprint('stopped: holes and links stay holes and links')", within_quota),
        checked("fill the disk with big files", must_fail("i = 0\nwhile True:\n    open(f'fill{i}', 'wb').write(b'x' * (4 << 20))\n    i += 1", "wrote past the byte quota"), quota_used_up),
        checked("fill the disk with many files", must_fail("i = 0\nwhile True:\n    open(f'many{i}', 'w').close()\n    i += 1", "created files past the quota"), quota_used_up),
    ];

    let total = attempts.len();
    let mut escaped = Vec::new();
    for attempt in &attempts {
        let execution = sandbox.execute(&attempt.code, &NoTools).await.expect("the host keeps running sandboxes");
        let observation = execution.to_string();
        let verdict = if observation.contains("ESCAPED") {
            Err("the code reported success".to_string())
        } else if observation.contains(SECRET) {
            Err("a secret reached the observation".to_string())
        } else if observation.contains("root:x:0:0") || observation.contains("root:$") || observation.contains("root:*") {
            Err("a password file reached the observation".to_string())
        } else {
            (attempt.check)(&execution)
        };
        println!("{:<45} {}", attempt.name, if verdict.is_ok() { "stopped" } else { "ESCAPED" });
        for line in observation.lines().filter(|l| l.starts_with("stopped:") || l.contains("Error") || l.contains("interpreter")) {
            println!("    {line}");
        }
        if let Err(why) = verdict {
            escaped.push(format!("{}: {why}\n{observation}", attempt.name));
        }
    }
    let alive = sandbox.execute("'alive'", &NoTools).await.unwrap();
    assert_eq!(alive.value.as_deref(), Some("'alive'"), "the sandbox still answers after the suite");
    let neighbour_alive = neighbour.execute("import os\nos.getpid()", &NoTools).await.unwrap();
    assert_eq!(neighbour_alive.value, Some(neighbour_pid), "the other sandbox was not killed or restarted");
    assert!(!outside.exists() && !Path::new("/tmp/agentos-escape-test").exists(), "nothing was written outside");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection reached the host");
    println!("escape suite: {total} attempts, {} stopped, {} escaped", total - escaped.len(), escaped.len());
    assert!(escaped.is_empty(), "{} of {total} escape attempts succeeded:\n\n{}", escaped.len(), escaped.join("\n\n"));
}
