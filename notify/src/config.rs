//! Where notifications go and how hard delivery tries: [`NotifierConfig`].

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use url::Url;

/// Why a configuration (or a webhook secret) is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("notification URL {url} is not http or https")]
    UrlScheme { url: String },
    #[error("webhook secret is empty")]
    EmptySecret,
    #[error("webhook secret `whsec_...` is not valid base64: {0}")]
    SecretBase64(base64::DecodeError),
    #[error("e-mail address {address:?}: {reason}")]
    EmailAddress { address: String, reason: String },
    #[error("e-mail notifications have no recipient")]
    NoRecipients,
    #[error("retry.attempts must be at least 1")]
    NoAttempts,
    #[error("queue_capacity must be at least 1")]
    NoCapacity,
    #[error("cannot start the notification thread: {0}")]
    Spawn(std::io::Error),
}

/// Where notifications go and how delivery behaves.
///
/// `Debug` does not print the webhook secret.
#[derive(Clone)]
pub struct NotifierConfig {
    /// Generic webhooks: a JSON [`Event`](crate::Event), signed when `webhook_secret` is set.
    pub webhooks: Vec<Url>,
    /// The raw HMAC key for the `webhook-signature` header; see [`parse_webhook_secret`].
    pub webhook_secret: Option<Vec<u8>>,
    /// Slack incoming-webhook URLs (never signed: the URL is the credential).
    pub slack: Vec<Url>,
    pub email: Option<EmailConfig>,
    /// Security alerts (kind `security.critical`, or `security_critical` set) go ahead of
    /// every queued ordinary event. When false they queue like any other event.
    pub security_alert_immediate: bool,
    pub retry: RetryPolicy,
    /// How many events may wait for delivery, for ordinary events and (separately) for
    /// security alerts. Also bounds how many ordinary deliveries may wait for a retry.
    pub queue_capacity: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            webhook_secret: None,
            slack: Vec::new(),
            email: None,
            security_alert_immediate: true,
            retry: RetryPolicy::default(),
            queue_capacity: 1024,
        }
    }
}

impl fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierConfig")
            .field(
                "webhooks",
                &self.webhooks.iter().map(redacted_url).collect::<Vec<_>>(),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "slack",
                &self.slack.iter().map(redacted_url).collect::<Vec<_>>(),
            )
            .field("email", &self.email)
            .field("security_alert_immediate", &self.security_alert_immediate)
            .field("retry", &self.retry)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl NotifierConfig {
    /// Whether any target is configured.
    pub fn has_targets(&self) -> bool {
        !self.webhooks.is_empty() || !self.slack.is_empty() || self.email.is_some()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for url in self.webhooks.iter().chain(&self.slack) {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::UrlScheme {
                    url: redacted_url(url),
                });
            }
        }
        if self.webhook_secret.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::EmptySecret);
        }
        if let Some(email) = &self.email {
            email.mailboxes()?;
        }
        if self.retry.attempts == 0 {
            return Err(ConfigError::NoAttempts);
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::NoCapacity);
        }
        Ok(())
    }
}

/// The SMTP server and the addresses of e-mail notifications. One message per event goes
/// to all of `to`.
///
/// `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    /// `Name <addr@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// Require STARTTLS (certificates checked against the bundled web PKI roots): a server
    /// that does not offer it gets no mail. When false, plain SMTP.
    pub starttls: bool,
    /// AUTH credentials; sent only when `username` is set.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("starttls", &self.starttls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl EmailConfig {
    pub(crate) fn mailboxes(
        &self,
    ) -> Result<(lettre::message::Mailbox, Vec<lettre::message::Mailbox>), ConfigError> {
        let parse = |address: &String| {
            address
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| ConfigError::EmailAddress {
                    address: address.clone(),
                    reason: e.to_string(),
                })
        };
        if self.to.is_empty() {
            return Err(ConfigError::NoRecipients);
        }
        let from = parse(&self.from)?;
        let to = self.to.iter().map(parse).collect::<Result<_, _>>()?;
        Ok((from, to))
    }
}

/// How each delivery (one event to one target) is retried.
///
/// After failed attempt `n` (from 1) the next waits a random time in
/// `[0, min(max_backoff, initial_backoff × 2^(n-1))]` ("full jitter"), or longer when a
/// receiver answers 429/503 with `Retry-After` (capped at `max_backoff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest one attempt may take: connecting, sending, and reading the answer for
    /// HTTP; each SMTP read or write.
    pub per_attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            per_attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The longest wait after failed attempt `failed` (from 1).
    pub fn backoff_ceiling(&self, failed: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failed.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }

    /// A random wait after failed attempt `failed`, in `[0, backoff_ceiling(failed)]`.
    pub(crate) fn backoff(&self, failed: u32) -> Duration {
        let ceiling = self.backoff_ceiling(failed).as_nanos();
        if ceiling == 0 {
            return Duration::ZERO;
        }
        let random = u128::from(getrandom::u64().unwrap_or(u64::MAX / 2));
        let nanos = random % (ceiling + 1);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Reads a webhook secret as written in a secret file: the Standard Webhooks form
/// `whsec_<base64>` gives the decoded bytes; anything else is used as is (its UTF-8
/// bytes). Surrounding whitespace (a trailing newline) is ignored.
pub fn parse_webhook_secret(text: &str) -> Result<Vec<u8>, ConfigError> {
    let text = text.trim();
    let key = match text.strip_prefix("whsec_") {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(ConfigError::SecretBase64)?,
        None => text.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(ConfigError::EmptySecret);
    }
    Ok(key)
}

/// `scheme://host[:port]`: enough to tell targets apart in logs without printing the path
/// or query, which for Slack (and often webhooks) is the credential.
pub(crate) fn redacted_url(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}:", url.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_in_both_forms() {
        assert_eq!(
            parse_webhook_secret("whsec_c2VjcmV0\n").unwrap(),
            b"secret".to_vec()
        );
        assert_eq!(parse_webhook_secret(" plain ").unwrap(), b"plain".to_vec());
        assert!(matches!(
            parse_webhook_secret("whsec_!!"),
            Err(ConfigError::SecretBase64(_))
        ));
        assert!(matches!(
            parse_webhook_secret("\n"),
            Err(ConfigError::EmptySecret)
        ));
        assert!(matches!(
            parse_webhook_secret("whsec_"),
            Err(ConfigError::EmptySecret)
        ));
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_below_it() {
        let retry = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            per_attempt_timeout: Duration::from_secs(1),
        };
        assert_eq!(retry.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(retry.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(retry.backoff_ceiling(4), Duration::from_millis(800));
        assert_eq!(retry.backoff_ceiling(5), Duration::from_millis(1000));
        assert_eq!(retry.backoff_ceiling(u32::MAX), Duration::from_millis(1000));
        for failed in 1..8 {
            assert!(retry.backoff(failed) <= retry.backoff_ceiling(failed));
        }
        let zero = RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..retry
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn debug_hides_secrets_and_url_paths() {
        let config = NotifierConfig {
            webhooks: vec!["https://example.com/hook?token=abc".parse().unwrap()],
            webhook_secret: Some(b"topsecret".to_vec()),
            slack: vec!["https://hooks.slack.com/services/T/B/XYZ".parse().unwrap()],
            email: Some(EmailConfig {
                host: "smtp.example.com".into(),
                port: 587,
                from: "anya@example.com".into(),
                to: vec!["ops@example.com".into()],
                starttls: true,
                username: Some("anya".into()),
                password: Some("hunter2".into()),
            }),
            ..NotifierConfig::default()
        };
        let debug = format!("{config:?}");
        for secret in ["topsecret", "token", "XYZ", "hunter2"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        config.validate().unwrap();
    }

    #[test]
    fn validation_refuses_bad_settings() {
        let bad_scheme = NotifierConfig {
            webhooks: vec!["ftp://example.com/".parse().unwrap()],
            ..NotifierConfig::default()
        };
        assert!(matches!(
            bad_scheme.validate(),
            Err(ConfigError::UrlScheme { .. })
        ));
        let email = EmailConfig {
            host: "localhost".into(),
            port: 25,
            from: "not an address".into(),
            to: vec!["ops@example.com".into()],
            starttls: false,
            username: None,
            password: None,
        };
        let bad_from = NotifierConfig {
            email: Some(email.clone()),
            ..NotifierConfig::default()
        };
        assert!(matches!(
            bad_from.validate(),
            Err(ConfigError::EmailAddress { .. })
        ));
        let no_to = NotifierConfig {
            email: Some(EmailConfig {
                from: "anya@example.com".into(),
                to: vec![],
                ..email
            }),
            ..NotifierConfig::default()
        };
        assert!(matches!(no_to.validate(), Err(ConfigError::NoRecipients)));
        let no_attempts = NotifierConfig {
            retry: RetryPolicy {
                attempts: 0,
                ..RetryPolicy::default()
            },
            ..NotifierConfig::default()
        };
        assert!(matches!(
            no_attempts.validate(),
            Err(ConfigError::NoAttempts)
        ));
    }
}
