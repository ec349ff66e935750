//! After a cycle the registry could not answer (unreachable, timed out, a server error),
//! the scheduler tries again sooner than its check interval: 30 s, then twice as long each
//! time, never longer than the interval. The running versions serve on meanwhile; the
//! daemon writes where it stands (`registry-retry.json`) for `anya status`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

pub use crate::store::Retrying;

/// The first retry comes this long after the first failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);

/// The scheduler's backoff after registry failures.
#[derive(Debug, Default)]
pub struct Backoff {
    current: Option<Retrying>,
}

impl Backoff {
    /// A cycle at `now` failed for `reason`: when to try again, at most `interval` away.
    pub fn failed(&mut self, now: Timestamp, reason: String, interval: Duration) -> Timestamp {
        let (since, attempts) = match &self.current {
            Some(r) => (r.since, r.attempts.saturating_add(1)),
            None => (now, 1),
        };
        let wait = FIRST_RETRY
            .checked_mul(1u32 << (attempts - 1).min(16))
            .unwrap_or(interval)
            .min(interval);
        let next = now
            .checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        self.current = Some(Retrying {
            since,
            attempts,
            next,
            reason,
        });
        next
    }

    /// A cycle reached the registry: back to the check interval. Whether it was retrying.
    pub fn succeeded(&mut self) -> bool {
        self.current.take().is_some()
    }

    pub fn retrying(&self) -> Option<&Retrying> {
        self.current.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_interval_and_stop_on_success() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let interval = Duration::from_secs(5 * 60);
        let mut backoff = Backoff::default();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let next = backoff.failed(now, "down".into(), interval);
            waits.push((next - now).get_seconds());
            now = next;
        }
        assert_eq!(waits, vec![30, 60, 120, 240, 300, 300]);
        let r = backoff.retrying().unwrap();
        assert_eq!((r.since, r.attempts), (t0, 6));
        assert!(backoff.succeeded());
        assert!(backoff.retrying().is_none());
        assert!(!backoff.succeeded());
        assert_eq!(
            (backoff.failed(now, "down".into(), interval) - now).get_seconds(),
            30
        );
    }
}
