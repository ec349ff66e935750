//! The Prometheus text exposition format 0.0.4, written by hand: family headers, samples,
//! label escaping, float formatting, and duration histograms.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// The kind of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines that open a family.
pub(crate) fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    push_escaped_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Writes one sample line: `name{a="x",b="y"} value`.
pub(crate) fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl fmt::Display,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            push_escaped_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    // Writing into a String cannot fail.
    let _ = write!(out, "{value}");
    out.push('\n');
}

/// Appends a label value escaped as the format requires: backslash, double quote and line
/// feed become `\\`, `\"` and `\n`.
pub(crate) fn push_escaped_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends HELP text escaped as the format requires: backslash and line feed.
fn push_escaped_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float formatted the way Prometheus parses it: the shortest decimal that round-trips
/// (Rust's `Display`, never an exponent), and `+Inf`, `-Inf`, `NaN`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Float(pub(crate) f64);

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v == f64::INFINITY {
            f.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            write!(f, "{v}")
        }
    }
}

/// Nanoseconds as seconds.
fn seconds(nanos: u128) -> f64 {
    nanos as f64 / 1e9
}

/// A histogram of durations. Bucket bounds are whole nanoseconds, so an observation equal to
/// a bound lands in that bound's bucket exactly (`le` is inclusive), with no float rounding.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    /// Upper bounds in nanoseconds, strictly increasing; `+Inf` is implicit.
    bounds: &'static [u64],
    /// Non-cumulative counts: `counts[i]` for `bounds[i]`, the last for `+Inf`.
    counts: Vec<u64>,
    sum_nanos: u128,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum_nanos: 0,
        }
    }

    pub(crate) fn observe(&mut self, value: Duration) {
        let nanos = value.as_nanos();
        // The first bucket whose bound is >= the value; `bounds.len()` is `+Inf`.
        let i = self.bounds.partition_point(|&b| u128::from(b) < nanos);
        self.counts[i] += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Writes the `_bucket` (cumulative, ending with `+Inf`), `_sum` and `_count` samples of
    /// one series. `_count` equals the `+Inf` bucket by construction.
    pub(crate) fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count;
            let le = match self.bounds.get(i) {
                Some(&b) => Float(seconds(u128::from(b))).to_string(),
                None => Float(f64::INFINITY).to_string(),
            };
            let mut with_le: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 1);
            with_le.extend_from_slice(labels);
            with_le.push(("le", &le));
            sample(out, &bucket, &with_le, cumulative);
        }
        sample(
            out,
            &format!("{name}_sum"),
            labels,
            Float(seconds(self.sum_nanos)),
        );
        sample(out, &format!("{name}_count"), labels, cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        push_escaped_label_value(&mut out, "a\\b\"c\nd\te✓");
        assert_eq!(out, r#"a\\b\"c\nd	e✓"#);
    }

    #[test]
    fn samples_and_headers() {
        let mut out = String::new();
        family(
            &mut out,
            "x_total",
            Kind::Counter,
            "Things, with a \\ and\na newline.",
        );
        sample(&mut out, "x_total", &[], 3u64);
        sample(&mut out, "x_total", &[("a", "q\""), ("b", "")], Float(0.5));
        assert_eq!(
            out,
            "# HELP x_total Things, with a \\\\ and\\na newline.\n\
             # TYPE x_total counter\n\
             x_total 3\n\
             x_total{a=\"q\\\"\",b=\"\"} 0.5\n"
        );
    }

    #[test]
    fn floats_are_formatted_for_prometheus() {
        let f = |v: f64| Float(v).to_string();
        assert_eq!(f(1.0), "1");
        assert_eq!(f(600.0), "600");
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(1e-5), "0.00001");
        assert_eq!(f(0.000025), "0.000025");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
        // Every finite output parses back to the same value.
        for v in [
            1e-9,
            0.1 + 0.2,
            123456.789,
            1e21,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v);
        }
    }

    const BOUNDS: &[u64] = &[1_000_000, 10_000_000, 1_000_000_000]; // 1 ms, 10 ms, 1 s

    fn lines(h: &Histogram) -> Vec<String> {
        let mut out = String::new();
        h.write(&mut out, "h_seconds", &[("component", "c")]);
        out.lines().map(str::to_owned).collect()
    }

    #[test]
    fn empty_histogram_has_every_bucket_at_zero() {
        assert_eq!(
            lines(&Histogram::new(BOUNDS)),
            [
                r#"h_seconds_bucket{component="c",le="0.001"} 0"#,
                r#"h_seconds_bucket{component="c",le="0.01"} 0"#,
                r#"h_seconds_bucket{component="c",le="1"} 0"#,
                r#"h_seconds_bucket{component="c",le="+Inf"} 0"#,
                r#"h_seconds_sum{component="c"} 0"#,
                r#"h_seconds_count{component="c"} 0"#,
            ]
        );
    }

    #[test]
    fn histogram_buckets_are_inclusive_and_cumulative() {
        let mut h = Histogram::new(BOUNDS);
        for d in [
            Duration::ZERO,
            Duration::from_millis(1), // exactly on 0.001
            Duration::from_millis(1) + Duration::from_nanos(1), // just above 0.001
            Duration::from_millis(10), // exactly on 0.01
            Duration::from_millis(500),
            Duration::from_secs(1),   // exactly on 1
            Duration::from_secs(2),   // +Inf only
            Duration::from_secs(100), // +Inf only
        ] {
            h.observe(d);
        }
        assert_eq!(h.counts, [2, 2, 2, 2]);
        assert_eq!(
            lines(&h),
            [
                r#"h_seconds_bucket{component="c",le="0.001"} 2"#,
                r#"h_seconds_bucket{component="c",le="0.01"} 4"#,
                r#"h_seconds_bucket{component="c",le="1"} 6"#,
                r#"h_seconds_bucket{component="c",le="+Inf"} 8"#,
                r#"h_seconds_sum{component="c"} 103.512000001"#,
                r#"h_seconds_count{component="c"} 8"#,
            ]
        );
    }
}
