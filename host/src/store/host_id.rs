//! `STATE/host-id`: this host's random id (128 bits, hex), made by the first writer of
//! the state folder. It decides the host's rollout cohorts and the share of the check
//! interval its scheduler waits beyond it (so a fleet does not hit its registry at once),
//! and survives hostname changes and hosts cloned from one image.

use std::io;
use std::path::Path;

use super::{StoreError, atomic};
use crate::files::{self, Links};

/// The file's name in the state folder.
pub const FILE: &str = "host-id";

/// The id kept in `state_dir`, made if a writer (`writable`) finds none. `None` for a
/// reader in a state folder no writer has used.
pub fn read_or_make(state_dir: &Path, writable: bool) -> Result<Option<String>, StoreError> {
    let path = state_dir.join(FILE);
    let io_error = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    match files::read_text_capped(&path, 256, Links::Refuse) {
        Ok(text) => {
            let id = text.trim();
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(StoreError::Corrupt {
                    path,
                    reason: "not a host id (32 hex digits); remove it to make a new one".into(),
                });
            }
            Ok(Some(id.to_owned()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && writable => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).map_err(|e| io_error(io::Error::other(e.to_string())))?;
            let id = hex::encode(bytes);
            std::fs::create_dir_all(state_dir).map_err(io_error)?;
            atomic::write_atomic(&path, format!("{id}\n").as_bytes()).map_err(io_error)?;
            tracing::info!(host_id = %id, "made this host's id");
            Ok(Some(id))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}
