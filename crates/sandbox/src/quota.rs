//! The disk quota: a size-limited tmpfs under an overlay of the work directory, in a user and
//! mount namespace of the sandbox's own, so that the kernel refuses writes past the quota.
//!
//! At [`DiskQuota::create`] a short-lived helper process enters a new user and mount namespace,
//! mounts a tmpfs (`size=` the quota's bytes, `nr_inodes=` its files) on an empty staging folder
//! the host made, and mounts an overlay on the work directory: the real work directory is its
//! lower layer, the upper and work layers are on the tmpfs. The host keeps the two namespaces
//! open, and every interpreter of the sandbox joins them (then takes a network namespace of its
//! own), so the code reads the real files and every write it makes lands in the tmpfs, for the
//! sandbox's whole life, restarts included. The host copies what the code wrote back into the real
//! work directory ([`Writeback`]) after each execution and before answering a tool call, and
//! reads the tmpfs's `statvfs` to say when the quota is used up.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::interpreter::pipe;
use crate::writeback::Writeback;
use crate::{DiskQuotaUsedUp, Limits, Mechanism, SandboxError};

/// The id the code has inside the sandbox's user namespace, mapped to the host's own user and
/// group: `nobody`, as an unmapped id shows, so that the interpreter has no capabilities there.
const INSIDE_ID: u32 = 65534;

/// One sandbox's quota'd view of its work directory (see the module documentation).
pub(crate) struct DiskQuota {
    user_ns: OwnedFd,
    mount_ns: OwnedFd,
    /// The overlay's root (the work directory as the code sees it), opened `O_PATH`.
    merged: File,
    /// The tmpfs's upper layer, opened `O_PATH`.
    upper: Arc<File>,
    /// The tmpfs's own inodes (its root and the overlay's folders), not the code's.
    base_files: u64,
    limit_bytes: u64,
    limit_files: u64,
    staging: PathBuf,
    writeback: Arc<Mutex<Writeback>>,
}

impl DiskQuota {
    /// Sets up the namespaces, the tmpfs and the overlay over `work_dir` (canonical) for `limits`.
    pub fn create(work_dir: &Path, limits: &Limits) -> Result<DiskQuota, SandboxError> {
        let failed = |detail: String| SandboxError::Confinement { mechanism: Mechanism::DiskQuota, detail };
        let staging =
            staging_folder().map_err(|e| failed(format!("creating a staging folder in {} failed: {e}", std::env::temp_dir().display())))?;
        match Self::mount(work_dir, &staging, limits) {
            Ok(quota) => Ok(quota),
            Err(detail) => {
                let _ = std::fs::remove_dir(&staging);
                Err(failed(detail))
            }
        }
    }

    fn mount(work_dir: &Path, staging: &Path, limits: &Limits) -> Result<DiskQuota, String> {
        let setup = HelperSetup::new(work_dir, staging, limits).map_err(|e| format!("a path holds a NUL byte: {e}"))?;
        let helper = Helper::start(&setup)?;
        let proc = PathBuf::from(format!("/proc/{}", helper.pid));
        let inside = |path: &Path| proc.join("root").join(path.strip_prefix("/").unwrap_or(path));
        let opened = (|| -> io::Result<_> {
            Ok((
                OwnedFd::from(File::open(proc.join("ns/user"))?),
                OwnedFd::from(File::open(proc.join("ns/mnt"))?),
                open_path(&inside(work_dir))?,
                open_path(&inside(&staging.join("upper")))?,
            ))
        })();
        helper.release();
        let (user_ns, mount_ns, merged, upper) = opened.map_err(|e| format!("opening the helper's namespaces and mounts failed: {e}"))?;
        let upper = Arc::new(upper);
        let stats = statvfs(&fd_path(&upper)).map_err(|e| format!("statvfs of the tmpfs failed: {e}"))?;
        let base_files = stats.f_files.saturating_sub(stats.f_ffree) as u64;
        let writeback = Arc::new(Mutex::new(Writeback::new(upper.clone(), work_dir.to_path_buf())));
        Ok(DiskQuota {
            user_ns,
            mount_ns,
            merged,
            upper,
            base_files,
            limit_bytes: limits.disk_bytes,
            limit_files: limits.disk_files,
            staging: staging.to_path_buf(),
            writeback,
        })
    }

    /// The user and mount namespaces an interpreter joins.
    pub fn namespaces(&self) -> (RawFd, RawFd) {
        (self.user_ns.as_raw_fd(), self.mount_ns.as_raw_fd())
    }

    /// A path to the work directory as the code sees it (the overlay), for the host's Landlock
    /// rule: Landlock grants by inode, and the overlay's are not the real directory's.
    pub fn merged_path(&self) -> PathBuf {
        fd_path(&self.merged)
    }

    /// Whether the code's writes use up the quota's bytes or files now, and how much they hold.
    pub fn used_up(&self) -> io::Result<Option<DiskQuotaUsedUp>> {
        let stats = statvfs(&fd_path(&self.upper))?;
        if stats.f_bfree > 0 && stats.f_ffree > 0 {
            return Ok(None);
        }
        Ok(Some(DiskQuotaUsedUp {
            limit_bytes: self.limit_bytes,
            limit_files: self.limit_files,
            bytes: stats.f_blocks.saturating_sub(stats.f_bfree) as u64 * stats.f_frsize as u64,
            files: (stats.f_files.saturating_sub(stats.f_ffree) as u64).saturating_sub(self.base_files),
        }))
    }

    /// Copies what the code changed into the real work directory, on a blocking thread.
    pub async fn write_back(&self) -> Result<(), SandboxError> {
        let writeback = self.writeback.clone();
        let result = tokio::task::spawn_blocking(move || writeback.lock().expect("writeback poisoned").run()).await;
        let result = result.unwrap_or_else(|e| Err(io::Error::other(format!("the copying thread failed: {e}"))));
        result.map_err(|source| SandboxError::Writeback {
            work_dir: self.writeback.lock().expect("writeback poisoned").work_dir().to_path_buf(),
            source,
        })
    }

    /// [`DiskQuota::write_back`] on this thread, errors ignored: for a sandbox dropped without
    /// [`shutdown`](crate::Sandbox::shutdown).
    pub fn write_back_now(&self) {
        if let Ok(mut writeback) = self.writeback.lock() {
            let _ = writeback.run();
        }
    }
}

impl Drop for DiskQuota {
    fn drop(&mut self) {
        // In the host's namespace the staging folder is an empty directory.
        let _ = std::fs::remove_dir(&self.staging);
    }
}

/// Whether this machine can give a sandbox a disk quota: sets one up over a temporary folder.
pub(crate) fn probe() -> Result<(), String> {
    let root = staging_folder().map_err(|e| format!("creating a folder in {} failed: {e}", std::env::temp_dir().display()))?;
    let work = root.join("work");
    let result = std::fs::create_dir(&work)
        .map_err(|e| format!("creating {} failed: {e}", work.display()))
        .and_then(|()| DiskQuota::create(&work, &Limits::default()).map(drop).map_err(|e| e.to_string()));
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// A new, empty, private folder under the temporary directory.
fn staging_folder() -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    loop {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("agentos-sandbox-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        match builder.create(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            result => return result.map(|()| path),
        }
    }
}

fn open_path(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(path)
}

/// `/proc/self/fd/N` of an open file: a path the host can walk into, whatever namespace holds it.
pub(crate) fn fd_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn statvfs(path: &Path) -> io::Result<libc::statvfs> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: statvfs fills the zeroed struct we own.
    unsafe {
        let mut stats: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stats) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stats)
    }
}

/// `path` as an overlay option value: `\`, `,` and `:` escaped.
fn overlay_escape(path: &Path) -> Vec<u8> {
    let mut escaped = Vec::new();
    for &byte in path.as_os_str().as_bytes() {
        if matches!(byte, b'\\' | b',' | b':') {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    escaped
}

/// The steps of the helper, in order; a failure reports the step's index.
const STEPS: [&str; 10] = [
    "unshare(CLONE_NEWUSER | CLONE_NEWNS)",
    "writing /proc/self/setgroups",
    "writing /proc/self/uid_map",
    "writing /proc/self/gid_map",
    "making the mounts private",
    "mounting the tmpfs",
    "creating the tmpfs's folders",
    "mounting the overlay (overlayfs with userxattr)",
    "statfs of the tmpfs",
    "setting the tmpfs's file count",
];

/// Everything the helper does between fork and exit, prepared before the fork.
struct HelperSetup {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    staging: CString,
    tmpfs_options: CString,
    upper: CString,
    overlay_work: CString,
    work_dir: CString,
    overlay_options: CString,
    files: u64,
}

impl HelperSetup {
    fn new(work_dir: &Path, staging: &Path, limits: &Limits) -> Result<HelperSetup, std::ffi::NulError> {
        let c = |path: &Path| CString::new(path.as_os_str().as_bytes());
        let (upper, overlay_work) = (staging.join("upper"), staging.join("work"));
        let mut overlay_options = b"userxattr,lowerdir=".to_vec();
        overlay_options.extend(overlay_escape(work_dir));
        overlay_options.extend(b",upperdir=");
        overlay_options.extend(overlay_escape(&upper));
        overlay_options.extend(b",workdir=");
        overlay_options.extend(overlay_escape(&overlay_work));
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(HelperSetup {
            uid_map: format!("{INSIDE_ID} {uid} 1\n").into_bytes(),
            gid_map: format!("{INSIDE_ID} {gid} 1\n").into_bytes(),
            staging: c(staging)?,
            // The file count is set once the overlay's own inodes are known (see `apply`).
            tmpfs_options: CString::new(format!(
                "size={},nr_inodes={},mode=0700",
                limits.disk_bytes.max(4096),
                limits.disk_files.saturating_add(64)
            ))?,
            upper: c(&upper)?,
            overlay_work: c(&overlay_work)?,
            work_dir: c(work_dir)?,
            overlay_options: CString::new(overlay_options)?,
            files: limits.disk_files,
        })
    }

    /// Runs in the helper: only system calls on the prepared data. On failure, the step and errno.
    fn apply(&self) -> Result<(), (u8, i32)> {
        let check = |step: u8, result: libc::c_int| if result == 0 { Ok(()) } else { Err((step, errno())) };
        // SAFETY (whole function): system calls on prepared, NUL-terminated data.
        unsafe {
            check(0, libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS))?;
            check(1, write_file(c"/proc/self/setgroups", b"deny"))?;
            check(2, write_file(c"/proc/self/uid_map", &self.uid_map))?;
            check(3, write_file(c"/proc/self/gid_map", &self.gid_map))?;
            check(4, libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
            let tmpfs = c"tmpfs".as_ptr();
            check(
                5,
                libc::mount(tmpfs, self.staging.as_ptr(), tmpfs, libc::MS_NOSUID | libc::MS_NODEV, self.tmpfs_options.as_ptr().cast()),
            )?;
            check(6, libc::mkdir(self.upper.as_ptr(), 0o755))?;
            check(6, libc::mkdir(self.overlay_work.as_ptr(), 0o700))?;
            let overlay = c"overlay".as_ptr();
            check(
                7,
                libc::mount(
                    overlay,
                    self.work_dir.as_ptr(),
                    overlay,
                    libc::MS_NOSUID | libc::MS_NODEV,
                    self.overlay_options.as_ptr().cast(),
                ),
            )?;
            // The tmpfs's root and the overlay's folders are not the code's: the count grows by them.
            let mut stats: libc::statfs = std::mem::zeroed();
            check(8, libc::statfs(self.staging.as_ptr(), &mut stats))?;
            let used = (stats.f_files as u64).saturating_sub(stats.f_ffree as u64);
            let mut option = [0u8; 40];
            let prefix = b"nr_inodes=";
            option[..prefix.len()].copy_from_slice(prefix);
            write_decimal(&mut option[prefix.len()..], self.files.saturating_add(used));
            check(
                9,
                libc::mount(
                    std::ptr::null(),
                    self.staging.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV,
                    option.as_ptr().cast(),
                ),
            )?;
        }
        Ok(())
    }
}

/// Writes `n` in decimal into `buffer`, NUL-terminated (the buffer is zeroed and long enough).
fn write_decimal(buffer: &mut [u8], mut n: u64) {
    let mut digits = [0u8; 20];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (slot, digit) in buffer.iter_mut().zip(digits[..count].iter().rev()) {
        *slot = *digit;
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Writes `bytes` to the file at `path` in one `write`; 0 or -1 with errno set.
unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> libc::c_int {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return -1;
    }
    let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    let saved = errno();
    libc::close(fd);
    if written != bytes.len() as isize {
        *libc::__errno_location() = if written < 0 { saved } else { libc::EIO };
        return -1;
    }
    0
}

/// The forked helper that holds the new namespaces until the host has opened them.
struct Helper {
    pid: libc::pid_t,
    /// The host's end of the pipe the helper waits on before it exits.
    release: OwnedFd,
}

impl Helper {
    /// Forks the helper and waits until its setup is done; `Err` says which step failed.
    fn start(setup: &HelperSetup) -> Result<Helper, String> {
        let (ready_read, ready_write) = pipe().map_err(|e| format!("pipe failed: {e}"))?;
        let (release_read, release_write) = pipe().map_err(|e| format!("pipe failed: {e}"))?;
        // SAFETY: the child makes only system calls on data prepared above, then `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork failed: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: the helper only makes system calls on data prepared before the fork.
            unsafe {
                let report = match setup.apply() {
                    Ok(()) => [0u8; 5],
                    Err((step, errno)) => {
                        let e = errno.to_le_bytes();
                        [step + 1, e[0], e[1], e[2], e[3]]
                    }
                };
                libc::write(ready_write.as_raw_fd(), report.as_ptr().cast(), report.len());
                let mut byte = 0u8;
                while report[0] == 0 && libc::read(release_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) < 0 && errno() == libc::EINTR
                {
                }
                libc::_exit(0);
            }
        }
        drop(ready_write);
        drop(release_read);
        let helper = Helper { pid, release: release_write };
        let mut report = [0u8; 5];
        let mut read = 0;
        while read < report.len() {
            // SAFETY: reads into the rest of a buffer we own.
            let n = unsafe { libc::read(ready_read.as_raw_fd(), report[read..].as_mut_ptr().cast(), report.len() - read) };
            match n {
                n if n > 0 => read += n as usize,
                0 => break,
                _ if errno() == libc::EINTR => {}
                _ => break,
            }
        }
        match (read, report[0]) {
            (5, 0) => Ok(helper),
            (5, step) => {
                let errno = i32::from_le_bytes([report[1], report[2], report[3], report[4]]);
                helper.reap();
                Err(format!("{} failed: {}", STEPS[usize::from(step - 1).min(STEPS.len() - 1)], io::Error::from_raw_os_error(errno)))
            }
            _ => {
                helper.reap();
                Err("the helper process died during its setup".to_string())
            }
        }
    }

    /// Lets the waiting helper exit and reaps it.
    fn release(self) {
        // SAFETY: writes one byte from a buffer we own to the pipe the helper reads.
        unsafe { libc::write(self.release.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        self.reap();
    }

    /// Waits for the helper's exit.
    fn reap(self) {
        let mut status = 0;
        // SAFETY: waits for the child forked in `start`.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_escape_separators() {
        assert_eq!(overlay_escape(Path::new("/tmp/a,b:c\\d")), b"/tmp/a\\,b\\:c\\\\d".to_vec());
    }

    #[test]
    fn decimals_are_written_nul_terminated() {
        let mut buffer = [0u8; 24];
        write_decimal(&mut buffer, 10_064);
        assert_eq!(&buffer[..6], b"10064\0");
        let mut buffer = [0u8; 4];
        write_decimal(&mut buffer, 0);
        assert_eq!(&buffer[..2], b"0\0");
    }
}
