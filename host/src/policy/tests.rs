use std::path::Path;

use jiff::civil::Weekday;

use super::*;

/// The guide's example, as the operator gets it.
const GUIDE_POLICY: &str = anya_fixtures::GUIDE_POLICY_PATH;

fn name(s: &str) -> ComponentName {
    ComponentName::parse(s).unwrap()
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Asserts that `text` is refused at `line`, `column` with a reason containing `why`.
#[track_caller]
fn refused_at(text: &str, line: usize, column: usize, why: &str) {
    let err = Policy::parse(text).unwrap_err().to_string();
    let at = format!("invalid policy: line {line}, column {column}: ");
    assert!(err.starts_with(&at), "{text:?}\nwant {at}…\ngot  {err}");
    assert!(err.contains(why), "{text:?}\nwant …{why}…\ngot  {err}");
}

#[test]
fn the_guides_policy_parses_and_means_what_it_says() {
    let p = Policy::load(Path::new(GUIDE_POLICY)).unwrap();

    let a = &p.auto_update;
    assert!(a.enabled && a.security_updates && !a.feature_updates && !a.breaking_changes);
    assert_eq!(a.check_interval, minutes(60), "default");
    assert_eq!(a.max_concurrent_updates, 1, "default");

    let w = p.maintenance_window.as_ref().unwrap();
    assert_eq!(w.start_time().to_string(), "02:00:00");
    assert_eq!(w.end_time().to_string(), "04:00:00");
    assert_eq!(w.time_zone_name(), "UTC");
    assert_eq!(
        w.days(),
        vec![Weekday::Tuesday, Weekday::Thursday, Weekday::Sunday]
    );
    // 2025-01-05 is a Sunday, 2025-01-06 a Monday.
    assert!(p.update_allowed_at("2025-01-05T03:00:00Z".parse().unwrap()));
    assert!(!p.update_allowed_at("2025-01-05T05:00:00Z".parse().unwrap()));
    assert!(!p.update_allowed_at("2025-01-06T03:00:00Z".parse().unwrap()));

    let n = &p.notifications;
    assert_eq!(
        n.webhook_urls,
        vec![Url::parse("https://hooks.slack.com/...").unwrap()]
    );
    assert_eq!(n.webhook_urls[0].host_str(), Some("hooks.slack.com"));
    assert_eq!(n.email_recipients.len(), 1);
    assert_eq!(n.email_recipients[0].as_str(), "admin@example.com");
    assert!(n.security_alert_immediate);
    assert!(n.slack_webhook_urls.is_empty() && n.smtp.is_none() && n.webhook_secret_file.is_none());

    let r = &p.rollback;
    assert!(r.auto_rollback_on_failure);
    assert_eq!(r.rollback_timeout, minutes(30));
    assert_eq!(r.max_rollback_attempts, 3);
    assert_eq!((r.rollback_points, r.trial_min_calls), (3, 20), "defaults");
    assert_eq!(r.trial_failure_rate, 0.05, "default");

    let t = &p.testing;
    assert!(t.pre_update_tests && t.post_update_validation);
    assert_eq!(t.test_timeout, minutes(15));

    assert_eq!(p.components.len(), 4);
    let core = p.component(&name("anya-core"));
    assert!(!core.auto_update, "core requires manual approval");
    assert!(core.backup_before_update);
    let bitcoin = p.component(&name("bitcoin-module"));
    assert!(bitcoin.auto_update);
    let bips: Vec<u32> = bitcoin
        .bip_compliance_required
        .iter()
        .map(|b| b.number())
        .collect();
    assert_eq!(bips, [141, 143, 144]);
    let web5 = p.component(&name("web5-module"));
    assert!(web5.auto_update && web5.protocol_compatibility_check);
    let ml = p.component(&name("ml-module"));
    assert!(ml.auto_update && ml.model_validation_required);
    assert!(!web5.model_validation_required, "only where asked");

    // A component the file does not name gets the global settings.
    let other = p.component(&name("bech32"));
    assert!(other.auto_update && other.backup_before_update && other.protocol_compatibility_check);
    assert!(other.bip_compliance_required.is_empty() && other.validators.is_empty());
    assert_eq!(other.call_mode, None);

    assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
    assert!(p.warnings()[0].contains("no e-mail will be sent"));
}

#[test]
fn an_empty_file_is_the_default_and_the_default_is_safe() {
    let p = Policy::parse("").unwrap();
    assert_eq!(p, Policy::default());
    assert_eq!(Policy::parse("# nothing but a comment\n").unwrap(), p);

    assert!(
        !p.auto_update.enabled,
        "nothing installs by itself unless asked"
    );
    assert!(p.auto_update.security_updates && !p.auto_update.feature_updates);
    assert!(!p.auto_update.breaking_changes);
    assert_eq!(p.auto_update.max_concurrent_updates, 1);
    let c = p.component(&name("bech32"));
    assert!(!c.auto_update);
    assert!(c.backup_before_update && c.protocol_compatibility_check);
    assert!(p.notifications.security_alert_immediate);
    assert!(p.rollback.auto_rollback_on_failure);
    assert!(p.testing.pre_update_tests && p.testing.post_update_validation);
    assert!(p.maintenance_window.is_none());
    assert!(
        p.update_allowed_at(Timestamp::UNIX_EPOCH),
        "no window: any time"
    );
    assert!(p.warnings().is_empty());
}

#[test]
fn omitting_a_key_never_turns_a_check_off() {
    let p = Policy::parse(
        "[auto_update]\nenabled = true\n\
         [rollback]\nrollback_points = 5\n\
         [testing]\ntest_timeout_minutes = 5\n\
         [notifications]\nwebhook_urls = [\"http://127.0.0.1:9/hook\"]\n\
         [components.bech32]\ncall_mode = \"warm\"\n",
    )
    .unwrap();
    assert_eq!(p.rollback.rollback_points, 5);
    assert!(p.rollback.auto_rollback_on_failure);
    assert_eq!(p.rollback.trial_failure_rate, 0.05);
    assert!(p.testing.pre_update_tests && p.testing.post_update_validation);
    assert!(p.notifications.security_alert_immediate);
    let c = p.component(&name("bech32"));
    assert_eq!(c.call_mode, Some(CallMode::Warm));
    assert!(c.auto_update && c.backup_before_update && c.protocol_compatibility_check);
    assert!(!c.feature_updates && !c.breaking_changes);
}

#[test]
fn component_overrides_merge_with_the_global_switch() {
    let text = "[auto_update]\nenabled = false\n[components.bech32]\nauto_update = true\n";
    let p = Policy::parse(text).unwrap();
    assert!(
        !p.component(&name("bech32")).auto_update,
        "a component cannot switch on what the operator switched off globally"
    );
    let p = Policy::parse(
        "[auto_update]\nenabled = true\n[components.bech32]\nauto_update = false\n\
         backup_before_update = false\nprotocol_compatibility_check = false\n\
         model_validation_required = true\ncall_mode = \"fresh\"\n\
         validators = [\"bip173-vectors\", \"bip350-vectors\"]\n\
         bip_compliance_required = [173, \"350\"]\n",
    )
    .unwrap();
    let c = p.component(&name("bech32"));
    assert!(!c.auto_update && !c.backup_before_update && !c.protocol_compatibility_check);
    assert!(c.model_validation_required);
    assert_eq!(c.call_mode, Some(CallMode::Fresh));
    assert_eq!(
        c.validators,
        [name("bip173-vectors"), name("bip350-vectors")]
    );
    assert_eq!(
        c.bip_compliance_required,
        ["173".parse::<Bip>().unwrap(), "350".parse().unwrap()]
    );
}

fn manifest(update_type: &str, security_critical: bool, breaking: bool) -> Manifest {
    Manifest::parse(&format!(
        "name = \"bech32\"\nversion = \"1.1.0\"\nupdate_type = \"{update_type}\"\n\
         security_critical = {security_critical}\nbreaking_changes = {breaking}\ncall_mode = \"warm\"\n"
    ))
    .unwrap()
}

#[test]
fn auto_install_follows_the_guide() {
    let p = Policy::load(Path::new(GUIDE_POLICY)).unwrap();
    let bitcoin = p.component(&name("bitcoin-module"));
    assert_eq!(
        bitcoin.auto_install(&manifest("security", false, false)),
        AutoInstall::Allowed
    );
    assert_eq!(
        bitcoin.auto_install(&manifest("bugfix", true, false)),
        AutoInstall::Allowed
    );
    assert_eq!(
        bitcoin.auto_install(&manifest("feature", false, false)),
        AutoInstall::Refused("automatic feature updates are off")
    );
    assert_eq!(
        bitcoin.auto_install(&manifest("performance", false, false)),
        AutoInstall::Refused("automatic feature updates are off")
    );
    assert_eq!(
        bitcoin.auto_install(&manifest("security", false, true)),
        AutoInstall::Refused("breaking changes are never installed automatically")
    );
    let core = p.component(&name("anya-core"));
    assert_eq!(
        core.auto_install(&manifest("security", true, false)),
        AutoInstall::Refused("automatic updates are off for this component")
    );

    let p = Policy::parse(
        "[auto_update]\nenabled = true\nsecurity_updates = false\nfeature_updates = true\n",
    )
    .unwrap();
    let c = p.component(&name("bech32"));
    assert_eq!(
        c.auto_install(&manifest("feature", false, false)),
        AutoInstall::Allowed
    );
    assert_eq!(
        c.auto_install(&manifest("feature", false, true)),
        AutoInstall::Refused("breaking changes are never installed automatically")
    );
    assert_eq!(
        c.auto_install(&manifest("security", false, false)),
        AutoInstall::Refused("automatic security updates are off")
    );
    assert_eq!(
        c.call_mode_for(&manifest("feature", false, false)),
        CallMode::Warm
    );
}

#[test]
fn the_maintenance_window_table() {
    let p = Policy::parse(
        "[auto_update]\nenabled = true\n[maintenance_window]\nstart_time = 22:30:00\n\
         end_time = \"01:00\"\ntimezone = \"America/New_York\"\n",
    )
    .unwrap();
    let w = p.maintenance_window.as_ref().unwrap();
    assert_eq!(
        w.start_time().to_string(),
        "22:30:00",
        "a TOML local time works too"
    );
    assert!(w.crosses_midnight());
    assert_eq!(w.days().len(), 7, "no days: every day");
    // 2025-01-08 22:45 EST is 2025-01-09 03:45Z.
    assert!(p.update_allowed_at("2025-01-09T03:45:00Z".parse().unwrap()));
    assert!(!p.update_allowed_at("2025-01-09T06:00:00Z".parse().unwrap()));
    assert!(p.warnings().is_empty());

    // Inside a window the answer is now; outside it, the next opening.
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    assert_eq!(
        p.next_update_time(at("2025-01-09T03:45:00Z")),
        Some(at("2025-01-09T03:45:00Z"))
    );
    assert_eq!(
        p.next_update_time(at("2025-01-09T06:00:00Z")),
        Some(at("2025-01-10T03:30:00Z"))
    );
    assert_eq!(
        Policy::default().next_update_time(at("2025-01-09T06:00:00Z")),
        Some(at("2025-01-09T06:00:00Z")),
        "no window: at once"
    );
}

#[test]
fn warnings_name_what_does_nothing() {
    let p = Policy::parse(
        "[maintenance_window]\nstart_time = \"02:00\"\nend_time = \"03:00\"\ntimezone = \"UTC\"\n\
         [testing]\npre_update_tests = false\n\
         [components.bitcoin-module]\nbip_compliance_required = [\"141\"]\n",
    )
    .unwrap();
    let warnings = p.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("nothing is installed automatically"));
    assert!(warnings[1].contains("still run for: bitcoin-module"));
}

#[test]
fn notifications_smtp() {
    let p = Policy::parse(
        "[notifications]\nemail_recipients = [\"ops@example.com\"]\n\
         slack_webhook_urls = [\"https://hooks.slack.com/services/T0/B0/x\"]\n\
         webhook_secret_file = \"/etc/anya/webhook.key\"\n\
         [notifications.smtp]\nhost = \"127.0.0.1\"\nfrom = \"anya@example.com\"\nstarttls = false\n",
    )
    .unwrap();
    let smtp = p.notifications.smtp.as_ref().unwrap();
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.starttls),
        ("127.0.0.1", 25, false)
    );
    assert_eq!(smtp.from.as_str(), "anya@example.com");
    assert_eq!(
        p.notifications.webhook_secret_file.as_deref(),
        Some(Path::new("/etc/anya/webhook.key"))
    );
    assert_eq!(p.notifications.slack_webhook_urls.len(), 1);
    assert!(p.warnings().is_empty());

    let p = Policy::parse(
        "[notifications.smtp]\nhost = \"smtp.example.com\"\nfrom = \"anya@example.com\"\n\
         username = \"anya\"\npassword_file = \"/etc/anya/smtp.pass\"\n",
    )
    .unwrap();
    let smtp = p.notifications.smtp.as_ref().unwrap();
    assert_eq!(
        (smtp.port, smtp.starttls),
        (587, true),
        "STARTTLS unless switched off"
    );
    assert_eq!(smtp.username.as_deref(), Some("anya"));
    assert_eq!(p.warnings().len(), 1, "no recipients");
}

#[test]
fn unknown_keys_are_refused_where_they_are() {
    refused_at("surprise = 1\n", 1, 1, "unknown field `surprise`");
    refused_at(
        "[auto_update]\nenable = true\n",
        2,
        1,
        "unknown field `enable`",
    );
    refused_at(
        "[auto_updates]\nenabled = true\n",
        1,
        2,
        "unknown field `auto_updates`",
    );
    refused_at(
        "[maintenance_window]\nstart_time = \"02:00\"\nend_time = \"03:00\"\ntimezone = \"UTC\"\nday = [\"sun\"]\n",
        5,
        1,
        "unknown field `day`",
    );
    refused_at(
        "[notifications]\nslack_urls = []\n",
        2,
        1,
        "unknown field `slack_urls`",
    );
    refused_at(
        "[notifications.smtp]\nhost = \"a.b\"\nfrom = \"a@b.c\"\ntls = true\n",
        4,
        1,
        "unknown field `tls`",
    );
    refused_at(
        "[rollback]\nrollback_timeout = 3\n",
        2,
        1,
        "unknown field `rollback_timeout`",
    );
    refused_at("[testing]\nsmoke = true\n", 2, 1, "unknown field `smoke`");
    refused_at(
        "[components.bech32]\nauto_updates = true\n",
        2,
        1,
        "unknown field `auto_updates`",
    );
}

#[test]
fn bad_values_are_refused_where_they_are() {
    let window = |body: &str| format!("[maintenance_window]\n{body}");
    let ok_window = "start_time = \"02:00\"\nend_time = \"03:00\"\ntimezone = \"UTC\"\n";

    refused_at("[auto_update]\nenabled = \"yes\"\n", 2, 11, "invalid type");
    refused_at(
        "[auto_update]\ncheck_interval_minutes = 0\n",
        2,
        26,
        "invalid number of minutes 0",
    );
    refused_at(
        "[auto_update]\ncheck_interval_minutes = -5\n",
        2,
        26,
        "expected 1 to",
    );
    refused_at(
        "[auto_update]\ncheck_interval_minutes = 1.5\n",
        2,
        26,
        "invalid type",
    );
    refused_at(
        "[auto_update]\nmax_concurrent_updates = 0\n",
        2,
        26,
        "expected at least 1",
    );

    refused_at(
        &window("start_time = \"25:00\"\n"),
        2,
        14,
        "invalid time \"25:00\"",
    );
    refused_at(
        &window("start_time = 2025-01-01T02:00:00Z\n"),
        2,
        14,
        "expected a time of day",
    );
    refused_at(
        &window("start_time = \"02:00\"\nend_time = \"03:00\"\ntimezone = \"Mars/Olympus\"\n"),
        4,
        12,
        "unknown time zone \"Mars/Olympus\"",
    );
    refused_at(
        &format!("{}days = [\"Sonntag\"]\n", window(ok_window)),
        5,
        8,
        "unknown day \"Sonntag\"",
    );
    refused_at(
        &format!("{}days = [\"Sunday\", \"sun\"]\n", window(ok_window)),
        5,
        8,
        "Sunday is listed twice",
    );
    refused_at(
        &format!("{}days = []\n", window(ok_window)),
        5,
        8,
        "never open",
    );
    refused_at(
        &window("start_time = \"02:00\"\nend_time = \"02:00:00\"\ntimezone = \"UTC\"\n"),
        1,
        1,
        "both 02:00:00",
    );
    refused_at(
        &window("start_time = \"02:00\"\ntimezone = \"UTC\"\n"),
        1,
        1,
        "missing field `end_time`",
    );

    refused_at(
        "[notifications]\nwebhook_urls = [\"ftp://example.com/x\"]\n",
        2,
        16,
        "only http and https",
    );
    refused_at(
        "[notifications]\nwebhook_urls = [\"not a url\"]\n",
        2,
        16,
        "invalid URL \"not a url\"",
    );
    refused_at(
        "[notifications]\nslack_webhook_urls = [\"https://a.example/x\", \"https://a.example/x\"]\n",
        2,
        22,
        "listed twice",
    );
    refused_at(
        "[notifications]\nemail_recipients = [\"admin\"]\n",
        2,
        20,
        "it has no '@'",
    );
    refused_at(
        "[notifications]\nwebhook_secret_file = \"key\"\n",
        2,
        23,
        "is not absolute",
    );
    refused_at(
        "[notifications]\nsecurity_alert_immediate = 1\n",
        2,
        28,
        "invalid type",
    );
    refused_at(
        "[notifications.smtp]\nhost = \"bad host\"\nfrom = \"a@b.c\"\n",
        2,
        8,
        "invalid host \"bad host\"",
    );
    refused_at(
        "[notifications.smtp]\nhost = \"a.b\"\nport = 70000\nfrom = \"a@b.c\"\n",
        3,
        8,
        "invalid port 70000",
    );
    refused_at(
        "[notifications.smtp]\nhost = \"a.b\"\nfrom = \"a@b.c\"\npassword_file = \"/p\"\n",
        1,
        1,
        "password_file is set but username is not",
    );
    refused_at(
        "[notifications.smtp]\nhost = \"a.b\"\n",
        1,
        1,
        "missing field `from`",
    );

    refused_at(
        "[rollback]\ntrial_failure_rate = 1.5\n",
        2,
        22,
        "invalid rate 1.5",
    );
    refused_at(
        "[rollback]\ntrial_failure_rate = -0.1\n",
        2,
        22,
        "invalid rate -0.1",
    );
    refused_at(
        "[rollback]\ntrial_failure_rate = nan\n",
        2,
        22,
        "invalid rate NaN",
    );
    refused_at(
        "[rollback]\ntrial_failure_rate = \"5%\"\n",
        2,
        22,
        "a number from 0 to 1",
    );
    refused_at(
        "[rollback]\nrollback_points = 0\n",
        2,
        19,
        "expected at least 1",
    );
    refused_at(
        "[rollback]\nmax_rollback_attempts = 0\n",
        2,
        25,
        "expected at least 1",
    );
    refused_at(
        "[rollback]\ntrial_min_calls = 0\n",
        2,
        19,
        "expected at least 1",
    );
    refused_at(
        "[testing]\ntest_timeout_minutes = 600000\n",
        2,
        24,
        "expected 1 to 527040",
    );

    refused_at("[components.bEch32]\n", 1, 13, "upper case");
    refused_at("[components.\"a.b\"]\n", 1, 13, "contains '.'");
    refused_at(
        "[components.bech32]\ncall_mode = \"hot\"\n",
        2,
        13,
        "unknown variant `hot`",
    );
    refused_at(
        "[components.bech32]\nbip_compliance_required = [\"14x\"]\n",
        2,
        28,
        "invalid BIP \"14x\"",
    );
    refused_at(
        "[components.bech32]\nbip_compliance_required = [\"141\", 141]\n",
        2,
        27,
        "141 is listed twice",
    );
    refused_at(
        "[components.bech32]\nvalidators = [\"v\", \"v\"]\n",
        2,
        14,
        "v is listed twice",
    );
    refused_at(
        "[components.bech32]\nauto_update = 0\n",
        2,
        15,
        "invalid type",
    );
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let err = Policy::load(&missing).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(err.to_string().contains("absent.toml"), "{err}");

    let bad = dir.path().join("update_policy.toml");
    std::fs::write(
        &bad,
        "[auto_update]\nenabled = true\ncheck_interval_minutes = 0\n",
    )
    .unwrap();
    let err = Policy::load(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "invalid policy file {}: line 3, column 26: ",
            bad.display()
        )),
        "{err}"
    );

    std::fs::write(&bad, b"[auto_update]\nenabled = \xff\n").unwrap();
    let err = Policy::load(&bad).unwrap_err().to_string();
    assert!(err.contains("update_policy.toml: it is not UTF-8"), "{err}");

    let huge = format!("# {}\n", "x".repeat(MAX_POLICY_LEN));
    let err = Policy::parse(&huge).unwrap_err().to_string();
    assert!(err.contains("-byte cap"), "{err}");
}
