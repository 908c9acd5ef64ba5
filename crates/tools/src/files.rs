//! The file tools: `read_file`, `write_file` and `list_files`. Every path the model gives goes
//! through [`ToolContext::path`] first, so the tools only ever see folders the agent was granted
//! (relative paths start in the first granted folder). The blocking file work runs on tokio's
//! blocking pool.

use agentos_core::ToolSpec;
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes `read_file` returns; a longer file is cut there, and the output says so.
pub const READ_LIMIT: u64 = 256 * 1024;
/// The most entries `list_files` shows; the output says how many more there are.
pub const LIST_LIMIT: usize = 1000;

/// `read_file {path}`: the text of a UTF-8 file inside the granted folders, cut after
/// [`READ_LIMIT`] bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadFile;

/// `write_file {path, content, append?}`: writes (atomically, by renaming a temporary file into
/// place) or appends text to a file inside the granted folders, creating missing parent folders.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteFile;

/// `list_files {path?}`: the entries of a folder inside the granted folders, sorted by name,
/// at most [`LIST_LIMIT`] of them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFiles;

#[async_trait]
impl Tool for ReadFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: format!(
                "Reads a UTF-8 text file and returns its contents. `path` is relative to your working folder \
                 (absolute paths work only inside the folders you were granted). Files larger than {} KiB are cut, \
                 and the output ends with a note saying so. Binary files are refused. Call list_files first if you \
                 do not know the exact name.",
                READ_LIMIT / 1024
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "minLength": 1, "description": "The file, for example `notes/todo.txt`." }
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        let shown = crate::required_str(&arguments, "path")?.to_string();
        let path = context.path(&shown)?;
        blocking(move || read(&path, &shown)).await
    }
}

#[async_trait]
impl Tool for WriteFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write_file".into(),
            description: "Writes text to a file, replacing the whole file if it exists (or adding to its end when \
                `append` is true), and creates any missing parent folders. `path` is relative to your working folder \
                (absolute paths work only inside the folders you were granted). Returns how many bytes were written. \
                To change part of a file, read it first and write the whole new content."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "minLength": 1, "description": "The file, for example `out/report.md`." },
                    "content": { "type": "string", "description": "The text to write." },
                    "append": { "type": "boolean", "default": false, "description": "Add to the end of the file instead of replacing it." }
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        }
    }

    fn risky(&self) -> bool {
        true
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        let shown = crate::required_str(&arguments, "path")?.to_string();
        let content = crate::required_str(&arguments, "content")?.to_string();
        let append = crate::optional_bool(&arguments, "append")?.unwrap_or(false);
        let path = context.path(&shown)?;
        blocking(move || write(&path, &shown, &content, append)).await
    }
}

#[async_trait]
impl Tool for ListFiles {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_files".into(),
            description: format!(
                "Lists the entries of a folder, sorted by name, one per line: folders end with `/`, files show their \
                 size in bytes, symbolic links show where they point. `path` defaults to your working folder (`.`); \
                 other paths are relative to it. At most {LIST_LIMIT} entries are shown, with a note when there are more."
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "default": ".", "description": "The folder, for example `.` or `src`." }
                },
                "required": [],
                "additionalProperties": false
            }),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        let shown = crate::optional_str(&arguments, "path")?.unwrap_or(".").to_string();
        let path = context.path(&shown)?;
        blocking(move || list(&path, &shown)).await
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, ToolError> + Send + 'static) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ToolError::Io(format!("the file operation stopped unexpectedly: {e}")))?
}

/// An operating-system error, in words for the model.
fn io_error(action: &str, shown: &str, error: io::Error) -> ToolError {
    match error.kind() {
        ErrorKind::NotFound => ToolError::Invalid(format!("`{shown}` does not exist; call list_files to see what is there")),
        ErrorKind::PermissionDenied => ToolError::Io(format!("the operating system does not let this agent {action} `{shown}`: {error}")),
        _ => ToolError::Io(format!("could not {action} `{shown}`: {error}")),
    }
}

fn read(path: &Path, shown: &str) -> Result<String, ToolError> {
    let metadata = fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => ToolError::Invalid(format!("there is no file `{shown}`; call list_files to see which files exist")),
        _ => io_error("read", shown, e),
    })?;
    if metadata.is_dir() {
        return Err(ToolError::Invalid(format!("`{shown}` is a folder, not a file; call list_files with this path to see what it holds")));
    }
    let mut bytes = Vec::new();
    File::open(path).and_then(|f| f.take(READ_LIMIT + 1).read_to_end(&mut bytes)).map_err(|e| io_error("read", shown, e))?;
    let cut = bytes.len() as u64 > READ_LIMIT;
    bytes.truncate(READ_LIMIT as usize);
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        // The cut fell inside a character: drop its first bytes.
        Err(e) if cut && e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).expect("valid up to here")
        }
        Err(e) => {
            return Err(ToolError::Invalid(format!(
                "`{shown}` is not UTF-8 text (invalid byte at offset {}); read_file reads text files only",
                e.utf8_error().valid_up_to()
            )))
        }
    };
    if cut {
        let total = metadata.len().max(READ_LIMIT + 1);
        Ok(format!("{text}\n[cut: only the first {} of {total} bytes of `{shown}` are shown]", text.len()))
    } else if text.is_empty() {
        Ok(format!("[`{shown}` is empty]"))
    } else {
        Ok(text)
    }
}

fn write(path: &Path, shown: &str, content: &str, append: bool) -> Result<String, ToolError> {
    if path.is_dir() {
        return Err(ToolError::Invalid(format!("`{shown}` is a folder; give the path of a file, for example `{shown}/notes.txt`")));
    }
    let parent = path.parent().ok_or_else(|| ToolError::Invalid(format!("`{shown}` is not a file path")))?;
    fs::create_dir_all(parent).map_err(|e| ToolError::Io(format!("could not create the folder for `{shown}`: {e}")))?;
    if append {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(content.as_bytes()))
            .map_err(|e| io_error("append to", shown, e))?;
        Ok(format!("appended {} bytes to {shown}", content.len()))
    } else {
        write_atomically(path, content.as_bytes()).map_err(|e| io_error("write", shown, e))?;
        Ok(format!("wrote {} bytes to {shown}", content.len()))
    }
}

/// Writes `content` to a new temporary file next to `target` and renames it over `target`, so a
/// reader sees either the old file or the new one, never half of it. An existing file's
/// permissions are kept.
fn write_atomically(target: &Path, content: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no parent folder"))?;
    let name = target.file_name().ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no file name"))?.to_string_lossy();
    let permissions = fs::metadata(target).ok().map(|m| m.permissions());
    loop {
        let temporary: PathBuf = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&temporary) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = (|| {
            file.write_all(content)?;
            if let Some(permissions) = &permissions {
                file.set_permissions(permissions.clone())?;
            }
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, target)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        return written;
    }
}

fn list(path: &Path, shown: &str) -> Result<String, ToolError> {
    let metadata = fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            ToolError::Invalid(format!("there is no folder `{shown}`; call list_files on its parent to see what exists"))
        }
        _ => io_error("list", shown, e),
    })?;
    if !metadata.is_dir() {
        return Err(ToolError::Invalid(format!("`{shown}` is a file ({} bytes), not a folder; call read_file to read it", metadata.len())));
    }
    let mut entries: Vec<(String, String)> = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| io_error("list", shown, e))? {
        let entry = entry.map_err(|e| io_error("list", shown, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(|e| io_error("list", shown, e))?;
        let line = if kind.is_dir() {
            format!("{name}/")
        } else if kind.is_symlink() {
            match fs::read_link(entry.path()) {
                Ok(to) => format!("{name} -> {}", to.display()),
                Err(_) => format!("{name} -> (unreadable link)"),
            }
        } else {
            match entry.metadata() {
                Ok(m) => format!("{name}  {} bytes", m.len()),
                Err(_) => format!("{name}  (size unknown)"),
            }
        };
        entries.push((name, line));
    }
    if entries.is_empty() {
        return Ok(format!("`{shown}` is empty"));
    }
    entries.sort();
    let total = entries.len();
    let noun = if total == 1 { "entry" } else { "entries" };
    let mut out = format!("{total} {noun} in `{shown}`:\n");
    for (_, line) in entries.iter().take(LIST_LIMIT) {
        out.push_str(line);
        out.push('\n');
    }
    if total > LIST_LIMIT {
        out.push_str(&format!("[cut: {} more entries not shown; list a subfolder to narrow it down]\n", total - LIST_LIMIT));
    }
    Ok(out.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;

    fn err_text(result: Result<String, ToolError>) -> String {
        match result {
            Ok(out) => panic!("expected an error, got {out:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn writes_reads_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let out = WriteFile.call(json!({"path": "notes/a.txt", "content": "héllo\n"}), &ctx).await.unwrap();
        assert_eq!(out, "wrote 7 bytes to notes/a.txt");
        assert_eq!(fs::read_to_string(dir.path().join("notes/a.txt")).unwrap(), "héllo\n");
        let out = WriteFile.call(json!({"path": "notes/a.txt", "content": "world", "append": true}), &ctx).await.unwrap();
        assert_eq!(out, "appended 5 bytes to notes/a.txt");
        assert_eq!(ReadFile.call(json!({"path": "notes/a.txt"}), &ctx).await.unwrap(), "héllo\nworld");
        // Without append the file is replaced, and no temporary file is left behind.
        WriteFile.call(json!({"path": "notes/a.txt", "content": "new", "append": false}), &ctx).await.unwrap();
        assert_eq!(ReadFile.call(json!({"path": "notes/a.txt"}), &ctx).await.unwrap(), "new");
        let left: Vec<_> = fs::read_dir(dir.path().join("notes")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["a.txt"]);
        // Append creates a missing file.
        WriteFile.call(json!({"path": "log.txt", "content": "1", "append": true}), &ctx).await.unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("log.txt")).unwrap(), "1");
        // Absolute paths inside the granted folder work.
        let absolute = dir.path().join("log.txt").display().to_string();
        assert_eq!(ReadFile.call(json!({ "path": absolute }), &ctx).await.unwrap(), "1");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn replacing_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.sh");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o750)).unwrap();
        WriteFile.call(json!({"path": "run.sh", "content": "new"}), &context(dir.path())).await.unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o750);
    }

    #[tokio::test]
    async fn read_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let missing = err_text(ReadFile.call(json!({"path": "nope.txt"}), &ctx).await);
        assert!(missing.contains("no file `nope.txt`"), "{missing}");
        fs::create_dir(dir.path().join("sub")).unwrap();
        let folder = err_text(ReadFile.call(json!({"path": "sub"}), &ctx).await);
        assert!(folder.contains("`sub` is a folder"), "{folder}");
        fs::write(dir.path().join("bin"), [b'a', 0xff, 0xfe]).unwrap();
        let binary = err_text(ReadFile.call(json!({"path": "bin"}), &ctx).await);
        assert!(binary.contains("not UTF-8") && binary.contains("offset 1"), "{binary}");
        fs::write(dir.path().join("empty"), "").unwrap();
        assert_eq!(ReadFile.call(json!({"path": "empty"}), &ctx).await.unwrap(), "[`empty` is empty]");
    }

    #[tokio::test]
    async fn large_files_are_cut_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let limit = READ_LIMIT as usize;
        fs::write(dir.path().join("exact"), "a".repeat(limit)).unwrap();
        assert_eq!(ReadFile.call(json!({"path": "exact"}), &ctx).await.unwrap().len(), limit);
        fs::write(dir.path().join("big"), "a".repeat(limit + 10)).unwrap();
        let out = ReadFile.call(json!({"path": "big"}), &ctx).await.unwrap();
        assert!(out.starts_with(&"a".repeat(limit)));
        assert!(out.ends_with(&format!("\n[cut: only the first {limit} of {} bytes of `big` are shown]", limit + 10)), "{}", &out[limit..]);
        // A cut inside a multi-byte character drops that character instead of failing.
        fs::write(dir.path().join("wide"), format!("{}é tail", "a".repeat(limit - 1))).unwrap();
        let out = ReadFile.call(json!({"path": "wide"}), &ctx).await.unwrap();
        assert!(out.starts_with(&format!("{}\n[cut: only the first {} of", "a".repeat(limit - 1), limit - 1)), "{}", &out[limit - 10..]);
    }

    #[tokio::test]
    async fn write_refuses_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let ctx = context(dir.path());
        let message = err_text(WriteFile.call(json!({"path": "sub", "content": "x"}), &ctx).await);
        assert!(message.contains("`sub` is a folder"), "{message}");
        let message = err_text(WriteFile.call(json!({"path": ".", "content": "x"}), &ctx).await);
        assert!(message.contains("is a folder"), "{message}");
    }

    #[tokio::test]
    async fn lists_sorted_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        assert_eq!(ListFiles.call(json!({}), &ctx).await.unwrap(), "`.` is empty");
        fs::write(dir.path().join("b.txt"), "12345").unwrap();
        fs::write(dir.path().join("a.txt"), "").unwrap();
        fs::create_dir_all(dir.path().join("c/d")).unwrap();
        let out = ListFiles.call(json!({}), &ctx).await.unwrap();
        assert_eq!(out, "3 entries in `.`:\na.txt  0 bytes\nb.txt  5 bytes\nc/");
        assert_eq!(ListFiles.call(json!({"path": "c"}), &ctx).await.unwrap(), "1 entry in `c`:\nd/");
        let not_folder = err_text(ListFiles.call(json!({"path": "b.txt"}), &ctx).await);
        assert!(not_folder.contains("`b.txt` is a file (5 bytes)"), "{not_folder}");
        let missing = err_text(ListFiles.call(json!({"path": "zzz"}), &ctx).await);
        assert!(missing.contains("no folder `zzz`"), "{missing}");
    }

    #[tokio::test]
    async fn long_listings_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..LIST_LIMIT + 5 {
            fs::write(dir.path().join(format!("f{i:05}")), "").unwrap();
        }
        let out = ListFiles.call(json!({"path": "."}), &context(dir.path())).await.unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + LIST_LIMIT + 1);
        assert_eq!(lines[0], format!("{} entries in `.`:", LIST_LIMIT + 5));
        assert_eq!(lines[1], "f00000  0 bytes");
        assert_eq!(lines[LIST_LIMIT], format!("f{:05}  0 bytes", LIST_LIMIT - 1));
        assert_eq!(lines[LIST_LIMIT + 1], "[cut: 5 more entries not shown; list a subfolder to narrow it down]");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn paths_outside_the_granted_folder_are_refused() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("granted");
        fs::create_dir(&dir).unwrap();
        fs::write(outer.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(outer.path(), dir.join("up")).unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret.txt"), dir.join("secret-link")).unwrap();
        let ctx = context(&dir);
        for path in ["../secret.txt", "/etc/passwd", "up/secret.txt", "secret-link", "sub/../../secret.txt"] {
            let read = err_text(ReadFile.call(json!({ "path": path }), &ctx).await);
            assert!(read.starts_with("permission denied"), "read_file {path}: {read}");
            let write = err_text(WriteFile.call(json!({ "path": path, "content": "x" }), &ctx).await);
            assert!(write.starts_with("permission denied"), "write_file {path}: {write}");
            let list = err_text(ListFiles.call(json!({ "path": path }), &ctx).await);
            assert!(list.starts_with("permission denied"), "list_files {path}: {list}");
        }
        for path in ["..", "up", "up/"] {
            let list = err_text(ListFiles.call(json!({ "path": path }), &ctx).await);
            assert!(list.starts_with("permission denied"), "list_files {path}: {list}");
        }
        let append = err_text(WriteFile.call(json!({"path": "up/new.txt", "content": "x", "append": true}), &ctx).await);
        assert!(append.starts_with("permission denied"), "{append}");
        // Nothing outside was touched.
        assert_eq!(fs::read_to_string(outer.path().join("secret.txt")).unwrap(), "secret");
        assert!(!outer.path().join("new.txt").exists());
        // The links themselves are listed, not followed.
        let out = ListFiles.call(json!({}), &ctx).await.unwrap();
        assert!(out.contains(&format!("up -> {}", outer.path().display())), "{out}");
    }

    #[tokio::test]
    async fn no_granted_folder_means_no_files() {
        let ctx = agentos_kernel::ToolContext {
            run: agentos_core::RunId::new(),
            capabilities: std::sync::Arc::new(agentos_kernel::Capabilities::default()),
            operator: std::sync::Arc::new(agentos_kernel::Nobody),
        };
        let message = err_text(ReadFile.call(json!({"path": "a.txt"}), &ctx).await);
        assert!(message.starts_with("permission denied"), "{message}");
    }
}
