//! Crash-safe file writes: tmp → fsync → rename → fsync(dir).
//!
//! After a crash at any instant the destination holds either the old or the new content,
//! never a mix; a leftover `.tmp-*` file is garbage that [`remove_stale_tmp`] clears.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Prefix of the temporary files this module creates.
pub const TMP_PREFIX: &str = ".tmp-";

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, 0o644)
}

/// Like [`write_atomic`], creating the file with `mode` (Unix permission bits).
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    // A bare file name lives in the current folder.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // Unique per write: two threads writing one file must not share a temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        file_name.to_string_lossy()
    ));
    let result = (|| {
        let mut file = open_new(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends one line to `path` and fsyncs it (used for the journal). A line torn by a
/// crash mid-append is closed first, so it never swallows the new line.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        file.read_exact_at(&mut last, len - 1)?;
    }
    let mut buf = Vec::with_capacity(line.len() + 2);
    if last[0] != b'\n' {
        buf.push(b'\n');
    }
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    file.write_all(&buf)?;
    file.sync_all()?;
    if !existed {
        match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => sync_dir(d)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// fsync of a folder, so that a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes temporary files left in `dir` by a write that was interrupted.
pub fn remove_stale_tmp(dir: &Path) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn open_new(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn concurrent_writes_of_one_file_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[t; 64]).unwrap();
                    }
                });
            }
        });
        let content = fs::read(&path).unwrap();
        assert!(content.len() == 64 && content.iter().all(|b| *b == content[0]));
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_folder() {
        // `trust.toml` has the parent "", which is no folder to fsync.
        let bare = Path::new("anya-atomic-test-bare-name.tmp");
        write_atomic(bare, b"y").unwrap();
        assert_eq!(fs::read(bare).unwrap(), b"y");
        fs::remove_file(bare).unwrap();
    }

    #[test]
    fn stale_tmp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp-1-state.json"), b"half").unwrap();
        fs::write(dir.path().join("keep"), b"x").unwrap();
        remove_stale_tmp(dir.path()).unwrap();
        assert!(!dir.path().join(".tmp-1-state.json").exists());
        assert!(dir.path().join("keep").exists());
    }
}
