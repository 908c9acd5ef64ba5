//! Copying what the code wrote from the disk quota's upper layer into the real work directory.
//!
//! The overlay's upper layer holds every file the code created or changed (whole), every folder
//! it made, a whiteout (a character device 0:0) for each name of the real directory it deleted,
//! and an opaque mark on a folder it replaced. A pass walks it and makes the real work directory
//! match: new and changed files are copied (holes and modification times kept, atomically by a
//! rename, permissions without set-id bits), links of one inode become hard links, symbolic links are recreated, whiteouts and
//! names copied by an earlier pass that are gone now (deleted or renamed by the code) are removed.
//! Entries unchanged since the last pass (same inode, change time and size) are skipped. Nothing
//! follows a symbolic link in the real directory.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsString};
use std::fs::{self, File, FileTimes, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::quota::fd_path;

/// What an upper entry was when it was last copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
    size: u64,
    mode: u32,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp { ino: meta.ino(), ctime: meta.ctime(), ctime_nsec: meta.ctime_nsec(), size: meta.size(), mode: meta.mode() }
    }
}

/// The copier of one sandbox, remembering what it copied.
pub(crate) struct Writeback {
    upper: Arc<File>,
    work_dir: PathBuf,
    /// Relative path to the stamp of the upper entry copied there.
    copied: HashMap<PathBuf, Stamp>,
}

/// What one pass learns as it walks.
#[derive(Default)]
struct Pass {
    /// Upper entries found.
    seen: HashSet<PathBuf>,
    /// For files with more than one link: inode to a real path holding its current content.
    links: HashMap<u64, (PathBuf, Stamp)>,
}

impl Writeback {
    /// A copier from `upper` (the upper layer, opened) into `work_dir` (canonical).
    pub fn new(upper: Arc<File>, work_dir: PathBuf) -> Writeback {
        Writeback { upper, work_dir, copied: HashMap::new() }
    }

    /// The real work directory.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Makes the real work directory hold what the code wrote (see the module documentation).
    pub fn run(&mut self) -> io::Result<()> {
        let mut pass = Pass::default();
        for (path, stamp) in &self.copied {
            if stamp.mode & libc::S_IFMT == libc::S_IFREG {
                pass.links.insert(stamp.ino, (self.work_dir.join(path), *stamp));
            }
        }
        self.directory(&fd_path(&self.upper), Path::new(""), &mut pass)?;
        let mut gone: Vec<PathBuf> = self.copied.keys().filter(|path| !pass.seen.contains(*path)).cloned().collect();
        gone.sort();
        for path in gone {
            if self.real_parents(&path) {
                remove(&self.work_dir.join(&path))?;
            }
            self.copied.remove(&path);
        }
        Ok(())
    }

    /// Copies the upper folder `relative` (under `upper`) and everything in it.
    fn directory(&mut self, upper: &Path, relative: &Path, pass: &mut Pass) -> io::Result<()> {
        let upper_dir = upper.join(relative);
        let real_dir = self.work_dir.join(relative);
        let mut entries: Vec<(OsString, Metadata)> = Vec::new();
        for entry in fs::read_dir(&upper_dir)? {
            let entry = entry?;
            entries.push((entry.file_name(), entry.metadata()?));
        }
        for (name, meta) in entries {
            let (path, from, to) = (relative.join(&name), upper_dir.join(&name), real_dir.join(&name));
            let kind = meta.file_type();
            if kind.is_char_device() && meta.rdev() == 0 {
                remove(&to)?;
                continue;
            }
            let stamp = Stamp::of(&meta);
            if kind.is_dir() {
                let first = !self.copied.contains_key(&path);
                make_dir(&to)?;
                if first && is_opaque(&from)? {
                    purge(&to, &from)?;
                }
                pass.seen.insert(path.clone());
                self.directory(upper, &path, pass)?;
                set_mode(&to, meta.mode())?;
            } else if kind.is_file() || kind.is_symlink() {
                pass.seen.insert(path.clone());
                if self.copied.get(&path) != Some(&stamp) {
                    // Another name of an inode already copied becomes a hard link to that copy.
                    let linked = pass.links.get(&meta.ino()).filter(|(first, copied)| *copied == stamp && meta.nlink() > 1 && *first != to);
                    let done = linked.is_some_and(|(first, _)| place(&to, |temp| fs::hard_link(first, temp)).is_ok());
                    if !done && kind.is_file() {
                        copy_file(&from, &to, &meta)?;
                    } else if !done {
                        let target = fs::read_link(&from)?;
                        place(&to, |temp| std::os::unix::fs::symlink(&target, temp))?;
                    }
                }
                // `to` now holds this content: later names of the inode can link to it.
                if kind.is_file() && pass.links.get(&meta.ino()).is_none_or(|(_, copied)| *copied != stamp) {
                    pass.links.insert(meta.ino(), (to, stamp));
                }
            } else {
                // Pipes, sockets and device nodes are not copied.
                continue;
            }
            self.copied.insert(path, stamp);
        }
        Ok(())
    }

    /// Whether every folder between the work directory and `relative` is a real folder (not a
    /// symbolic link that a removal would follow out of the work directory).
    fn real_parents(&self, relative: &Path) -> bool {
        let mut path = self.work_dir.clone();
        let parents: Vec<_> = relative.parent().map(|p| p.components().collect()).unwrap_or_default();
        parents.into_iter().all(|component| {
            path.push(component);
            fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir())
        })
    }
}

/// Removes whatever is at `path` (a folder with its contents); nothing there is fine.
fn remove(path: &Path) -> io::Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Makes `path` a real folder, replacing a file or symbolic link there.
fn make_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir(path)
}

/// Gives the folder `path` the permission bits of `mode`, without set-id and sticky bits.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    if fs::symlink_metadata(path)?.mode() & 0o7777 != mode & 0o777 {
        fs::set_permissions(path, Permissions::from_mode(mode & 0o777))?;
    }
    Ok(())
}

/// Whether the overlay marked the upper folder `path` opaque: it replaced the real one.
fn is_opaque(path: &Path) -> io::Result<bool> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    let mut value = [0u8; 4];
    // SAFETY: reads at most the buffer's length into a buffer we own.
    let n = unsafe { libc::lgetxattr(path.as_ptr(), c"user.overlay.opaque".as_ptr(), value.as_mut_ptr().cast(), value.len()) };
    if n < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ERANGE) => Ok(false),
            _ => Err(error),
        };
    }
    Ok(&value[..n as usize] == b"y")
}

/// Removes what the real folder `real` holds that the opaque upper folder `upper` does not.
fn purge(real: &Path, upper: &Path) -> io::Result<()> {
    for entry in fs::read_dir(real)? {
        let name = entry?.file_name();
        if matches!(fs::symlink_metadata(upper.join(&name)), Err(e) if e.kind() == io::ErrorKind::NotFound) {
            remove(&real.join(name))?;
        }
    }
    Ok(())
}

/// Copies the file `from` to `to`, its holes and modification time kept, its permission bits
/// without set-id bits.
fn copy_file(from: &Path, to: &Path, meta: &Metadata) -> io::Result<()> {
    let source = File::open(from)?;
    place(to, |temp| {
        let target = OpenOptions::new().write(true).create_new(true).mode(0o600).open(temp)?;
        copy_data(&source, &target)?;
        target.set_times(FileTimes::new().set_accessed(meta.accessed()?).set_modified(meta.modified()?))?;
        target.set_permissions(Permissions::from_mode(meta.mode() & 0o777))
    })
}

/// Copies the data of `source` into the empty `target`, skipping holes.
fn copy_data(source: &File, target: &File) -> io::Result<()> {
    let len = source.metadata()?.len();
    target.set_len(len)?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < len {
        let Some(data) = seek(source, offset, libc::SEEK_DATA)? else { break };
        let hole = seek(source, data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        let mut at = data;
        while at < hole {
            let want = buffer.len().min((hole - at) as usize);
            let n = source.read_at(&mut buffer[..want], at)?;
            if n == 0 {
                return Ok(());
            }
            target.write_all_at(&buffer[..n], at)?;
            at += n as u64;
        }
        offset = hole;
    }
    Ok(())
}

/// `lseek` with `SEEK_DATA` or `SEEK_HOLE`; `None` past the last data.
fn seek(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek on an fd we own.
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, whence) };
    if at < 0 {
        let error = io::Error::last_os_error();
        return if error.raw_os_error() == Some(libc::ENXIO) { Ok(None) } else { Err(error) };
    }
    Ok(Some(at as u64))
}

/// Creates the entry for `to` under a fresh temporary name beside it with `create`, then renames
/// it over `to` (a folder there is removed first).
fn place(to: &Path, create: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
    let parent = to.parent().unwrap_or(Path::new("/"));
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let mut attempt = 0u32;
    let temp = loop {
        let temp = parent.join(format!(".{name}.agentos-{}-{attempt}", std::process::id()));
        match create(&temp) {
            Ok(()) => break temp,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        }
    };
    if fs::symlink_metadata(to).is_ok_and(|meta| meta.is_dir()) {
        fs::remove_dir_all(to)?;
    }
    fs::rename(&temp, to).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}
