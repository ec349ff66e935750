//! An Argo-style analysis of one stage: a PromQL query run `count` times, `interval`
//! apart; each result is a success when it meets the condition. More failures than
//! `failure_limit` abort the rollout; a Prometheus that does not answer pauses it (it is
//! never a reason to promote); results with no data (the candidate served no calls yet)
//! count for nothing, and a stage with no success is held where it is.

use std::time::Duration;

use semver::Version;

use crate::ids::ComponentName;

/// The query used when none is given: the share of the candidate's calls, across the
/// fleet, that ended in a guest failure (trap, out of fuel, deadline, memory limit) over
/// the last `{{window}}`.
pub const DEFAULT_QUERY: &str = "sum(increase(anya_traps_total{component=\"{{component}}\",version=\"{{candidate}}\"}[{{window}}])) / sum(increase(anya_calls_total{component=\"{{component}}\",version=\"{{candidate}}\"}[{{window}}]))";

/// The condition used when none is given: at most 1% of the candidate's calls fail.
pub const DEFAULT_SUCCESS: &str = "result <= 0.01";

/// How one stage is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// PromQL, with `{{component}}`, `{{candidate}}`, `{{stable}}` and `{{window}}` filled
    /// in per component.
    pub query: String,
    pub success: Condition,
    pub interval: Duration,
    pub count: u32,
    pub failure_limit: u32,
    /// The range of the default query's `increase`.
    pub window: Duration,
    /// How many hosts the fleet has, when known: a stage is judged only while Prometheus
    /// sees at least that many (a partial view could take a stage for empty).
    pub fleet_size: Option<usize>,
}

impl Analysis {
    /// The query for `component` rolling `candidate` out over `stable`.
    pub fn query_for(
        &self,
        component: &ComponentName,
        candidate: &Version,
        stable: &Version,
    ) -> String {
        // Names and versions hold no quote or brace (their grammars forbid them), so they
        // cannot break out of a PromQL string.
        self.query
            .replace("{{component}}", component.as_str())
            .replace("{{candidate}}", &candidate.to_string())
            .replace("{{stable}}", &stable.to_string())
            .replace("{{window}}", &format!("{}s", self.window.as_secs().max(1)))
    }
}

/// `result OP NUMBER`, with OP one of `<`, `<=`, `>`, `>=`, `==`, `!=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Comparison,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::Equal => "==",
            Self::NotEqual => "!=",
        }
    }
}

impl Condition {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .trim()
            .strip_prefix("result")
            .ok_or_else(|| format!("{text:?}: expected `result OP NUMBER`, as `result <= 0.01`"))?
            .trim_start();
        // Two-character operators first.
        let ops = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("==", Comparison::Equal),
            ("!=", Comparison::NotEqual),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ];
        let (op, number) = ops
            .iter()
            .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|n| (*op, n)))
            .ok_or_else(|| format!("{text:?}: expected one of < <= > >= == != after `result`"))?;
        let threshold: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {:?} is not a number", number.trim()))?;
        if !threshold.is_finite() {
            return Err(format!("{text:?}: the threshold must be a finite number"));
        }
        Ok(Self { op, threshold })
    }

    pub fn holds(&self, result: f64) -> bool {
        let t = self.threshold;
        match self.op {
            Comparison::Less => result < t,
            Comparison::LessOrEqual => result <= t,
            Comparison::Greater => result > t,
            Comparison::GreaterOrEqual => result >= t,
            Comparison::Equal => result == t,
            Comparison::NotEqual => result != t,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "result {} {}", self.op.symbol(), self.threshold)
    }
}

/// One run of the query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Measurement {
    Success {
        value: f64,
    },
    Failure {
        value: f64,
    },
    /// An empty result or not a number (no calls in the window).
    NoData,
    /// Prometheus did not answer, or answered an error.
    Unreachable {
        error: String,
    },
}

impl Measurement {
    /// What `value` (None: no data) measures under `condition`.
    pub fn of(value: Option<f64>, condition: &Condition) -> Self {
        match value {
            Some(value) if value.is_nan() => Self::NoData,
            Some(value) if condition.holds(value) => Self::Success { value },
            Some(value) => Self::Failure { value },
            None => Self::NoData,
        }
    }
}

/// What a stage's measurements decide.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    /// Enough successes, failures within the limit.
    Promote,
    /// More failures than the limit.
    Abort { why: String },
    /// Prometheus could not be asked: never promote on silence.
    Pause { why: String },
    /// No data to judge by, or the stage's hosts do not all run the candidate yet: stay
    /// at this stage.
    Hold { why: String },
    /// No host of the fleet falls in this stage: nothing to judge; go on to the next.
    Skip { why: String },
}

/// The verdict of `measurements` with at most `failure_limit` failures allowed.
pub fn verdict(
    measurements: &[Measurement],
    count: u32,
    failure_limit: u32,
    condition: &Condition,
) -> Verdict {
    let failures: Vec<f64> = measurements
        .iter()
        .filter_map(|m| match m {
            Measurement::Failure { value } => Some(*value),
            _ => None,
        })
        .collect();
    if failures.len() > failure_limit as usize {
        return Verdict::Abort {
            why: format!(
                "{} of {} measurements failed `{condition}` (limit {failure_limit}): {}",
                failures.len(),
                measurements.len(),
                failures
                    .iter()
                    .map(|v| format!("{v:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    if let Some(error) = measurements.iter().find_map(|m| match m {
        Measurement::Unreachable { error } => Some(error),
        _ => None,
    }) {
        return Verdict::Pause {
            why: format!("Prometheus did not answer: {error}"),
        };
    }
    // A promotion needs most of the planned measurements to succeed: one success among
    // results without data is no evidence.
    let successes = measurements
        .iter()
        .filter(|m| matches!(m, Measurement::Success { .. }))
        .count();
    if successes * 2 <= count as usize {
        return Verdict::Hold {
            why: format!(
                "{successes} of {count} measurements succeeded, the others had no data (has \
                 the candidate served calls?); a promotion needs more than half"
            ),
        };
    }
    Verdict::Promote
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_most_one_percent() -> Condition {
        Condition::parse(DEFAULT_SUCCESS).unwrap()
    }

    #[test]
    fn conditions_parse_and_hold() {
        let c = Condition::parse(" result<0.5").unwrap();
        assert!(c.holds(0.4) && !c.holds(0.5));
        assert!(Condition::parse("result >= 10").unwrap().holds(10.0));
        assert!(Condition::parse("result != 0").unwrap().holds(1.0));
        assert_eq!(at_most_one_percent().to_string(), "result <= 0.01");
        for bad in [
            "",
            "x < 1",
            "result ~ 1",
            "result < ",
            "result < NaN",
            "result < inf",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failures_over_the_limit_abort_silence_pauses_no_data_holds() {
        let c = at_most_one_percent();
        let ok = Measurement::of(Some(0.0), &c);
        let bad = Measurement::of(Some(0.2), &c);
        let none = Measurement::of(Some(f64::NAN), &c);
        let down = Measurement::Unreachable {
            error: "refused".into(),
        };
        assert_eq!(
            verdict(&[ok.clone(), ok.clone()], 2, 0, &c),
            Verdict::Promote
        );
        assert_eq!(
            verdict(&[ok.clone(), ok.clone(), bad.clone()], 3, 1, &c),
            Verdict::Promote
        );
        // One success among no data is no evidence.
        assert!(matches!(
            verdict(&[ok.clone(), none.clone(), none.clone()], 3, 0, &c),
            Verdict::Hold { .. }
        ));
        assert!(matches!(
            verdict(&[ok.clone(), bad.clone()], 2, 0, &c),
            Verdict::Abort { .. }
        ));
        // A failure beyond the limit aborts even when Prometheus also went away.
        assert!(matches!(
            verdict(&[bad.clone(), down.clone()], 2, 0, &c),
            Verdict::Abort { .. }
        ));
        assert!(matches!(
            verdict(&[ok.clone(), down], 2, 0, &c),
            Verdict::Pause { .. }
        ));
        assert!(matches!(
            verdict(&[none.clone(), none], 2, 0, &c),
            Verdict::Hold { .. }
        ));
        assert_eq!(Measurement::of(None, &c), Measurement::NoData);
    }

    #[test]
    fn the_query_is_filled_in_per_component() {
        let analysis = Analysis {
            query: DEFAULT_QUERY.into(),
            success: at_most_one_percent(),
            interval: Duration::from_secs(1),
            count: 1,
            failure_limit: 0,
            window: Duration::from_secs(60),
            fleet_size: None,
        };
        let q = analysis.query_for(
            &ComponentName::parse("fee").unwrap(),
            &Version::new(1, 1, 0),
            &Version::new(1, 0, 0),
        );
        assert!(
            q.contains(r#"anya_traps_total{component="fee",version="1.1.0"}[60s]"#),
            "{q}"
        );
        assert!(!q.contains("{{"), "{q}");
    }
}
