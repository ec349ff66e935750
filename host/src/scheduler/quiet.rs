//! The quietest time to update: a per-minute history of calls over the week, and the
//! part of a maintenance window with the fewest calls in it (the guide's
//! `UpdateScheduleOptimizer`).
//!
//! The history has one counter per minute of the week (UTC), summed over every week the
//! host has served: load that follows a weekly rhythm shows up in it, and one week's
//! burst fades as later weeks add to the other minutes. It is kept in
//! `load-history.json` in the state folder across restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Minutes in a week: the length of the history.
pub const MINUTES_PER_WEEK: usize = 7 * 24 * 60;

/// Calls per minute of the week.
#[derive(Debug)]
pub struct LoadHistory {
    counts: Vec<AtomicU64>,
}

/// The history as stored: only the minutes that saw calls.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    format: u32,
    /// Minute of the week → calls.
    minutes: std::collections::BTreeMap<usize, u64>,
}

/// Where in a window an update should start, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietSlot {
    pub at: Timestamp,
    /// Calls the history shows in the slot.
    pub calls: u64,
    pub why: String,
}

impl Default for LoadHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadHistory {
    pub fn new() -> Self {
        Self {
            counts: (0..MINUTES_PER_WEEK).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The minute of the week `at` falls in.
    pub fn minute_of_week(at: Timestamp) -> usize {
        let minutes = at.as_second().div_euclid(60);
        usize::try_from(minutes.rem_euclid(MINUTES_PER_WEEK as i64)).expect("in range")
    }

    /// Counts `calls` at `at`.
    pub fn record(&self, at: Timestamp, calls: u64) {
        self.counts[Self::minute_of_week(at)].fetch_add(calls, Ordering::Relaxed);
    }

    /// The calls counted in the minute of the week `at` falls in.
    pub fn calls_at(&self, at: Timestamp) -> u64 {
        self.counts[Self::minute_of_week(at)].load(Ordering::Relaxed)
    }

    /// The start of the quietest `span` that fits in `[start, end)`, at a whole minute
    /// from `start`: the lowest total of calls, the earliest among equals. A window
    /// shorter than `span` gives its start.
    pub fn quietest(&self, start: Timestamp, end: Timestamp, span: Duration) -> QuietSlot {
        let span_minutes = i64::try_from(span.as_secs().div_ceil(60).max(1)).unwrap_or(i64::MAX);
        let window_minutes = (end.as_second() - start.as_second()).max(0) / 60;
        let last = (window_minutes - span_minutes).max(0);
        let at_minute = |i: i64| {
            start
                .checked_add(jiff::SignedDuration::from_secs(i * 60))
                .unwrap_or(start)
        };
        let total = |first: i64| -> u64 {
            (first..first + span_minutes.min(window_minutes.max(1)))
                .map(|i| self.calls_at(at_minute(i)))
                .sum()
        };
        let busiest_start = total(0);
        let mut best = (busiest_start, 0);
        for first in 1..=last {
            let calls = total(first);
            if calls < best.0 {
                best = (calls, first);
            }
        }
        let (calls, first) = best;
        let why = if (0..window_minutes).all(|i| self.calls_at(at_minute(i)) == 0) {
            "no calls recorded in this window: its opening".to_owned()
        } else if first == 0 {
            format!(
                "the window's opening is already its quietest {span_minutes} minutes \
                 ({calls} calls in the history)"
            )
        } else {
            format!(
                "the quietest {span_minutes} minutes of the window: {calls} calls in the \
                 history, against {busiest_start} at its opening"
            )
        };
        QuietSlot {
            at: at_minute(first),
            calls,
            why,
        }
    }

    /// The history as JSON, for the state folder.
    pub fn to_json(&self) -> String {
        let stored = Stored {
            format: 1,
            minutes: self
                .counts
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then_some((i, n))
                })
                .collect(),
        };
        serde_json::to_string(&stored).expect("the history serializes")
    }

    /// Reads a history written by [`to_json`](Self::to_json).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let stored: Stored = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if stored.format != 1 {
            return Err(format!("unknown format {}", stored.format));
        }
        let history = Self::new();
        for (minute, calls) in stored.minutes {
            let counter = history
                .counts
                .get(minute)
                .ok_or_else(|| format!("minute {minute} is past the end of a week"))?;
            counter.store(calls, Ordering::Relaxed);
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn an_empty_history_starts_at_the_opening() {
        let h = LoadHistory::new();
        let slot = h.quietest(
            ts("2026-11-29T02:00:00Z"),
            ts("2026-11-29T04:00:00Z"),
            Duration::from_secs(600),
        );
        assert_eq!(slot.at, ts("2026-11-29T02:00:00Z"));
        assert!(slot.why.contains("no calls recorded"), "{}", slot.why);
    }

    #[test]
    fn the_lowest_load_part_that_fits_is_chosen() {
        let h = LoadHistory::new();
        // A week earlier: busy from 02:00 to 03:00, then quiet except a blip at 03:20.
        let week_before = ts("2026-11-22T02:00:00Z");
        for minute in 0..120 {
            let at = week_before
                .checked_add(jiff::SignedDuration::from_secs(minute * 60))
                .unwrap();
            let calls = match minute {
                0..60 => 100,
                80 => 5,
                _ => 1,
            };
            h.record(at, calls);
        }
        let slot = h.quietest(
            ts("2026-11-29T02:00:00Z"),
            ts("2026-11-29T04:00:00Z"),
            Duration::from_secs(600),
        );
        // 03:00-03:10 has 10 calls; 03:21-03:31 too but later; 03:11-03:21 includes the blip.
        assert_eq!(slot.at, ts("2026-11-29T03:00:00Z"));
        assert_eq!(slot.calls, 10);
        assert!(slot.why.contains("quietest 10 minutes"), "{}", slot.why);
        // It must fit: a span as long as the window starts at the opening.
        let slot = h.quietest(
            ts("2026-11-29T03:50:00Z"),
            ts("2026-11-29T04:00:00Z"),
            Duration::from_secs(3600),
        );
        assert_eq!(slot.at, ts("2026-11-29T03:50:00Z"));
    }

    #[test]
    fn the_history_round_trips() {
        let h = LoadHistory::new();
        h.record(ts("2026-11-27T10:15:30Z"), 7);
        let back = LoadHistory::from_json(&h.to_json()).unwrap();
        assert_eq!(back.calls_at(ts("2026-12-04T10:15:00Z")), 7);
        assert!(LoadHistory::from_json("{\"format\":1,\"minutes\":{\"99999\":1}}").is_err());
    }
}
