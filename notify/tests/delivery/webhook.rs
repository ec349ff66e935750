//! Generic webhooks: body, Standard Webhooks signature, and what is (not) retried.

use std::time::Duration;

use anya_notify::{
    Event, EventKind, Notifier, NotifierConfig, parse_webhook_secret, verify_signature,
};

use crate::support::{HttpReceiver, Reply, fast_retry, wait_until};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn webhook_config(receiver: &HttpReceiver, attempts: u32) -> NotifierConfig {
    NotifierConfig {
        webhooks: vec![receiver.url("/hook")],
        webhook_secret: Some(parse_webhook_secret(SECRET).unwrap()),
        retry: fast_retry(attempts),
        ..NotifierConfig::default()
    }
}

fn event() -> Event {
    Event::new(EventKind::Installed, "demo")
        .with_version("1.2.0")
        .with_previous_version("1.1.0")
        .with_update_type("feature")
        .with_actor("scheduler")
}

fn assert_signed(request: &crate::support::Request, event: &Event) {
    let key = parse_webhook_secret(SECRET).unwrap();
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = request
        .header("webhook-signature")
        .expect("webhook-signature");
    assert_eq!(id, event.id);
    assert!(signature.starts_with("v1,"), "{signature}");
    assert!(
        verify_signature(&key, id, timestamp, &request.body, signature),
        "signature {signature} does not verify"
    );
}

#[test]
fn body_is_the_event_and_the_signature_verifies() {
    let receiver = HttpReceiver::ok();
    let notifier = Notifier::start(webhook_config(&receiver, 1)).unwrap();
    let event = event().with_reason("scheduled");
    notifier.send(event.clone()).unwrap();
    let requests = receiver.wait_for(1);
    let request = &requests[0];

    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_signed(request, &event);
    let timestamp: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let now = jiff::Timestamp::now().as_second();
    assert!(
        (now - timestamp).abs() < 60,
        "timestamp {timestamp}, now {now}"
    );

    let json = request.json();
    assert_eq!(json["type"], "update.installed");
    assert_eq!(json["id"], event.id.as_str());
    let received: Event = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(received, event);

    // Any change to what was signed breaks the signature.
    let key = parse_webhook_secret(SECRET).unwrap();
    let signature = request.header("webhook-signature").unwrap();
    let id = request.header("webhook-id").unwrap();
    let ts = request.header("webhook-timestamp").unwrap();
    let mut tampered = request.body.clone();
    tampered[0] = b' ';
    assert!(!verify_signature(&key, id, ts, &tampered, signature));
    assert!(!verify_signature(
        b"another secret",
        id,
        ts,
        &request.body,
        signature
    ));

    wait_until("delivered count", || notifier.delivered() == 1);
    let stats = notifier.shutdown(Duration::from_secs(5));
    assert_eq!((stats.delivered, stats.failed, stats.dropped), (1, 0, 0));
}

#[test]
fn without_a_secret_there_is_no_signature_header() {
    let receiver = HttpReceiver::ok();
    let config = NotifierConfig {
        webhook_secret: None,
        ..webhook_config(&receiver, 1)
    };
    let notifier = Notifier::start(config).unwrap();
    let event = event();
    notifier.send(event.clone()).unwrap();
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.header("webhook-id"), Some(event.id.as_str()));
    assert!(request.header("webhook-timestamp").is_some());
    assert_eq!(request.header("webhook-signature"), None);
}

#[test]
fn server_errors_are_retried_until_delivered() {
    let receiver = HttpReceiver::start(
        [
            Reply::Status(500),
            Reply::Status(503),
            Reply::Status(429),
            Reply::Status(408),
        ],
        Reply::Status(204),
    );
    let notifier = Notifier::start(webhook_config(&receiver, 5)).unwrap();
    let event = event();
    notifier.send(event.clone()).unwrap();
    wait_until("delivery after four retryable failures", || {
        notifier.delivered() == 1
    });
    let requests = receiver.requests();
    assert_eq!(requests.len(), 5);
    for request in &requests {
        // Same id on every attempt; each attempt signed afresh.
        assert_signed(request, &event);
    }
    assert_eq!(notifier.failed(), 0);
}

#[test]
fn gives_up_after_the_configured_attempts() {
    let receiver = HttpReceiver::start([], Reply::Status(503));
    let notifier = Notifier::start(webhook_config(&receiver, 3)).unwrap();
    notifier.send(event()).unwrap();
    wait_until("the delivery to be given up", || notifier.failed() == 1);
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(notifier.delivered(), 0);
}

#[test]
fn a_client_error_is_not_retried() {
    let receiver = HttpReceiver::start([Reply::Status(400)], Reply::Status(200));
    let notifier = Notifier::start(webhook_config(&receiver, 5)).unwrap();
    notifier.send(event()).unwrap();
    // A retried delivery would only count as failed after all 5 attempts.
    wait_until("the delivery to fail", || notifier.failed() == 1);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(notifier.delivered(), 0);
}

#[test]
fn a_redirect_is_not_followed() {
    let elsewhere = HttpReceiver::ok();
    let receiver = HttpReceiver::start(
        [Reply::Redirect(elsewhere.url("/elsewhere").to_string())],
        Reply::Status(200),
    );
    let notifier = Notifier::start(webhook_config(&receiver, 5)).unwrap();
    notifier.send(event()).unwrap();
    wait_until("the delivery to fail", || notifier.failed() == 1);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "a 3xx is final, not retried");
    assert_eq!(requests[0].path, "/hook");
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
}
