//! What a notification says: [`Event`] and its [`EventKind`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest `reason` (in characters) that [`Event::summary`] quotes; the full reason is
/// in the JSON body and the e-mail body.
const SUMMARY_REASON_CHARS: usize = 200;
/// The longest component name or version (in characters) that [`Event::summary`] quotes.
const SUMMARY_FIELD_CHARS: usize = 80;

/// What happened. Serialized as the dotted names below (the webhook body's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// `update.available`: a newer version was found and not (yet) installed.
    #[serde(rename = "update.available")]
    UpdateAvailable,
    /// `update.installed`: a new version now serves calls.
    #[serde(rename = "update.installed")]
    Installed,
    /// `update.refused`: a candidate was refused (signature, compatibility, policy...);
    /// `reason` says why.
    #[serde(rename = "update.refused")]
    Refused,
    /// `update.rolled_back`: a version was replaced by an earlier one; `reason` says why.
    #[serde(rename = "update.rolled_back")]
    RolledBack,
    /// `security.critical`: a security-critical update concerns a component. Sent ahead of
    /// every queued ordinary event when `security_alert_immediate` is set.
    #[serde(rename = "security.critical")]
    SecurityCritical,
    /// `index.refused`: the host refused its registry's signed index (rollback,
    /// equivocation, expiry, mix and match, endless data, bad signatures, a package unlike
    /// its listing); `reason` says why. The host serves on and installs nothing new.
    #[serde(rename = "index.refused")]
    IndexRefused,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        EventKind::UpdateAvailable,
        EventKind::Installed,
        EventKind::Refused,
        EventKind::RolledBack,
        EventKind::SecurityCritical,
        EventKind::IndexRefused,
    ];

    /// The wire name, as in the JSON body (`update.installed`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::UpdateAvailable => "update.available",
            EventKind::Installed => "update.installed",
            EventKind::Refused => "update.refused",
            EventKind::RolledBack => "update.rolled_back",
            EventKind::SecurityCritical => "security.critical",
            EventKind::IndexRefused => "index.refused",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification.
///
/// Versions describe the running version's transition: `previous_version` is the version
/// that was running when the event happened and `version` the one the event is about (the
/// candidate for `update.available`, `update.installed` and `update.refused`; the version
/// restored for `update.rolled_back`, whose `previous_version` is the one rolled back).
///
/// The webhook body is this struct as JSON, with `kind` named `type` and `at` named
/// `timestamp` (RFC 3339, UTC); absent optional fields are `null`:
///
/// ```json
/// {"id":"evt_5f0c…","type":"update.installed","component":"demo","version":"1.2.0",
///  "previous_version":"1.1.0","update_type":"feature","security_critical":false,
///  "reason":null,"timestamp":"2025-01-02T03:04:05Z","actor":"scheduler"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event (`evt_` and 32 hex digits from [`Event::new`]); the same on every
    /// delivery attempt and every target, so receivers can drop duplicates (it is the
    /// `webhook-id` header).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub component: String,
    pub version: Option<String>,
    pub previous_version: Option<String>,
    /// The update's type as the host names it (`security`, `feature`, `breaking`...).
    pub update_type: Option<String>,
    pub security_critical: bool,
    /// Why an update was refused or rolled back.
    pub reason: Option<String>,
    #[serde(rename = "timestamp")]
    pub at: jiff::Timestamp,
    /// Who caused it (`scheduler`, `cli`, a user name...).
    pub actor: Option<String>,
}

impl Event {
    /// A new event of `kind` about `component`, with a fresh id, the current time, and
    /// every optional field empty. `security_critical` is true for
    /// [`EventKind::SecurityCritical`].
    pub fn new(kind: EventKind, component: impl Into<String>) -> Self {
        Self {
            id: new_event_id(),
            kind,
            component: component.into(),
            version: None,
            previous_version: None,
            update_type: None,
            security_critical: kind == EventKind::SecurityCritical,
            reason: None,
            at: jiff::Timestamp::now(),
            actor: None,
        }
    }

    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    pub fn with_previous_version(mut self, version: impl Into<String>) -> Self {
        self.previous_version = Some(version.into());
        self
    }

    pub fn with_update_type(mut self, update_type: impl Into<String>) -> Self {
        self.update_type = Some(update_type.into());
        self
    }

    pub fn with_security_critical(mut self, critical: bool) -> Self {
        self.security_critical = critical;
        self
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Whether this is a security alert: kind `security.critical` or flagged critical.
    pub fn is_security(&self) -> bool {
        self.kind == EventKind::SecurityCritical || self.security_critical
    }

    /// One human line: the Slack `text` and the e-mail subject. Control characters are
    /// replaced by spaces and long fields are shortened, so the line is safe as a header.
    ///
    /// For example `Installed demo 1.1.0 -> 1.2.0 (feature)` or
    /// `Rolled back demo 1.2.0 -> 1.1.0: health check failed`.
    pub fn summary(&self) -> String {
        let component = one_line(&self.component, SUMMARY_FIELD_CHARS);
        let mut line = String::new();
        if self.security_critical && self.kind != EventKind::SecurityCritical {
            line.push_str("[security] ");
        }
        line.push_str(match self.kind {
            EventKind::UpdateAvailable => "Update available for ",
            EventKind::Installed => "Installed ",
            EventKind::Refused => "Refused update of ",
            EventKind::RolledBack => "Rolled back ",
            EventKind::SecurityCritical => "SECURITY: critical update for ",
            EventKind::IndexRefused => "Refused the signed index of ",
        });
        line.push_str(&component);
        let previous = self
            .previous_version
            .as_deref()
            .map(|v| one_line(v, SUMMARY_FIELD_CHARS));
        let version = self
            .version
            .as_deref()
            .map(|v| one_line(v, SUMMARY_FIELD_CHARS));
        match (previous, version) {
            (Some(p), Some(v)) => line.push_str(&format!(" {p} -> {v}")),
            (None, Some(v)) => line.push_str(&format!(" {v}")),
            (Some(p), None) => line.push_str(&format!(" (was {p})")),
            (None, None) => {}
        }
        if let Some(t) = &self.update_type {
            line.push_str(&format!(" ({})", one_line(t, SUMMARY_FIELD_CHARS)));
        }
        if let Some(reason) = &self.reason {
            line.push_str(": ");
            line.push_str(&one_line(reason, SUMMARY_REASON_CHARS));
        }
        line
    }
}

/// `evt_` and 32 hex digits of randomness.
pub(crate) fn new_event_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never on the platforms Anya runs on): time and a counter still
        // keep ids unique within this process.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = jiff::Timestamp::now().as_nanosecond() as u64;
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
        bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    format!("evt_{}", hex::encode(bytes))
}

/// `text` with control characters as spaces, runs of whitespace collapsed, trimmed, and cut
/// to `max` characters (ending in `…` when cut).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
            count += 1;
        }
        for c in word.chars() {
            if count >= max {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_documented() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert!(a.starts_with("evt_") && a.len() == 36, "{a}");
    }

    #[test]
    fn json_round_trips_with_wire_names() {
        let event = Event::new(EventKind::Installed, "demo")
            .with_version("1.2.0")
            .with_previous_version("1.1.0")
            .with_actor("scheduler");
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["type"], "update.installed");
        assert_eq!(value["timestamp"], event.at.to_string());
        assert_eq!(value["reason"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
    }

    #[test]
    fn summaries_are_one_safe_line() {
        let event = Event::new(EventKind::RolledBack, "demo")
            .with_previous_version("1.2.0")
            .with_version("1.1.0")
            .with_reason("health check\r\nBcc: evil@example.com");
        assert_eq!(
            event.summary(),
            "Rolled back demo 1.2.0 -> 1.1.0: health check Bcc: evil@example.com"
        );
        let critical = Event::new(EventKind::Installed, "demo")
            .with_version("2.0.0")
            .with_update_type("security")
            .with_security_critical(true);
        assert_eq!(
            critical.summary(),
            "[security] Installed demo 2.0.0 (security)"
        );
        let long = Event::new(EventKind::Refused, "x").with_reason("a".repeat(1000));
        let summary = long.summary();
        assert!(summary.chars().count() < 250 && summary.ends_with('…'));
    }
}
