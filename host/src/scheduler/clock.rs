//! Where the scheduler gets the time: the system clock, or one a test controls. One
//! reading is taken per cycle and used for every decision in it.

use std::path::PathBuf;

use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The time written in a file (RFC 3339, such as `2026-11-29T02:30:00Z`), read at every
/// reading: how a test drives the clock of a daemon in another process
/// (`ANYA_CLOCK_FILE`). An unreadable file falls back to the system clock, with a
/// warning.
#[derive(Debug, Clone)]
pub struct FileClock {
    path: PathBuf,
}

impl FileClock {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        match std::fs::read_to_string(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|t| t.trim().parse::<Timestamp>().map_err(|e| e.to_string()))
        {
            Ok(at) => at,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "clock file unreadable; using the system clock");
                Timestamp::now()
            }
        }
    }
}
