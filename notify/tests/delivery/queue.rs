//! The queue and the worker: sending never waits, bounded queues, security first,
//! independent targets, shutdown.

use std::time::{Duration, Instant};

use anya_notify::{Event, EventKind, Notifier, NotifierConfig, RetryPolicy};

use crate::support::{HttpReceiver, Reply, dead_port_url, fast_retry, wait_until};

fn ordinary(component: &str) -> Event {
    Event::new(EventKind::UpdateAvailable, component).with_version("1.0.1")
}

fn config(urls: Vec<url::Url>, retry: RetryPolicy) -> NotifierConfig {
    NotifierConfig {
        webhooks: urls,
        retry,
        ..NotifierConfig::default()
    }
}

/// The `webhook-id` of every request, in arrival order.
fn ids(receiver: &HttpReceiver) -> Vec<String> {
    receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect()
}

#[test]
fn a_silent_receiver_times_out_and_send_does_not_wait() {
    let receiver = HttpReceiver::start([], Reply::Silent);
    let timeout = Duration::from_millis(300);
    let retry = RetryPolicy {
        per_attempt_timeout: timeout,
        ..fast_retry(2)
    };
    let notifier = Notifier::start(config(vec![receiver.url("/hook")], retry)).unwrap();

    let started = Instant::now();
    for n in 0..3 {
        notifier.send(ordinary(&format!("c{n}"))).unwrap();
    }
    let sending = started.elapsed();
    // Had `send` waited for one attempt, it would have taken at least one timeout.
    assert!(sending < timeout, "send waited for delivery: {sending:?}");

    wait_until("every delivery to time out twice", || {
        notifier.failed() == 3
    });
    assert_eq!(receiver.requests().len(), 6);
    assert_eq!(notifier.delivered(), 0);
}

#[test]
fn a_failing_target_does_not_hold_up_the_others() {
    let silent = HttpReceiver::start([], Reply::Silent);
    let healthy = HttpReceiver::ok();
    let retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        per_attempt_timeout: Duration::from_millis(300),
    };
    let targets = vec![silent.url("/hook"), dead_port_url(), healthy.url("/hook")];
    let notifier = Notifier::start(config(targets, retry)).unwrap();
    notifier.send(ordinary("demo")).unwrap();

    wait_until("one delivery and two failures", || {
        notifier.delivered() == 1 && notifier.failed() == 2
    });
    let silent_requests = silent.requests();
    assert_eq!(silent_requests.len(), 3);
    let delivered_at = healthy.requests()[0].at;
    // The healthy target was served while the silent one still had retries to go.
    assert!(
        delivered_at < silent_requests[1].at,
        "the healthy target waited for the silent one's retries"
    );
}

#[test]
fn a_full_queue_drops_and_counts() {
    let receiver = HttpReceiver::start([Reply::Hold], Reply::Status(200));
    let notifier = Notifier::start(NotifierConfig {
        queue_capacity: 2,
        ..config(vec![receiver.url("/hook")], fast_retry(1))
    })
    .unwrap();

    let first = ordinary("first");
    notifier.send(first.clone()).unwrap();
    // The worker is now busy with `first` until the receiver is released.
    receiver.wait_for(1);
    let second = ordinary("second");
    let third = ordinary("third");
    notifier.send(second.clone()).unwrap();
    notifier.send(third.clone()).unwrap();
    let fourth = ordinary("fourth");
    let full = notifier.send(fourth.clone()).unwrap_err();
    assert_eq!(full.id, fourth.id);
    assert_eq!(full.kind, EventKind::UpdateAvailable);
    assert_eq!(notifier.dropped(), 1);
    assert_eq!(notifier.queued(), 2);

    // Security alerts have a queue of their own: a flood of ordinary events cannot
    // crowd one out.
    let alert = Event::new(EventKind::SecurityCritical, "demo").with_version("1.0.2");
    notifier.send(alert.clone()).unwrap();

    receiver.release();
    wait_until("four deliveries", || notifier.delivered() == 4);
    assert_eq!(ids(&receiver), [first.id, alert.id, second.id, third.id]);
    let stats = notifier.shutdown(Duration::from_secs(5));
    assert_eq!(
        (
            stats.delivered,
            stats.failed,
            stats.dropped,
            stats.abandoned
        ),
        (4, 0, 1, 0)
    );
}

fn order_with_alerts(immediate: bool) -> (Vec<String>, [Event; 5]) {
    let receiver = HttpReceiver::start([Reply::Hold], Reply::Status(200));
    let notifier = Notifier::start(NotifierConfig {
        security_alert_immediate: immediate,
        ..config(vec![receiver.url("/hook")], fast_retry(1))
    })
    .unwrap();
    let busy = ordinary("busy");
    notifier.send(busy.clone()).unwrap();
    receiver.wait_for(1);
    let b = ordinary("b");
    let c = ordinary("c");
    let alert = Event::new(EventKind::SecurityCritical, "demo").with_version("1.0.2");
    let flagged = Event::new(EventKind::Installed, "other")
        .with_version("3.1.4")
        .with_security_critical(true);
    for event in [&b, &c, &alert, &flagged] {
        notifier.send(event.clone()).unwrap();
    }
    receiver.release();
    wait_until("five deliveries", || notifier.delivered() == 5);
    (ids(&receiver), [busy, b, c, alert, flagged])
}

#[test]
fn security_alerts_jump_the_queue() {
    let (order, [busy, b, c, alert, flagged]) = order_with_alerts(true);
    assert_eq!(order, [busy.id, alert.id, flagged.id, b.id, c.id]);
}

#[test]
fn without_immediate_alerts_security_events_wait_their_turn() {
    let (order, [busy, b, c, alert, flagged]) = order_with_alerts(false);
    assert_eq!(order, [busy.id, b.id, c.id, alert.id, flagged.id]);
}

#[test]
fn shutdown_delivers_what_is_queued() {
    let receiver = HttpReceiver::start([Reply::Hold], Reply::Status(200));
    let notifier = Notifier::start(config(vec![receiver.url("/hook")], fast_retry(3))).unwrap();
    notifier.send(ordinary("c0")).unwrap();
    receiver.wait_for(1);
    for n in 1..5 {
        notifier.send(ordinary(&format!("c{n}"))).unwrap();
    }
    receiver.release();
    let stats = notifier.shutdown(Duration::from_secs(5));
    assert_eq!((stats.delivered, stats.failed, stats.abandoned), (5, 0, 0));
    assert_eq!(receiver.requests().len(), 5);
}

#[test]
fn shutdown_does_not_wait_for_retries_past_its_deadline() {
    let receiver = HttpReceiver::start([], Reply::Status(503));
    let retry = RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
        per_attempt_timeout: Duration::from_secs(5),
    };
    let notifier = Notifier::start(config(vec![receiver.url("/hook")], retry)).unwrap();
    notifier.send(ordinary("demo")).unwrap();
    receiver.wait_for(1);

    let started = Instant::now();
    let stats = notifier.shutdown(Duration::from_millis(200));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_eq!(
        (stats.delivered, stats.failed, stats.abandoned),
        (0, 0, 1),
        "the retry due after the deadline is abandoned"
    );
}
