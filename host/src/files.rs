//! Reading the files Anya is given or keeps, one rule for all: only a regular file is
//! read (a FIFO, a device, a socket or a folder is refused by name, and a FIFO is opened
//! without waiting for a writer), never more than a cap (checked from the metadata first,
//! and at most one byte more is ever read, in case the file grows), and, inside the state
//! folder, without following a symbolic link.
//!
//! Errors are `io::Error`s (the callers' error types already name the file and wrap
//! one) whose message says what is wrong: "is a character device, not a regular file",
//! "is over the 1048576-byte cap".

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Whether a symbolic link at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Operators' files (a policy, a token, a trust store) may be links.
    Follow,
    /// Files Anya wrote itself (the state folder): a link there is not Anya's.
    Refuse,
}

/// Opens `path` for reading if it is a regular file; its length.
pub fn open_regular(path: &Path, links: Links) -> io::Result<(File, u64)> {
    let mut options = OpenOptions::new();
    let nofollow = if links == Links::Refuse {
        libc::O_NOFOLLOW
    } else {
        0
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer; reads of a regular file
    // ignore it.
    options
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | nofollow);
    let file = options.open(path).map_err(|e| {
        if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) {
            invalid("is a symbolic link, which is not followed here".into())
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = kind_of(&meta.file_type());
        return Err(invalid(format!("is {what}, not a regular file")));
    }
    Ok((file, meta.len()))
}

/// What a file that is not a regular one is, for a message: "a FIFO", "a symbolic
/// link", "a folder", ….
pub fn kind_of(kind: &std::fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a file"
    }
}

/// The bytes of the regular file `path`, at most `cap` of them.
pub fn read_capped(path: &Path, cap: u64, links: Links) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path, links)?;
    if len > cap {
        return Err(too_large(cap));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(bytes)
}

/// [`read_capped`], as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64, links: Links) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap, links)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("is over the {cap}-byte cap"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_capped(&path, 5, Links::Refuse).unwrap(), b"12345");
        let err = read_capped(&path, 4, Links::Refuse).unwrap_err();
        assert_eq!(err.to_string(), "is over the 4-byte cap");
    }

    #[test]
    fn devices_fifos_and_folders_are_refused_at_once() {
        let err = read_capped(Path::new("/dev/zero"), 1 << 20, Links::Follow).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: a blocking open would wait forever.
        let err = read_capped(&fifo, 1 << 20, Links::Follow).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
        let err = read_capped(dir.path(), 1 << 20, Links::Follow).unwrap_err();
        assert_eq!(err.to_string(), "is a folder, not a regular file");
    }

    #[test]
    fn a_link_is_followed_only_where_links_are_expected() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_capped(&link, 10, Links::Follow).unwrap(), b"x");
        let err = read_capped(&link, 10, Links::Refuse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "is a symbolic link, which is not followed here"
        );
        let to_zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &to_zero).unwrap();
        let err = read_capped(&to_zero, 10, Links::Follow).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
    }
}
