//! Slack incoming webhooks.

use anya_notify::{Event, EventKind, Notifier, NotifierConfig, parse_webhook_secret};

use crate::support::{HttpReceiver, fast_retry};

#[test]
fn slack_gets_text_and_a_mrkdwn_section() {
    let receiver = HttpReceiver::ok();
    let notifier = Notifier::start(NotifierConfig {
        slack: vec![receiver.url("/services/T000/B000/XXXX")],
        // A webhook secret signs generic webhooks only.
        webhook_secret: Some(parse_webhook_secret("whsec_c2VjcmV0").unwrap()),
        retry: fast_retry(1),
        ..NotifierConfig::default()
    })
    .unwrap();
    let event = Event::new(EventKind::Refused, "demo")
        .with_version("2.0.0")
        .with_previous_version("1.4.1")
        .with_reason("signature by <unknown> key & no trust");
    notifier.send(event.clone()).unwrap();
    let request = &receiver.wait_for(1)[0];

    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/services/T000/B000/XXXX");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-signature"), None);

    let json = request.json();
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["blocks", "text"]);
    assert_eq!(
        json["text"],
        "Refused update of demo 1.4.1 -&gt; 2.0.0: signature by &lt;unknown&gt; key &amp; no trust"
    );
    let blocks = json["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let details = blocks[0]["text"]["text"].as_str().unwrap();
    for needle in [
        "*Component:* demo",
        "*Version:* 2.0.0",
        "*Previous version:* 1.4.1",
        "*Reason:* signature by &lt;unknown&gt; key &amp; no trust",
        event.id.as_str(),
    ] {
        assert!(details.contains(needle), "{needle:?} not in {details:?}");
    }
}
