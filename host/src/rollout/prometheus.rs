//! The Prometheus HTTP API's instant query (`GET /api/v1/query`), as the rollout
//! controller asks it: one number per series, or why there is none.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// The most read of an answer: an analysis query returns a handful of series.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Why Prometheus gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}: {reason}")]
    Refused {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{url} answered what is not the Prometheus API: {reason}")]
    Malformed { url: String, reason: String },
}

/// A Prometheus server.
pub struct Prometheus {
    base: Url,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Series>),
    Scalar(Sample),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Sample,
}

/// One series of an answer: its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// `[timestamp, "value"]`.
#[derive(Deserialize)]
struct Sample(serde::de::IgnoredAny, String);

impl Prometheus {
    /// The server at `base` (`http://host:9090`, or under a path prefix), each query
    /// bounded by `timeout`.
    pub fn new(base: Url, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("anya-rollout/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { base, agent }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The value of each series `promql` gives now (a scalar is one value).
    pub fn query(&self, promql: &str) -> Result<Vec<f64>, PrometheusError> {
        Ok(self
            .query_series(promql)?
            .into_iter()
            .map(|s| s.value)
            .collect())
    }

    /// Each series `promql` gives now, with its labels (a scalar has none).
    pub fn query_series(&self, promql: &str) -> Result<Vec<Sampled>, PrometheusError> {
        let endpoint = self.endpoint();
        let url = Self::shown(&endpoint);
        let unreachable = |reason: String| PrometheusError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut response = self
            .agent
            .get(endpoint.as_str())
            .query("query", promql)
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| unreachable(e.to_string()))?;
        let malformed = |reason: String| PrometheusError::Malformed {
            url: url.clone(),
            reason,
        };
        let answer: Answer = match serde_json::from_str(&body) {
            Ok(answer) => answer,
            Err(e) if status == 200 => return Err(malformed(e.to_string())),
            Err(_) => {
                return Err(PrometheusError::Refused {
                    url: url.clone(),
                    status,
                    reason: body.chars().take(200).collect(),
                });
            }
        };
        if answer.status != "success" || status != 200 {
            return Err(PrometheusError::Refused {
                url: url.clone(),
                status,
                reason: answer.error.unwrap_or(answer.status),
            });
        }
        let samples: Vec<(BTreeMap<String, String>, Sample)> = match answer.data {
            Some(Data::Vector(series)) => series.into_iter().map(|s| (s.metric, s.value)).collect(),
            Some(Data::Scalar(sample)) => vec![(BTreeMap::new(), sample)],
            Some(Data::Matrix(_) | Data::String(_)) => {
                return Err(malformed(
                    "the query gives a range or a string, not a number per series".into(),
                ));
            }
            None => return Err(malformed("no data in a successful answer".into())),
        };
        samples
            .into_iter()
            .map(|(labels, Sample(_, value))| {
                let value = parse_value(&value)
                    .ok_or_else(|| malformed(format!("{value:?} is not a number")))?;
                Ok(Sampled { labels, value })
            })
            .collect()
    }

    /// The endpoint as messages show it: without a password the URL may carry.
    fn shown(url: &Url) -> String {
        let mut shown = url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        shown.to_string()
    }

    fn endpoint(&self) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/api/v1/query", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }
}

/// Prometheus writes numbers as Go does: `NaN`, `+Inf`, `-Inf` besides decimals.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}
