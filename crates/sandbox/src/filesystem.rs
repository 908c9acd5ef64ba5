//! The file system the sandbox sees: its work directory and, read-only, what Python needs.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope, ABI,
};

use crate::python::PythonInstallation;
use crate::{Mechanism, SandboxError};

/// The newest Landlock ABI whose rights the sandbox asks for; older kernels enforce what they know.
const ABI_WANTED: ABI = ABI::V7;

/// System directories of shared libraries (the interpreter's and its extension modules').
const LIBRARY_DIRS: &[&str] = &["/lib", "/lib32", "/lib64", "/usr/lib", "/usr/lib32", "/usr/lib64"];

/// Other read-only files Python may open: the loader cache and time zones.
const SYSTEM_FILES: &[&str] = &["/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo"];

/// Devices the code may read (`/dev/null` also write); no ioctl on any of them.
const DEVICES: &[(&str, bool)] = &[("/dev/null", true), ("/dev/zero", false), ("/dev/urandom", false), ("/dev/random", false)];

/// Everything read-only: the Python installation (its `sys.path`, whatever `.pth` files add to it,
/// except `/`) and the system libraries.
pub(crate) fn read_only_paths(python: &PythonInstallation) -> Vec<PathBuf> {
    let system = LIBRARY_DIRS.iter().chain(SYSTEM_FILES).filter_map(|p| Path::new(p).canonicalize().ok());
    let mut paths: Vec<PathBuf> = Vec::new();
    for path in python.read_paths.iter().cloned().chain(system) {
        if path != Path::new("/") && !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// Creates `work_dir` if needed and returns its canonical path, refusing directories whose
/// read-write grant would cover `/`, the Python installation or the system libraries.
pub(crate) fn prepare_work_dir(work_dir: &Path, python: &PythonInstallation) -> Result<PathBuf, SandboxError> {
    let refuse = |reason: String| SandboxError::WorkDir { path: work_dir.to_path_buf(), reason };
    std::fs::create_dir_all(work_dir).map_err(|e| refuse(format!("it could not be created ({e})")))?;
    let canonical = work_dir.canonicalize().map_err(|e| refuse(format!("it could not be resolved ({e})")))?;
    if !canonical.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    let protected = read_only_paths(python).into_iter().chain([python.executable.clone()]).chain(python.loader.clone());
    for path in protected {
        if path.starts_with(&canonical) {
            return Err(refuse(format!(
                "it contains {}, which the code would then be able to change; give each run a directory of its own (for example a new directory under /tmp)",
                path.display()
            )));
        }
    }
    Ok(canonical)
}

/// The Landlock ruleset of one interpreter: read-write `work_dir`, read-only Python and system
/// libraries, exec of the interpreter and its loader only, no TCP, and (ABI 6+) no signals or
/// abstract Unix sockets across the sandbox's boundary. `scopes` asks for the last.
pub(crate) fn ruleset(work_dir: &Path, python: &PythonInstallation, scopes: bool) -> Result<RulesetCreated, SandboxError> {
    let failed = |e: &dyn std::fmt::Display| SandboxError::Confinement { mechanism: Mechanism::LandlockFilesystem, detail: e.to_string() };
    let read_dir = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_WANTED)))
        .map_err(|e| failed(&e))?;
    if scopes {
        ruleset = ruleset.scope(Scope::from_all(ABI_WANTED)).map_err(|e| failed(&e))?;
    }
    let mut created = ruleset.create().map_err(|e| failed(&e))?;
    grant(&mut created, work_dir, AccessFs::from_all(ABI_WANTED))?;
    for path in read_only_paths(python) {
        grant(&mut created, &path, if path.is_dir() { read_dir } else { read_file })?;
    }
    for program in std::iter::once(&python.executable).chain(&python.loader) {
        grant(&mut created, program, AccessFs::ReadFile | AccessFs::Execute)?;
    }
    for &(device, writable) in DEVICES {
        if Path::new(device).exists() {
            grant(&mut created, Path::new(device), if writable { AccessFs::ReadFile | AccessFs::WriteFile } else { read_file })?;
        }
    }
    Ok(created)
}

/// Adds `access` beneath `path` (only the file rights when `path` is a file).
fn grant(ruleset: &mut RulesetCreated, path: &Path, access: BitFlags<AccessFs>) -> Result<(), SandboxError> {
    let failed = |e: &dyn std::fmt::Display| SandboxError::Confinement {
        mechanism: Mechanism::LandlockFilesystem,
        detail: format!("{}: {e}", path.display()),
    };
    let fd = PathFd::new(path).map_err(|e| failed(&e))?;
    let access = if path.is_dir() { access } else { access & AccessFs::from_file(ABI_WANTED) };
    RulesetCreatedAttr::add_rule(ruleset, PathBeneath::new(fd, access)).map_err(|e| failed(&e))?;
    Ok(())
}
