//! Fixed instants only: every expectation below was worked out by hand from the tz
//! rules (Europe/Berlin: CET +01, CEST +02 from the last Sunday of March 02:00 to the
//! last Sunday of October 03:00; America/New_York: EST -05, EDT -04 from the second
//! Sunday of March 02:00 to the first Sunday of November 02:00).

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn window(start: &str, end: &str, tz: &str, days: &[&str]) -> MaintenanceWindow {
    let days: Vec<Weekday> = days.iter().map(|d| parse_day(d).unwrap()).collect();
    MaintenanceWindow::new(
        parse_time_of_day(start).unwrap(),
        parse_time_of_day(end).unwrap(),
        tz,
        &days,
    )
    .unwrap()
}

fn opening(w: &MaintenanceWindow, after: &str) -> (String, String) {
    let (start, end) = w.next_opening(ts(after)).unwrap();
    (start.to_string(), end.to_string())
}

fn pair(start: &str, end: &str) -> (String, String) {
    (start.to_owned(), end.to_owned())
}

/// Checks `contains` and `next_opening` against each other every `step` minutes over
/// `days` days from `from`: the answer of `next_opening(t)` is open at `t` exactly when
/// `contains(t)`, its end is after `t`, its start is inside it and its end is not.
fn consistent(w: &MaintenanceWindow, from: &str, days: i64, step: i64) {
    let from = ts(from);
    let mut minute = 0;
    while minute < days * 24 * 60 {
        let t = from + jiff::SignedDuration::from_mins(minute);
        let (start, end) = w.next_opening(t).unwrap();
        assert!(end > t, "{t}: window ({start}, {end}) already closed");
        assert_eq!(w.contains(t), start <= t, "{t}: window ({start}, {end})");
        assert!(w.contains(start), "{t}: start {start} not inside");
        assert!(!w.contains(end), "{t}: end {end} inside");
        minute += step;
    }
}

#[test]
fn the_guides_window_utc() {
    let w = window(
        "02:00:00",
        "04:00:00",
        "UTC",
        &["Sunday", "Tuesday", "Thursday"],
    );
    // 2025-01-05 is a Sunday.
    assert!(w.contains(ts("2025-01-05T02:00:00Z")), "start is inclusive");
    assert!(w.contains(ts("2025-01-05T03:59:59Z")));
    assert!(!w.contains(ts("2025-01-05T04:00:00Z")), "end is exclusive");
    assert!(!w.contains(ts("2025-01-05T01:59:59Z")));
    assert!(
        !w.contains(ts("2025-01-06T03:00:00Z")),
        "Monday is not listed"
    );
    assert!(w.contains(ts("2025-01-07T03:00:00Z")), "Tuesday is");
    assert!(!w.contains(ts("2025-01-08T03:00:00Z")), "Wednesday is not");
    assert_eq!(
        opening(&w, "2025-01-05T03:00:00Z"),
        pair("2025-01-05T02:00:00Z", "2025-01-05T04:00:00Z"),
        "an open window is the answer"
    );
    assert_eq!(
        opening(&w, "2025-01-05T04:00:00Z"),
        pair("2025-01-07T02:00:00Z", "2025-01-07T04:00:00Z")
    );
    assert_eq!(
        opening(&w, "2025-01-09T04:00:00Z"),
        pair("2025-01-12T02:00:00Z", "2025-01-12T04:00:00Z"),
        "Thursday to the next Sunday"
    );
    assert_eq!(
        w.days(),
        vec![Weekday::Tuesday, Weekday::Thursday, Weekday::Sunday]
    );
    assert!(!w.crosses_midnight());
    consistent(&w, "2025-01-01T00:00:00Z", 15, 7);
}

#[test]
fn across_midnight_sunday_into_monday() {
    // 22:00 Sunday to 02:00 Monday, Berlin winter time (UTC+1).
    let w = window("22:00", "02:00", "Europe/Berlin", &["Sunday"]);
    assert!(w.crosses_midnight());
    assert!(w.contains(ts("2025-01-05T21:00:00Z")), "Sunday 22:00");
    assert!(
        w.contains(ts("2025-01-06T00:30:00Z")),
        "Monday 01:30: Monday is not listed, but Sunday's window runs into it"
    );
    assert!(!w.contains(ts("2025-01-06T01:00:00Z")), "Monday 02:00");
    assert!(
        !w.contains(ts("2025-01-05T00:30:00Z")),
        "Sunday 01:30 would belong to Saturday's window, and Saturday is not listed"
    );
    assert!(!w.contains(ts("2025-01-06T21:30:00Z")), "Monday 22:30");
    assert_eq!(
        opening(&w, "2025-01-05T12:00:00Z"),
        pair("2025-01-05T21:00:00Z", "2025-01-06T01:00:00Z")
    );
    assert_eq!(
        opening(&w, "2025-01-06T00:00:00Z"),
        pair("2025-01-05T21:00:00Z", "2025-01-06T01:00:00Z")
    );
    assert_eq!(
        opening(&w, "2025-01-06T01:00:00Z"),
        pair("2025-01-12T21:00:00Z", "2025-01-13T01:00:00Z")
    );
    consistent(&w, "2025-01-01T00:00:00Z", 15, 7);
}

#[test]
fn a_window_ending_at_midnight() {
    let w = window("23:00", "00:00", "UTC", &["Saturday"]);
    // 2025-01-04 is a Saturday.
    assert!(w.contains(ts("2025-01-04T23:59:59Z")));
    assert!(!w.contains(ts("2025-01-05T00:00:00Z")));
    assert_eq!(
        opening(&w, "2025-01-01T00:00:00Z"),
        pair("2025-01-04T23:00:00Z", "2025-01-05T00:00:00Z")
    );
}

#[test]
fn the_day_is_the_local_day_not_the_utc_day() {
    // Monday 00:30 in Berlin is still Sunday in UTC.
    let w = window("00:30", "01:30", "Europe/Berlin", &["mon"]);
    assert!(w.contains(ts("2025-01-05T23:45:00Z")));
    assert!(
        !w.contains(ts("2025-01-06T23:45:00Z")),
        "Tuesday 00:45 local"
    );
    assert_eq!(
        opening(&w, "2025-01-01T00:00:00Z"),
        pair("2025-01-05T23:30:00Z", "2025-01-06T00:30:00Z")
    );
}

#[test]
fn days_not_listed_are_skipped() {
    let w = window("10:00", "11:00", "America/New_York", &["Monday"]);
    // 2025-01-08 is a Wednesday; 10:00 EST is 15:00Z.
    assert!(!w.contains(ts("2025-01-08T15:30:00Z")));
    assert_eq!(
        opening(&w, "2025-01-08T15:30:00Z"),
        pair("2025-01-13T15:00:00Z", "2025-01-13T16:00:00Z")
    );
}

#[test]
fn berlin_spring_forward_starts_after_the_gap() {
    // 2025-03-30: 02:00 CET jumps to 03:00 CEST at 01:00Z.
    let w = window("02:00", "04:00", "Europe/Berlin", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-03-23T12:00:00Z"),
        pair("2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"),
        "02:00 does not exist: the window opens at 03:00 CEST and lasts one hour"
    );
    assert_eq!(
        opening(&w, "2025-03-22T12:00:00Z"),
        pair("2025-03-23T01:00:00Z", "2025-03-23T03:00:00Z"),
        "the Sunday before, in CET, lasts two hours"
    );
    assert!(!w.contains(ts("2025-03-30T00:59:59Z")));
    assert!(w.contains(ts("2025-03-30T01:00:00Z")));

    // A start inside the gap opens at the first instant after it (03:00), not at the
    // shifted time (03:30).
    let w = window("02:30", "03:30", "Europe/Berlin", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-03-29T12:00:00Z"),
        pair("2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z")
    );

    // A window wholly inside the gap is empty that day: the next Sunday is the answer.
    let w = window("02:10", "02:50", "Europe/Berlin", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-03-29T12:00:00Z"),
        pair("2025-04-06T00:10:00Z", "2025-04-06T00:50:00Z")
    );
    assert!(!w.contains(ts("2025-03-30T01:00:00Z")));
    consistent(&w, "2025-03-20T00:00:00Z", 20, 5);
}

#[test]
fn berlin_fall_back_uses_the_first_occurrence() {
    // 2025-10-26: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:00-02:59 happen twice.
    let w = window("02:30", "03:30", "Europe/Berlin", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-10-25T12:00:00Z"),
        pair("2025-10-26T00:30:00Z", "2025-10-26T02:30:00Z"),
        "from the first 02:30 (CEST) to 03:30 CET: two real hours"
    );
    assert!(w.contains(ts("2025-10-26T01:45:00Z")), "the second 02:45");

    // An ambiguous end is its first occurrence too: the repeated hour is outside.
    let w = window("01:00", "02:30", "Europe/Berlin", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-10-25T12:00:00Z"),
        pair("2025-10-25T23:00:00Z", "2025-10-26T00:30:00Z")
    );
    assert!(
        !w.contains(ts("2025-10-26T01:15:00Z")),
        "the second 02:15 (CET)"
    );
    consistent(&w, "2025-10-20T00:00:00Z", 14, 5);
}

#[test]
fn new_york_spring_forward() {
    // 2025-03-09: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let w = window("01:30", "03:30", "America/New_York", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-03-08T12:00:00Z"),
        pair("2025-03-09T06:30:00Z", "2025-03-09T07:30:00Z"),
        "01:30 EST to 03:30 EDT is one real hour"
    );
    let w = window("02:15", "05:00", "America/New_York", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-03-08T12:00:00Z"),
        pair("2025-03-09T07:00:00Z", "2025-03-09T09:00:00Z")
    );
    // Saturday 23:00 EST into Sunday 03:00 EDT: across midnight and the gap.
    let w = window("23:00", "03:00", "America/New_York", &["Saturday"]);
    assert_eq!(
        opening(&w, "2025-03-08T12:00:00Z"),
        pair("2025-03-09T04:00:00Z", "2025-03-09T07:00:00Z")
    );
    assert!(w.contains(ts("2025-03-09T06:59:59Z")));
    assert!(!w.contains(ts("2025-03-09T07:00:00Z")));
    consistent(&w, "2025-03-01T00:00:00Z", 16, 7);
}

#[test]
fn new_york_fall_back() {
    // 2025-11-02: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:00-01:59 happen twice.
    let w = window("01:30", "02:30", "America/New_York", &["Sunday"]);
    assert_eq!(
        opening(&w, "2025-11-01T12:00:00Z"),
        pair("2025-11-02T05:30:00Z", "2025-11-02T07:30:00Z")
    );
    assert!(
        w.contains(ts("2025-11-02T06:45:00Z")),
        "the second 01:45 (EST)"
    );
    assert!(!w.contains(ts("2025-11-02T07:30:00Z")));
    consistent(&w, "2025-10-28T00:00:00Z", 14, 5);
}

#[test]
fn every_day_across_both_berlin_changes() {
    let w = window(
        "01:45",
        "03:15",
        "Europe/Berlin",
        &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    );
    consistent(&w, "2025-03-25T00:00:00Z", 10, 3);
    consistent(&w, "2025-10-22T00:00:00Z", 10, 3);
}

#[test]
fn the_ends_of_time_do_not_panic() {
    let w = window("02:00", "04:00", "Europe/Berlin", &["Sunday"]);
    assert_eq!(w.next_opening(Timestamp::MAX), None);
    assert!(!w.contains(Timestamp::MAX));
    assert!(!w.contains(Timestamp::MIN));
    assert!(w.next_opening(Timestamp::MIN).is_some());
}

#[test]
fn construction_refuses_nonsense() {
    let t = |s| parse_time_of_day(s).unwrap();
    let sun = [Weekday::Sunday];
    let err = MaintenanceWindow::new(t("02:00"), t("02:00:00"), "UTC", &sun).unwrap_err();
    assert!(err.contains("both 02:00:00"), "{err}");
    let err = MaintenanceWindow::new(t("02:00"), t("03:00"), "UTC", &[]).unwrap_err();
    assert!(err.contains("never open"), "{err}");
    let err = MaintenanceWindow::new(
        t("02:00"),
        t("03:00"),
        "UTC",
        &[Weekday::Sunday, Weekday::Sunday],
    )
    .unwrap_err();
    assert!(err.contains("Sunday is listed twice"), "{err}");
    for (tz, why) in [
        ("Mars/Olympus", "unknown time zone"),
        ("", "invalid time zone"),
        ("/etc/localtime", "invalid time zone"),
        ("../../etc/passwd", "invalid time zone"),
        ("Europe/../UTC", "invalid time zone"),
        ("Europe Berlin", "invalid time zone"),
    ] {
        let err = MaintenanceWindow::new(t("02:00"), t("03:00"), tz, &sun).unwrap_err();
        assert!(err.contains(why), "{tz:?}: {err}");
    }
    let w = MaintenanceWindow::new(t("02:00"), t("03:00"), "europe/berlin", &sun).unwrap();
    assert_eq!(
        w.time_zone_name(),
        "Europe/Berlin",
        "the database's spelling"
    );
}

#[test]
fn times_of_day() {
    for (text, want) in [
        ("02:00", "02:00:00"),
        ("02:00:00", "02:00:00"),
        ("00:00", "00:00:00"),
        ("23:59:59", "23:59:59"),
    ] {
        assert_eq!(parse_time_of_day(text).unwrap().to_string(), want);
    }
    for bad in [
        "24:00",
        "2:00",
        "02:60",
        "02:00:60",
        "02:00:00.5",
        "",
        "02",
        "aa:bb",
        "+1:00",
        "02:00:00:00",
        "-1:00",
        "02:0",
    ] {
        let err = parse_time_of_day(bad).unwrap_err();
        assert!(err.contains("expected HH:MM or HH:MM:SS"), "{bad:?}: {err}");
    }
}

#[test]
fn day_names() {
    for (text, want) in [
        ("Sunday", Weekday::Sunday),
        ("sunday", Weekday::Sunday),
        ("SUN", Weekday::Sunday),
        ("tue", Weekday::Tuesday),
        ("Thursday", Weekday::Thursday),
    ] {
        assert_eq!(parse_day(text).unwrap(), want);
    }
    for bad in ["Sonntag", "su", "Sundays", "", "tues"] {
        assert!(
            parse_day(bad).unwrap_err().contains("unknown day"),
            "{bad:?}"
        );
    }
}
