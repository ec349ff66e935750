//! E-mail over SMTP to a real server (aiosmtpd, started by the test).

use std::time::Duration;

use anya_notify::{EmailConfig, Event, EventKind, Notifier, NotifierConfig};

use crate::support::{SmtpServer, fast_retry, header, parse_message, wait_until};

fn email_config(server: &SmtpServer, starttls: bool) -> NotifierConfig {
    NotifierConfig {
        email: Some(EmailConfig {
            host: "127.0.0.1".into(),
            port: server.port,
            from: "Anya <anya@example.test>".into(),
            to: vec!["ops@example.test".into(), "oncall@example.test".into()],
            starttls,
            username: None,
            password: None,
        }),
        retry: fast_retry(3),
        ..NotifierConfig::default()
    }
}

#[test]
fn one_message_per_event_reaches_every_recipient() {
    let server = SmtpServer::start();
    let notifier = Notifier::start(email_config(&server, false)).unwrap();
    let event = Event::new(EventKind::RolledBack, "demo")
        .with_previous_version("1.2.0")
        .with_version("1.1.0")
        .with_reason("health check failed")
        .with_actor("scheduler");
    notifier.send(event.clone()).unwrap();

    let messages = server.wait_for(1);
    wait_until("the delivery to be counted", || notifier.delivered() == 1);
    assert_eq!(messages.len(), 1, "one message for all recipients");
    let (headers, body) = parse_message(&messages[0]);
    assert_eq!(header(&headers, "Subject"), Some(event.summary().as_str()));
    assert_eq!(
        header(&headers, "Subject"),
        Some("Rolled back demo 1.2.0 -> 1.1.0: health check failed")
    );
    assert_eq!(header(&headers, "From"), Some("Anya <anya@example.test>"));
    let to = header(&headers, "To").expect("To header");
    assert!(
        to.contains("ops@example.test") && to.contains("oncall@example.test"),
        "{to}"
    );
    // aiosmtpd's Mailbox records the SMTP envelope: one transaction for both recipients.
    assert_eq!(
        header(&headers, "X-RcptTo"),
        Some("ops@example.test, oncall@example.test")
    );
    assert_eq!(header(&headers, "X-MailFrom"), Some("anya@example.test"));
    assert!(
        header(&headers, "Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    for needle in [
        "Event:             update.rolled_back",
        "Component:         demo",
        "Version:           1.1.0",
        "Previous version:  1.2.0",
        "Reason:            health check failed",
        "Actor:             scheduler",
        event.id.as_str(),
    ] {
        assert!(body.contains(needle), "{needle:?} not in body:\n{body}");
    }

    let stats = notifier.shutdown(Duration::from_secs(5));
    assert_eq!((stats.delivered, stats.failed), (1, 0));
}

#[test]
fn required_starttls_sends_nothing_to_a_server_without_it() {
    let server = SmtpServer::start();
    let notifier = Notifier::start(email_config(&server, true)).unwrap();
    notifier
        .send(Event::new(EventKind::Installed, "demo").with_version("1.0.0"))
        .unwrap();
    wait_until("the delivery to fail", || notifier.failed() == 1);
    assert!(
        server.messages().is_empty(),
        "mail went out in plain text to {}",
        server.maildir().display()
    );
    assert_eq!(notifier.delivered(), 0);
}
