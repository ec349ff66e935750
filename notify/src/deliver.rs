//! One delivery attempt of one event to one target.

use std::io::Read as _;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport as _};
use url::Url;

use crate::config::{ConfigError, EmailConfig, NotifierConfig, redacted_url};
use crate::event::Event;
use crate::signature::sign;

/// How much of an error answer's body is quoted in logs.
const QUOTED_BODY_BYTES: u64 = 256;

/// Where one delivery goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Webhook(Url),
    Slack(Url),
    Email,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    /// Worth another attempt; `after` is the receiver's `Retry-After`, if any.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Another attempt would fail the same way.
    Permanent(String),
}

/// The targets of one notifier and what it takes to reach them.
pub(crate) struct Deliverer {
    targets: Vec<Target>,
    labels: Vec<String>,
    agent: ureq::Agent,
    secret: Option<Vec<u8>>,
    mail: Option<Mail>,
}

struct Mail {
    host: String,
    port: u16,
    starttls: bool,
    credentials: Option<Credentials>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Deliverer {
    pub(crate) fn new(config: &NotifierConfig) -> Result<Self, ConfigError> {
        let mut targets: Vec<Target> = Vec::new();
        targets.extend(config.webhooks.iter().cloned().map(Target::Webhook));
        targets.extend(config.slack.iter().cloned().map(Target::Slack));
        let mail = config.email.as_ref().map(Mail::new).transpose()?;
        if mail.is_some() {
            targets.push(Target::Email);
        }
        let labels = label_targets(&targets, config.email.as_ref());
        let agent = ureq::Agent::config_builder()
            // A redirect is answered as a failure: following it could send a signed event
            // (or a Slack credential in a URL) somewhere nobody configured.
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(config.retry.per_attempt_timeout))
            .user_agent(concat!("anya-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            targets,
            labels,
            agent,
            secret: config.webhook_secret.clone(),
            mail,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.targets.len()
    }

    /// A name for logs: the kind, index and `scheme://host[:port]`, never a URL path.
    pub(crate) fn label(&self, target: usize) -> &str {
        &self.labels[target]
    }

    /// One attempt, taking at most about `timeout` (SMTP: per read or write).
    pub(crate) fn attempt(&self, target: usize, event: &Event, timeout: Duration) -> Outcome {
        match &self.targets[target] {
            Target::Webhook(url) => self.webhook(url, event, timeout),
            Target::Slack(url) => self.slack(url, event, timeout),
            Target::Email => match &self.mail {
                Some(mail) => mail.send(event, timeout),
                None => Outcome::Permanent("no e-mail configuration".into()),
            },
        }
    }

    fn webhook(&self, url: &Url, event: &Event, timeout: Duration) -> Outcome {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => return Outcome::Permanent(format!("cannot serialize event: {e}")),
        };
        let timestamp = jiff::Timestamp::now().as_second();
        let mut request = self
            .agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(timeout))
            .build()
            .content_type("application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &self.secret {
            request = request.header(
                "webhook-signature",
                sign(secret, &event.id, timestamp, &body),
            );
        }
        classify(request.send(&body[..]))
    }

    fn slack(&self, url: &Url, event: &Event, timeout: Duration) -> Outcome {
        let body = slack_payload(event).to_string();
        let request = self
            .agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(timeout))
            .build()
            .content_type("application/json");
        classify(request.send(body.as_bytes()))
    }
}

fn label_targets(targets: &[Target], email: Option<&EmailConfig>) -> Vec<String> {
    let mut webhooks = 0;
    let mut slacks = 0;
    targets
        .iter()
        .map(|target| match target {
            Target::Webhook(url) => {
                webhooks += 1;
                format!("webhook[{}] {}", webhooks - 1, redacted_url(url))
            }
            Target::Slack(url) => {
                slacks += 1;
                format!("slack[{}] {}", slacks - 1, redacted_url(url))
            }
            Target::Email => match email {
                Some(e) => format!("email smtp://{}:{}", e.host, e.port),
                None => "email".into(),
            },
        })
        .collect()
}

/// What an HTTP answer (or its absence) means for delivery.
fn classify(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Outcome {
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            return match e {
                ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                    Outcome::Permanent(e.to_string())
                }
                _ => Outcome::Retry {
                    reason: e.to_string(),
                    after: None,
                },
            };
        }
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Outcome::Delivered;
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if (300..400).contains(&status) {
        let location = header("location").unwrap_or_else(|| "(none)".into());
        return Outcome::Permanent(format!(
            "HTTP {status}: redirects are not followed (Location: {location})"
        ));
    }
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut quoted = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(QUOTED_BODY_BYTES)
        .read_to_end(&mut quoted);
    let reason = format!(
        "HTTP {status}: {}",
        crate::event::one_line(
            &String::from_utf8_lossy(&quoted),
            QUOTED_BODY_BYTES as usize
        )
    );
    if (400..500).contains(&status) && status != 408 && status != 429 {
        Outcome::Permanent(reason)
    } else {
        Outcome::Retry {
            reason,
            after: retry_after,
        }
    }
}

/// The Slack incoming-webhook body: `text` (the summary, also the notification's fallback)
/// and one `section` block in `mrkdwn` with the details.
pub(crate) fn slack_payload(event: &Event) -> serde_json::Value {
    let mut details = format!("*{}*", slack_escape(&event.summary()));
    let mut field = |name: &str, value: &str| {
        details.push_str(&format!("\n*{name}:* {}", slack_escape(value)));
    };
    field("Component", &event.component);
    if let Some(v) = &event.version {
        field("Version", v);
    }
    if let Some(v) = &event.previous_version {
        field("Previous version", v);
    }
    if let Some(t) = &event.update_type {
        field("Update type", t);
    }
    if event.security_critical {
        field("Security critical", "yes");
    }
    if let Some(r) = &event.reason {
        field("Reason", r);
    }
    if let Some(a) = &event.actor {
        field("Actor", a);
    }
    field(
        "Event",
        &format!("{} {} at {}", event.kind, event.id, event.at),
    );
    serde_json::json!({
        "text": slack_escape(&event.summary()),
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": details },
        }],
    })
}

/// Slack's three control characters in message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Mail {
    fn new(config: &EmailConfig) -> Result<Self, ConfigError> {
        let (from, to) = config.mailboxes()?;
        let credentials = config.username.as_ref().map(|user| {
            Credentials::new(user.clone(), config.password.clone().unwrap_or_default())
        });
        if credentials.is_some() && !config.starttls {
            tracing::warn!(
                host = %config.host,
                "SMTP credentials will be sent without STARTTLS"
            );
        }
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            starttls: config.starttls,
            credentials,
            from,
            to,
        })
    }

    fn send(&self, event: &Event, timeout: Duration) -> Outcome {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(event.summary())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = match builder.body(email_body(event)) {
            Ok(message) => message,
            Err(e) => return Outcome::Permanent(format!("cannot build the message: {e}")),
        };
        // Built per attempt (there is no pool), so the timeout can shrink near shutdown.
        let transport = if self.starttls {
            match SmtpTransport::starttls_relay(&self.host) {
                Ok(builder) => builder,
                Err(e) => return Outcome::Permanent(format!("TLS setup: {e}")),
            }
        } else {
            SmtpTransport::builder_dangerous(&self.host)
        };
        let mut transport = transport.port(self.port).timeout(Some(timeout));
        if let Some(credentials) = &self.credentials {
            transport = transport.credentials(credentials.clone());
        }
        match transport.build().send(&message) {
            Ok(_) => Outcome::Delivered,
            // 5xx answers, and the client refusing (no STARTTLS offered, no usable AUTH
            // mechanism, 8-bit content to a 7-bit server): retrying changes nothing.
            Err(e) if e.is_permanent() || e.is_client() => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Retry {
                reason: e.to_string(),
                after: None,
            },
        }
    }
}

/// The plain-text e-mail body: the summary, then every field.
pub(crate) fn email_body(event: &Event) -> String {
    let none = "-";
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| none.to_string());
    format!(
        "{summary}\n\n\
         Event:             {kind}\n\
         Component:         {component}\n\
         Version:           {version}\n\
         Previous version:  {previous}\n\
         Update type:       {update_type}\n\
         Security critical: {critical}\n\
         Reason:            {reason}\n\
         Actor:             {actor}\n\
         Time:              {at}\n\
         Event id:          {id}\n\
         \n-- \nSent by Anya.\n",
        summary = event.summary(),
        kind = event.kind,
        component = event.component,
        version = opt(&event.version),
        previous = opt(&event.previous_version),
        update_type = opt(&event.update_type),
        critical = if event.security_critical { "yes" } else { "no" },
        reason = opt(&event.reason),
        actor = opt(&event.actor),
        at = event.at,
        id = event.id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    #[test]
    fn slack_text_is_escaped() {
        let event = Event::new(EventKind::Refused, "demo").with_reason("a <b> & c");
        let payload = slack_payload(&event);
        let text = payload["text"].as_str().unwrap();
        assert!(text.ends_with("a &lt;b&gt; &amp; c"), "{text}");
        let details = payload["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            details.contains("*Reason:* a &lt;b&gt; &amp; c"),
            "{details}"
        );
    }

    #[test]
    fn email_body_lists_every_field() {
        let event = Event::new(EventKind::Installed, "demo")
            .with_version("1.2.0")
            .with_actor("cli");
        let body = email_body(&event);
        for needle in [
            "Installed demo 1.2.0",
            "Component:         demo",
            "Previous version:  -",
            "Actor:             cli",
            &event.id,
        ] {
            assert!(body.contains(needle), "{needle} in {body}");
        }
    }
}
