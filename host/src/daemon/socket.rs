//! The control socket: `STATE/daemon/control.sock`, mode 0600 in a folder of mode 0700
//! owned by the daemon's user. A socket left by a daemon that died is replaced only when
//! it is ours (a socket, owned by this user) and dead (nothing accepts on it).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::DaemonError;

/// The folder of the control socket.
pub fn control_dir(state: &Path) -> PathBuf {
    state.join("daemon")
}

/// The control socket of the daemon serving `state`.
pub fn control_socket(state: &Path) -> PathBuf {
    control_dir(state).join("control.sock")
}

/// This process's effective user id.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Binds the control socket of `state`, replacing a stale one, on the tokio runtime the
/// caller is in.
pub fn bind(state: &Path) -> Result<tokio::net::UnixListener, DaemonError> {
    let dir = control_dir(state);
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| DaemonError::Io { path, source }
    };
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let meta = fs::symlink_metadata(&dir).map_err(io_error(&dir))?;
    if !meta.is_dir() || meta.uid() != current_uid() {
        return Err(DaemonError::Unsafe {
            path: dir,
            reason: "it is not a folder owned by this user".into(),
        });
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_error(&dir))?;

    let path = control_socket(state);
    match fs::symlink_metadata(&path) {
        Ok(meta) => {
            if !meta.file_type().is_socket() {
                return Err(DaemonError::Unsafe {
                    path,
                    reason: "it exists and is not a socket; not replacing it".into(),
                });
            }
            if meta.uid() != current_uid() {
                return Err(DaemonError::Unsafe {
                    path,
                    reason: "it belongs to another user; not replacing it".into(),
                });
            }
            match UnixStream::connect(&path) {
                Ok(_) => return Err(DaemonError::AlreadyRunning { socket: path }),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "replacing a stale control socket");
                    fs::remove_file(&path).map_err(io_error(&path))?;
                }
                Err(source) => return Err(DaemonError::Io { path, source }),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(DaemonError::Io { path, source }),
    }
    let listener = UnixListener::bind(&path).map_err(io_error(&path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_error(&path))?;
    listener.set_nonblocking(true).map_err(io_error(&path))?;
    tokio::net::UnixListener::from_std(listener).map_err(io_error(&path))
}
