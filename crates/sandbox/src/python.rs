//! Finding the host's CPython and what of the file system it needs to run.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;

use crate::SandboxError;

/// Printed by the real interpreter, started exactly as the sandbox starts it: the directories its
/// imports read.
const PATHS_PROBE: &str = r#"
import json, os, sys, sysconfig
paths = [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
paths += [p for p in sys.path if p]
paths.append(sysconfig.get_config_var("LIBDIR") or "")
print(json.dumps({"version": sys.version.split()[0], "major": sys.version_info[0], "minor": sys.version_info[1], "paths": paths}))
"#;

/// Flags the sandbox always starts Python with: no user site-packages, no bytecode files,
/// unbuffered stdout and stderr.
pub(crate) const PYTHON_FLAGS: [&str; 3] = ["-s", "-B", "-u"];

/// A CPython installation as the sandbox uses it.
#[derive(Debug)]
pub(crate) struct PythonInstallation {
    /// The real executable (symbolic links and version-manager shims resolved).
    pub executable: PathBuf,
    /// `sys.version`'s first word, e.g. `3.11.7`.
    pub version: String,
    /// Existing directories and files its imports read: standard library, site-packages, libpython.
    pub read_paths: Vec<PathBuf>,
    /// The ELF program interpreter (dynamic loader) that exec needs, if the executable has one.
    pub loader: Option<PathBuf>,
}

#[derive(Deserialize)]
struct PathsProbe {
    version: String,
    major: u32,
    minor: u32,
    paths: Vec<String>,
}

/// Finds, probes and caches the interpreter `configured` (or `python3` on `PATH`).
pub(crate) async fn locate(configured: Option<&Path>) -> Result<Arc<PythonInstallation>, SandboxError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<PythonInstallation>>>> = OnceLock::new();
    let named = match configured {
        Some(path) => path.to_path_buf(),
        None => find_on_path()?,
    };
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().expect("python cache poisoned").get(&named) {
        return Ok(found.clone());
    }
    let found = Arc::new(probe(&named).await?);
    cache.lock().expect("python cache poisoned").insert(named, found.clone());
    Ok(found)
}

fn find_on_path() -> Result<PathBuf, SandboxError> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|candidate| candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or(SandboxError::PythonNotFound { path })
}

async fn probe(named: &Path) -> Result<PythonInstallation, SandboxError> {
    let unusable = |detail: String| SandboxError::PythonUnusable { python: named.to_path_buf(), detail };
    // A shim (pyenv, asdf) needs the host's environment to find the real interpreter; ask it once.
    let real = run(named, &["-c", "import os, sys; print(os.path.realpath(sys.executable))"], true).await.map_err(unusable)?;
    let executable = PathBuf::from(real.trim());
    if !executable.is_absolute() {
        return Err(unusable(format!("it reports its executable as {executable:?}, not an absolute path")));
    }
    let mut args: Vec<&str> = PYTHON_FLAGS.to_vec();
    args.extend(["-c", PATHS_PROBE]);
    let json = run(&executable, &args, false).await.map_err(unusable)?;
    let probe: PathsProbe =
        serde_json::from_str(json.trim()).map_err(|e| unusable(format!("its answer to the path probe is not JSON ({e}): {json}")))?;
    if (probe.major, probe.minor) < (3, 8) {
        return Err(unusable(format!("it is Python {}", probe.version)));
    }
    let mut read_paths: Vec<PathBuf> = Vec::new();
    for path in probe.paths.iter().filter(|p| !p.is_empty()) {
        if let Ok(canonical) = Path::new(path).canonicalize() {
            if !read_paths.contains(&canonical) {
                read_paths.push(canonical);
            }
        }
    }
    let loader = elf_loader(&executable).map_err(|e| unusable(format!("reading its ELF header failed: {e}")))?;
    Ok(PythonInstallation { executable, version: probe.version, read_paths, loader })
}

/// Runs `python args` and returns its stdout, or why it failed.
async fn run(python: &Path, args: &[&str], host_env: bool) -> Result<String, String> {
    let mut command = tokio::process::Command::new(python);
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    if !host_env {
        command.env_clear().env("LANG", "C.UTF-8");
    }
    let output = command.output().await.map_err(|e| format!("it could not be run: {e}"))?;
    if !output.status.success() {
        return Err(format!("it exited with {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    String::from_utf8(output.stdout).map_err(|_| "it printed something that is not UTF-8".to_string())
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF executable (`None` for a static one).
pub(crate) fn elf_loader(executable: &Path) -> std::io::Result<Option<PathBuf>> {
    const PT_INTERP: u32 = 3;
    let invalid = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not a 64-bit ELF executable ({what})", executable.display()))
    };
    let file = File::open(executable)?;
    let mut header = [0u8; 64];
    file.read_exact_at(&mut header, 0).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid("shorter than an ELF header")
        } else {
            e
        }
    })?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(invalid("bad magic, class or byte order"));
    }
    let phoff = u64::from_le_bytes(header[0x20..0x28].try_into().expect("8 bytes"));
    let phentsize = u64::from(u16::from_le_bytes([header[0x36], header[0x37]]));
    let phnum = u64::from(u16::from_le_bytes([header[0x38], header[0x39]]));
    if phentsize < 56 {
        return Err(invalid("program headers too small"));
    }
    for index in 0..phnum {
        let mut entry = [0u8; 56];
        file.read_exact_at(&mut entry, phoff + index * phentsize)?;
        if u32::from_le_bytes(entry[..4].try_into().expect("4 bytes")) != PT_INTERP {
            continue;
        }
        let offset = u64::from_le_bytes(entry[8..16].try_into().expect("8 bytes"));
        let size = u64::from_le_bytes(entry[32..40].try_into().expect("8 bytes"));
        if size == 0 || size > 4096 {
            return Err(invalid("implausible interpreter path length"));
        }
        let mut path = vec![0u8; size as usize];
        file.read_exact_at(&mut path, offset)?;
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        let loader = Path::new(std::ffi::OsStr::from_bytes(&path[..end]));
        return Ok(Some(loader.canonicalize()?));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_the_real_interpreter_and_its_loader() {
        let python = locate(None).await.expect("python3 on PATH");
        assert!(python.executable.is_absolute() && python.executable.is_file(), "{python:?}");
        assert!(python.version.starts_with('3'), "{python:?}");
        assert!(python.read_paths.iter().any(|p| p.join("os.py").is_file()), "the standard library is among {:?}", python.read_paths);
        let loader = python.loader.as_ref().expect("a dynamically linked python");
        assert!(loader.is_file(), "{loader:?}");
    }

    #[test]
    fn a_script_is_not_an_elf_executable() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("python3");
        std::fs::write(&script, "#!/bin/sh\nexec true\n").unwrap();
        let err = elf_loader(&script).unwrap_err();
        assert!(err.to_string().contains("not a 64-bit ELF executable"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_interpreter_is_named_in_the_error() {
        let err = locate(Some(Path::new("/nonexistent/python3"))).await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/python3"), "{err}");
    }
}
