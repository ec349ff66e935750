//! Maintenance windows: when, in an IANA time zone, automatic updates may run.
//!
//! A window is a start and an end time of day, a time zone and a set of days. It opens at
//! `start_time` on each listed day; if `end_time` is earlier than (or at) `start_time`
//! on the clock, the window runs across midnight and closes at `end_time` the *next*
//! day. A window is half-open: open at its start instant, closed at its end instant.
//!
//! Clock changes are resolved by one rule for both ends of a window:
//! - a local time that does not exist that day (a DST gap, such as 02:30 in
//!   Europe/Berlin on the last Sunday of March) means the first instant after the gap
//!   (03:00 CEST); a window that lies wholly inside a gap is empty that day and is skipped;
//! - a local time that happens twice (a DST fold, such as 01:30 in America/New_York on
//!   the first Sunday of November) means its first occurrence (01:30 EDT).
//!
//! All the math is pure: callers pass the instant, so a scheduler can run on a fake clock.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// A weekly maintenance window in an IANA time zone (see the module docs).
///
/// Invariants: `start != end`, at least one day, a time zone found in the time zone
/// database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    start: Time,
    end: Time,
    timezone: TimeZone,
    timezone_name: String,
    days: DaySet,
}

/// The days a window opens on, as a bit set (bit 0 = Monday).
#[derive(Clone, Copy, PartialEq, Eq)]
struct DaySet(u8);

impl DaySet {
    const ALL: DaySet = DaySet(0x7f);

    fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }

    fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    /// Refuses no days and a day listed twice.
    fn of(days: impl IntoIterator<Item = Weekday>) -> Result<DaySet, String> {
        let mut set = DaySet(0);
        for day in days {
            if set.contains(day) {
                return Err(format!("{} is listed twice in days", day_name(day)));
            }
            set.0 |= Self::bit(day);
        }
        if set.0 == 0 {
            return Err(
                "days is empty, so the window would never open (omit `days` for every day)".into(),
            );
        }
        Ok(set)
    }

    fn iter(self) -> impl Iterator<Item = Weekday> {
        (0..7)
            .filter_map(|i| Weekday::from_monday_zero_offset(i).ok())
            .filter(move |d| self.contains(*d))
    }
}

impl fmt::Debug for DaySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How many days ahead [`MaintenanceWindow::next_opening`] looks: three weeks, so that a
/// window listed on one day only and empty once (inside a DST gap) is still found.
const LOOKAHEAD_DAYS: usize = 22;

impl MaintenanceWindow {
    /// A window from `start` to `end` (local times in `timezone`, an IANA name such as
    /// `"Europe/Berlin"`) on `days`.
    ///
    /// Refuses an unknown time zone, no days, a day listed twice, and `start == end`
    /// (it could mean "never" or "all day": say which with other times).
    pub fn new(start: Time, end: Time, timezone: &str, days: &[Weekday]) -> Result<Self, String> {
        let (timezone, timezone_name) = time_zone(timezone)?;
        let days = DaySet::of(days.iter().copied())?;
        Self::checked(start, end, timezone, timezone_name, days)
    }

    fn checked(
        start: Time,
        end: Time,
        timezone: TimeZone,
        timezone_name: String,
        days: DaySet,
    ) -> Result<Self, String> {
        if start == end {
            return Err(format!(
                "start_time and end_time are both {start}: the window would be empty \
                 (for a whole day, use 00:00:00 to 23:59:59)"
            ));
        }
        Ok(Self {
            start,
            end,
            timezone,
            timezone_name,
            days,
        })
    }

    /// The local time the window opens.
    pub fn start_time(&self) -> Time {
        self.start
    }

    /// The local time the window closes (on the next day if the window crosses midnight).
    pub fn end_time(&self) -> Time {
        self.end
    }

    /// Whether the window runs across midnight (its end time is earlier on the clock).
    pub fn crosses_midnight(&self) -> bool {
        self.end < self.start
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.timezone
    }

    /// The IANA name of the time zone, as the database spells it (`Europe/Berlin`).
    pub fn time_zone_name(&self) -> &str {
        &self.timezone_name
    }

    /// The days the window opens on, Monday first.
    pub fn days(&self) -> Vec<Weekday> {
        self.days.iter().collect()
    }

    /// Whether automatic updates may run at `at`.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = self.timezone.to_datetime(at).date();
        // A window starting yesterday may still be open; one starting tomorrow cannot
        // be, but checking it costs nothing and covers zones that fall back at midnight.
        [local.yesterday().ok(), Some(local), local.tomorrow().ok()]
            .into_iter()
            .flatten()
            .filter_map(|date| self.on(date))
            .any(|(start, end)| start <= at && at < end)
    }

    /// The window open at `after`, or else the next one to open: its start and end.
    ///
    /// The start may be at or before `after` when a window is open then. `None` only
    /// near the end of the representable time range.
    pub fn next_opening(&self, after: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let local = self.timezone.to_datetime(after).date();
        let mut date = local.yesterday().unwrap_or(local);
        for _ in 0..LOOKAHEAD_DAYS {
            // Windows never overlap and open in date order, so the first one that has
            // not closed yet is the answer.
            if let Some((start, end)) = self.on(date)
                && end > after
            {
                return Some((start, end));
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The window that opens on local date `date`, unless that day is not listed or the
    /// window is empty that day (wholly inside a DST gap).
    fn on(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.days.contains(date.weekday()) {
            return None;
        }
        let start = resolve(&self.timezone, date.to_datetime(self.start))?;
        let end_date = if self.start < self.end {
            date
        } else {
            date.tomorrow().ok()?
        };
        let end = resolve(&self.timezone, end_date.to_datetime(self.end))?;
        (start < end).then_some((start, end))
    }
}

/// The instant a local time means in `tz`, by the module's rule for gaps and folds.
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        // The first occurrence: the time read with the offset in force before the fold.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        // Read with the later (larger) offset, a gap time lands just before the
        // transition; the transition itself is the first instant after the gap.
        AmbiguousOffset::Gap { after, .. } => {
            let inside = after.to_timestamp(dt).ok()?;
            tz.following(inside).next().map(|t| t.timestamp())
        }
    }
}

/// Looks an IANA name up in the time zone database. Only plain zone names are accepted:
/// no paths, no `..`, so a policy can never make jiff read an arbitrary file.
pub(crate) fn time_zone(name: &str) -> Result<(TimeZone, String), String> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if !plain {
        return Err(format!(
            "invalid time zone {name:?}: expected an IANA name such as \"Europe/Berlin\" or \"UTC\""
        ));
    }
    let tz = TimeZone::get(name)
        .map_err(|_| format!("unknown time zone {name:?}: not in the IANA time zone database"))?;
    let canonical = tz.iana_name().unwrap_or(name).to_owned();
    Ok((tz, canonical))
}

/// `HH:MM` or `HH:MM:SS`, two digits each, 00:00 to 23:59:59.
pub(crate) fn parse_time_of_day(s: &str) -> Result<Time, String> {
    let bad = || format!("invalid time {s:?}: expected HH:MM or HH:MM:SS, from 00:00 to 23:59:59");
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let num = |i: usize| parts.get(i).map_or(Ok(0), |p| p.parse::<i8>());
    let (Ok(h), Ok(m), Ok(sec)) = (num(0), num(1), num(2)) else {
        return Err(bad());
    };
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Time::new(h, m, sec, 0).map_err(|_| bad())
}

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// An English day name, case-insensitive, in full (`Sunday`) or its first three letters
/// (`sun`).
pub(crate) fn parse_day(s: &str) -> Result<Weekday, String> {
    let lower = s.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .find(|(name, _)| lower == *name || (lower.len() == 3 && name.starts_with(&lower)))
        .map(|(_, day)| *day)
        .ok_or_else(|| {
            format!("unknown day {s:?}: expected an English day name such as \"Sunday\"")
        })
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// The `[maintenance_window]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(deserialize_with = "de_time")]
    start_time: Time,
    #[serde(deserialize_with = "de_time")]
    end_time: Time,
    #[serde(deserialize_with = "de_time_zone")]
    timezone: (TimeZone, String),
    #[serde(default = "every_day", deserialize_with = "de_days")]
    days: DaySet,
}

fn every_day() -> DaySet {
    DaySet::ALL
}

/// A quoted string (`"02:00:00"`, the guide's form) or a TOML local time (`02:00:00`).
fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) if dt.date.is_none() && dt.offset.is_none() => dt.to_string(),
        other => {
            return Err(de::Error::custom(format!(
                "expected a time of day such as \"02:00:00\", found {}",
                other.type_str()
            )));
        }
    };
    parse_time_of_day(&text).map_err(de::Error::custom)
}

fn de_time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<(TimeZone, String), D::Error> {
    time_zone(&String::deserialize(d)?).map_err(de::Error::custom)
}

fn de_days<'de, D: Deserializer<'de>>(d: D) -> Result<DaySet, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let mut days = Vec::with_capacity(names.len());
    for name in &names {
        days.push(parse_day(name).map_err(de::Error::custom)?);
    }
    DaySet::of(days).map_err(de::Error::custom)
}

impl<'de> Deserialize<'de> for MaintenanceWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawWindow::deserialize(d)?;
        let (timezone, name) = raw.timezone;
        Self::checked(raw.start_time, raw.end_time, timezone, name, raw.days)
            .map_err(|e| de::Error::custom(format!("[maintenance_window]: {e}")))
    }
}

#[cfg(test)]
mod tests;
