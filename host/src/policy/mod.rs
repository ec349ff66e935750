//! The operator's update policy, `update_policy.toml`: parsed strictly, validated into a
//! [`Policy`].
//!
//! Invariants: unknown keys and bad values are errors that name the line, the column and
//! the reason; every value in a [`Policy`] has been validated (times, IANA time zone,
//! days, URLs, e-mail addresses, BIP numbers, component names, rates, durations); and
//! **omitting a key never turns a check off**: every default is the cautious choice.
//! An empty file means [`Policy::default()`].
//!
//! The file format is the update-management guide's example (column "guide" below),
//! plus keys Anya needs (all optional).
//!
//! | key | type | default | guide | meaning |
//! |---|---|---|---|---|
//! | **`[auto_update]`** | | | | |
//! | `enabled` | bool | `false` | yes | the scheduler installs updates by itself at all |
//! | `security_updates` | bool | `true` | yes | install security updates (`update_type = "security"` or `security_critical`) automatically |
//! | `feature_updates` | bool | `false` | yes | install every other update type automatically |
//! | `breaking_changes` | bool | `false` | yes | install an update that declares breaking changes automatically (any type) |
//! | `check_interval_minutes` | 1..=527040 | `60` | | how often the registry is checked |
//! | `max_concurrent_updates` | ≥ 1 | `1` | | updates in progress at once |
//! | **`[maintenance_window]`** | | absent | yes | when automatic updates may run (see below) |
//! | `start_time` | `"HH:MM"` / `"HH:MM:SS"` | required | yes | local time the window opens |
//! | `end_time` | same | required | yes | local time it closes; earlier than `start_time` = across midnight |
//! | `timezone` | IANA name | required | yes | `"UTC"`, `"Europe/Berlin"`; must exist in the time zone database |
//! | `days` | list of day names | every day | yes | days the window *opens* on; English, any case, full or 3 letters; no repeats |
//! | **`[notifications]`** | | | | |
//! | `webhook_urls` | list of http(s) URLs | `[]` | yes | JSON webhooks, one event per POST |
//! | `webhook_secret_file` | absolute path | none | | file holding the HMAC key that signs webhooks |
//! | `slack_webhook_urls` | list of http(s) URLs | `[]` | | Slack incoming webhooks |
//! | `email_recipients` | list of e-mail addresses | `[]` | yes | who gets e-mail (needs `[notifications.smtp]`) |
//! | `security_alert_immediate` | bool | `true` | yes | security-critical events are sent at once, even outside the window |
//! | **`[notifications.smtp]`** | | absent | | the mail server for `email_recipients` |
//! | `host` | host name or IP | required | | |
//! | `port` | 1..=65535 | `587`, or `25` without STARTTLS | | |
//! | `from` | e-mail address | required | | sender address |
//! | `starttls` | bool | `true` | | require STARTTLS before sending |
//! | `username` | string | none | | SMTP AUTH user |
//! | `password_file` | absolute path | none | | file holding the SMTP AUTH password |
//! | **`[rollback]`** | | | | |
//! | `auto_rollback_on_failure` | bool | `true` | yes | a breach during trial rolls back by itself |
//! | `rollback_timeout_minutes` | 1..=527040 | `30` | yes | how long a new version stays in trial before it is committed |
//! | `max_rollback_attempts` | ≥ 1 | `3` | yes | how often a rollback whose state write fails is retried |
//! | `rollback_points` | ≥ 1 | `3` | | rollback points kept per component |
//! | `trial_failure_rate` | 0..=1 | `0.05` | | a share of failed calls above this during trial breaches it |
//! | `trial_min_calls` | ≥ 1 | `20` | | the rate is judged only after this many calls |
//! | **`[testing]`** | | | | |
//! | `pre_update_tests` | bool | `true` | yes | run the validators against a candidate before it takes traffic (those proving a required BIP run regardless) |
//! | `post_update_validation` | bool | `true` | yes | after the swap, check `lifecycle.health` and run the post-install validators before committing; a failure rolls back |
//! | `test_timeout_minutes` | 1..=527040 | `15` | yes | wall-clock limit for all the validators of one candidate (each run is also bounded by the call limits) |
//! | **`[components.NAME]`** | | | yes | overrides for one component (`NAME` is a component name) |
//! | `auto_update` | bool | `true` | yes | `false`: never installed automatically (effective value: `[auto_update] enabled && auto_update`) |
//! | `backup_before_update` | bool | `true` | yes | take a rollback point with a key-value snapshot before installing (always done: `false` is reported as not honoured) |
//! | `bip_compliance_required` | list of BIPs (`"141"` or `141`) | `[]` | yes | BIPs an update must prove with a passing validator |
//! | `protocol_compatibility_check` | bool | `true` | yes | refuse a breaking WIT change without a major version bump (`false` lets it through, logged; new capabilities are still held) |
//! | `model_validation_required` | bool | `false` | yes | refuse an update unless at least one validator ran against it and passed |
//! | `call_mode` | `"fresh"` / `"warm"` | the manifest's | | how calls run |
//! | `validators` | list of component names | `[]` | | validators run before activation, in addition to the manifest's |
//! | `post_install_validators` | list of component names | `[]` | | validators run against the swapped-in version before it is committed |
//!
//! **No `[maintenance_window]`** means automatic updates may run at any time. This is
//! safe because automatic updates are off unless the operator writes
//! `[auto_update] enabled = true`; an operator who enables them and leaves the window out
//! has chosen "whenever an update appears", and a missing window must not silently hold
//! security updates back forever. See [`window`] for how windows meet midnight and
//! daylight saving time.

mod values;
pub mod window;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use url::Url;

use crate::files::Links;
use crate::ids::ComponentName;
use crate::manifest::{Bip, CallMode, Manifest, UpdateType, one_line};

pub use values::EmailAddress;
pub use window::MaintenanceWindow;

/// The largest policy file accepted, in bytes.
pub const MAX_POLICY_LEN: usize = 1024 * 1024;

/// Why a policy is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `reason` starts with `line L, column C: ` when the position is known.
    #[error("invalid policy: {reason}")]
    Invalid { reason: String },
    #[error("invalid policy file {}: {reason}", path.display())]
    InvalidFile { path: PathBuf, reason: String },
}

/// The whole policy. Build it with [`Policy::parse`] or [`Policy::load`]; see the module
/// docs for every key and its default.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub auto_update: AutoUpdate,
    /// `None`: updates may run at any time (see the module docs).
    pub maintenance_window: Option<MaintenanceWindow>,
    pub notifications: Notifications,
    pub rollback: Rollback,
    pub testing: Testing,
    pub components: BTreeMap<ComponentName, ComponentOverrides>,
}

/// `[auto_update]`: what the scheduler installs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoUpdate {
    pub enabled: bool,
    pub security_updates: bool,
    pub feature_updates: bool,
    pub breaking_changes: bool,
    #[serde(
        rename = "check_interval_minutes",
        deserialize_with = "values::minutes"
    )]
    pub check_interval: Duration,
    #[serde(deserialize_with = "values::at_least_one")]
    pub max_concurrent_updates: usize,
}

impl Default for AutoUpdate {
    fn default() -> Self {
        Self {
            enabled: false,
            security_updates: true,
            feature_updates: false,
            breaking_changes: false,
            check_interval: Duration::from_secs(60 * 60),
            max_concurrent_updates: 1,
        }
    }
}

/// `[notifications]`: who is told what happened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notifications {
    #[serde(deserialize_with = "values::http_urls")]
    pub webhook_urls: Vec<Url>,
    #[serde(deserialize_with = "values::absolute_path")]
    pub webhook_secret_file: Option<PathBuf>,
    #[serde(deserialize_with = "values::http_urls")]
    pub slack_webhook_urls: Vec<Url>,
    #[serde(deserialize_with = "values::emails")]
    pub email_recipients: Vec<EmailAddress>,
    pub security_alert_immediate: bool,
    pub smtp: Option<Smtp>,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            webhook_urls: Vec::new(),
            webhook_secret_file: None,
            slack_webhook_urls: Vec::new(),
            email_recipients: Vec::new(),
            security_alert_immediate: true,
            smtp: None,
        }
    }
}

/// `[notifications.smtp]`: the mail server e-mail goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub from: EmailAddress,
    /// Require STARTTLS; a server that does not offer it gets no mail.
    pub starttls: bool,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    #[serde(deserialize_with = "values::host")]
    host: String,
    #[serde(default, deserialize_with = "values::port")]
    port: Option<u16>,
    from: EmailAddress,
    #[serde(default = "yes")]
    starttls: bool,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, deserialize_with = "values::absolute_path")]
    password_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for Smtp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawSmtp::deserialize(d)?;
        if raw.password_file.is_some() && raw.username.is_none() {
            return Err(serde::de::Error::custom(
                "[notifications.smtp]: password_file is set but username is not",
            ));
        }
        Ok(Self {
            port: raw.port.unwrap_or(if raw.starttls { 587 } else { 25 }),
            host: raw.host,
            from: raw.from,
            starttls: raw.starttls,
            username: raw.username,
            password_file: raw.password_file,
        })
    }
}

/// `[rollback]`: trial and rollback after an install.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rollback {
    pub auto_rollback_on_failure: bool,
    /// How long a new version stays in trial.
    #[serde(
        rename = "rollback_timeout_minutes",
        deserialize_with = "values::minutes"
    )]
    pub rollback_timeout: Duration,
    #[serde(deserialize_with = "values::at_least_one")]
    pub max_rollback_attempts: u32,
    #[serde(deserialize_with = "values::at_least_one")]
    pub rollback_points: usize,
    /// From 0 to 1.
    #[serde(deserialize_with = "values::rate")]
    pub trial_failure_rate: f64,
    #[serde(deserialize_with = "values::at_least_one")]
    pub trial_min_calls: u64,
}

impl Default for Rollback {
    fn default() -> Self {
        Self {
            auto_rollback_on_failure: true,
            rollback_timeout: Duration::from_secs(30 * 60),
            max_rollback_attempts: 3,
            rollback_points: 3,
            trial_failure_rate: 0.05,
            trial_min_calls: 20,
        }
    }
}

/// `[testing]`: checks before and after an install.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Testing {
    pub pre_update_tests: bool,
    pub post_update_validation: bool,
    #[serde(rename = "test_timeout_minutes", deserialize_with = "values::minutes")]
    pub test_timeout: Duration,
}

impl Default for Testing {
    fn default() -> Self {
        Self {
            pre_update_tests: true,
            post_update_validation: true,
            test_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// `[components.NAME]` as written: `None` means "not set here".
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentOverrides {
    pub auto_update: Option<bool>,
    pub backup_before_update: Option<bool>,
    #[serde(deserialize_with = "values::bips")]
    pub bip_compliance_required: Vec<Bip>,
    pub protocol_compatibility_check: Option<bool>,
    pub model_validation_required: Option<bool>,
    pub call_mode: Option<CallMode>,
    #[serde(deserialize_with = "values::component_names")]
    pub validators: Vec<ComponentName>,
    #[serde(deserialize_with = "values::component_names")]
    pub post_install_validators: Vec<ComponentName>,
}

/// The policy for one component: its overrides merged with the global settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentPolicy {
    /// `[auto_update] enabled` and the component's own `auto_update`.
    pub auto_update: bool,
    pub security_updates: bool,
    pub feature_updates: bool,
    pub breaking_changes: bool,
    pub backup_before_update: bool,
    pub bip_compliance_required: Vec<Bip>,
    pub protocol_compatibility_check: bool,
    pub model_validation_required: bool,
    /// `None`: the manifest's call mode.
    pub call_mode: Option<CallMode>,
    pub validators: Vec<ComponentName>,
    pub post_install_validators: Vec<ComponentName>,
}

/// Whether the scheduler may install an update by itself, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoInstall {
    Allowed,
    /// The reason, for the journal and `anya status`.
    Refused(&'static str),
}

impl ComponentPolicy {
    /// Whether the scheduler may install `candidate` without the operator, by this
    /// policy alone (the maintenance window is checked separately).
    ///
    /// Security updates (`update_type = "security"` or `security_critical`) follow
    /// `security_updates`, every other type `feature_updates`; an update declaring
    /// breaking changes also needs `breaking_changes`, whatever its type, because it can
    /// break the callers of a running component.
    pub fn auto_install(&self, candidate: &Manifest) -> AutoInstall {
        self.auto_install_of(
            candidate.update_type,
            candidate.security_critical,
            candidate.breaking_changes,
        )
    }

    /// [`auto_install`](Self::auto_install) from the three facts it weighs; `breaking`
    /// is true when the manifest declares breaking changes or the WIT shows them.
    pub fn auto_install_of(
        &self,
        update_type: UpdateType,
        security_critical: bool,
        breaking: bool,
    ) -> AutoInstall {
        if !self.auto_update {
            return AutoInstall::Refused("automatic updates are off for this component");
        }
        let security = security_critical || update_type == UpdateType::Security;
        if security && !self.security_updates {
            return AutoInstall::Refused("automatic security updates are off");
        }
        if !security && !self.feature_updates {
            return AutoInstall::Refused("automatic feature updates are off");
        }
        if breaking && !self.breaking_changes {
            return AutoInstall::Refused("breaking changes are never installed automatically");
        }
        AutoInstall::Allowed
    }

    /// The call mode to run `manifest`'s component in: the policy's, else the manifest's.
    pub fn call_mode_for(&self, manifest: &Manifest) -> CallMode {
        self.call_mode.unwrap_or(manifest.call_mode)
    }
}

impl Policy {
    /// Parses the TOML text of a policy.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Self::parse_inner(text).map_err(|reason| PolicyError::Invalid { reason })
    }

    /// Reads and parses the policy file at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = crate::files::read_capped(path, MAX_POLICY_LEN as u64, Links::Follow).map_err(
            |source| PolicyError::Read {
                path: path.to_owned(),
                source,
            },
        )?;
        let invalid = |reason| PolicyError::InvalidFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid("it is not UTF-8".into()))?;
        Self::parse_inner(text).map_err(invalid)
    }

    fn parse_inner(text: &str) -> Result<Self, String> {
        if text.len() > MAX_POLICY_LEN {
            return Err(format!(
                "it is {} bytes, over the {MAX_POLICY_LEN}-byte cap",
                text.len()
            ));
        }
        toml::from_str(text).map_err(|e| one_line(&e, text))
    }

    /// The policy for `name`: its `[components.NAME]` overrides over the global settings.
    pub fn component(&self, name: &ComponentName) -> ComponentPolicy {
        let own = self.components.get(name).cloned().unwrap_or_default();
        let global = &self.auto_update;
        ComponentPolicy {
            auto_update: global.enabled && own.auto_update.unwrap_or(true),
            security_updates: global.security_updates,
            feature_updates: global.feature_updates,
            breaking_changes: global.breaking_changes,
            backup_before_update: own.backup_before_update.unwrap_or(true),
            bip_compliance_required: own.bip_compliance_required,
            protocol_compatibility_check: own.protocol_compatibility_check.unwrap_or(true),
            model_validation_required: own.model_validation_required.unwrap_or(false),
            call_mode: own.call_mode,
            validators: own.validators,
            post_install_validators: own.post_install_validators,
        }
    }

    /// Whether automatic updates may run at `at`: inside the maintenance window, or at
    /// any time when none is configured.
    pub fn update_allowed_at(&self, at: Timestamp) -> bool {
        self.maintenance_window
            .as_ref()
            .is_none_or(|w| w.contains(at))
    }

    /// The first instant at or after `after` when automatic updates may run: `after`
    /// itself when allowed then, else the opening of the next maintenance window. `None`
    /// only near the end of the representable time range.
    pub fn next_update_time(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.maintenance_window {
            None => Some(after),
            Some(w) => w.next_opening(after).map(|(start, _)| start.max(after)),
        }
    }

    /// Settings that parse but do nothing, for the daemon to log at load and reload.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let n = &self.notifications;
        if !n.email_recipients.is_empty() && n.smtp.is_none() {
            out.push(
                "notifications.email_recipients is set but [notifications.smtp] is not: \
                 no e-mail will be sent"
                    .to_owned(),
            );
        }
        if n.smtp.is_some() && n.email_recipients.is_empty() {
            out.push(
                "[notifications.smtp] is set but email_recipients is empty: no e-mail will be sent"
                    .to_owned(),
            );
        }
        if !self.auto_update.enabled && self.maintenance_window.is_some() {
            out.push(
                "[maintenance_window] is set but auto_update.enabled is false: \
                 nothing is installed automatically"
                    .to_owned(),
            );
        }
        for (name, c) in &self.components {
            if c.backup_before_update == Some(false) {
                out.push(format!(
                    "components.{name}.backup_before_update = false is not honoured: the \
                     key-value data is always snapshotted before an install, because a \
                     rollback without it could not restore the data"
                ));
            }
        }
        if !self.testing.pre_update_tests {
            let proving: Vec<&str> = self
                .components
                .iter()
                .filter(|(_, c)| !c.bip_compliance_required.is_empty())
                .map(|(name, _)| name.as_str())
                .collect();
            if !proving.is_empty() {
                out.push(format!(
                    "testing.pre_update_tests is false, but BIP compliance is proven by \
                     validators, which still run for: {}",
                    proving.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
