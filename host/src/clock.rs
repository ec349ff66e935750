//! Where Anya gets the time. One [`Clock`] is passed in by whoever builds the
//! [`UpdateManager`](crate::update::UpdateManager): the system's in the `anya` binary, a
//! fake one in tests. The manager (install times, trials, rollback points, approvals,
//! validation reports, journal entries), the scheduler and the daemon all read it, so a
//! test that sets a date sets it for everything at once.
//!
//! Durations measured on the spot (a deadline, a lock wait, how long a call took) use
//! `std::time::Instant` and are not the clock's business.

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

#[cfg(any(test, feature = "test-hooks"))]
pub use fake::{FakeClock, FileClock};

#[cfg(any(test, feature = "test-hooks"))]
mod fake {
    use std::path::PathBuf;
    use std::sync::Mutex;

    use jiff::{SignedDuration, Timestamp};

    use super::Clock;

    /// A clock that stands still until a test moves it.
    #[derive(Debug)]
    pub struct FakeClock {
        now: Mutex<Timestamp>,
    }

    impl FakeClock {
        pub fn new(at: Timestamp) -> Self {
            Self {
                now: Mutex::new(at),
            }
        }

        /// Sets the time.
        pub fn set(&self, at: Timestamp) {
            *self.now.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }

        /// Moves the time on by `by`.
        pub fn advance(&self, by: SignedDuration) {
            let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
            *now = now
                .checked_add(by)
                .expect("a fake clock stays within jiff's range");
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Timestamp {
            *self.now.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// The time written in a file (RFC 3339, such as `2026-11-29T02:30:00Z`), read at
    /// every reading: how a test drives the clock of a daemon in another process
    /// (`ANYA_CLOCK_FILE`, honoured only by a binary built with the `test-hooks`
    /// feature). A reading that fails (the test is rewriting the file) gives the last
    /// good one; the system clock is never mixed in.
    #[derive(Debug)]
    pub struct FileClock {
        path: PathBuf,
        last: Mutex<Option<Timestamp>>,
    }

    impl FileClock {
        /// A clock on `path`, which must hold a time already.
        pub fn new(path: PathBuf) -> Result<Self, String> {
            let clock = Self {
                path,
                last: Mutex::new(None),
            };
            let first = clock.read()?;
            *clock.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(first);
            Ok(clock)
        }

        fn read(&self) -> Result<Timestamp, String> {
            let text = std::fs::read_to_string(&self.path).map_err(|e| {
                format!("the clock file {} is unreadable: {e}", self.path.display())
            })?;
            text.trim().parse().map_err(|e| {
                format!(
                    "the clock file {} does not hold an RFC 3339 time: {e}",
                    self.path.display()
                )
            })
        }
    }

    impl Clock for FileClock {
        fn now(&self) -> Timestamp {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            match self.read() {
                Ok(at) => *last.insert(at),
                Err(e) => {
                    tracing::warn!(error = %e, "clock file unreadable; the last reading stands");
                    last.expect("set by FileClock::new")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_clock_moves_only_when_told() {
        let at: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        let clock = FakeClock::new(at);
        assert_eq!(clock.now(), at);
        clock.advance(jiff::SignedDuration::from_mins(90));
        assert_eq!(clock.now(), "2026-11-28T11:30:00Z".parse().unwrap());
        clock.set(at);
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn a_file_clock_reads_the_file_at_every_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("now");
        std::fs::write(&path, "2026-11-29T02:00:30Z\n").unwrap();
        let clock = FileClock::new(path.clone()).unwrap();
        assert_eq!(clock.now(), "2026-11-29T02:00:30Z".parse().unwrap());
        std::fs::write(&path, "2026-11-29T03:30:00Z").unwrap();
        assert_eq!(clock.now(), "2026-11-29T03:30:00Z".parse().unwrap());
        std::fs::write(&path, "").unwrap();
        assert_eq!(clock.now(), "2026-11-29T03:30:00Z".parse().unwrap());
        std::fs::remove_file(&path).unwrap();
        assert!(FileClock::new(path).is_err());
    }
}
