//! `anya rollout start | step | status | pause | resume | abort`: the rollout controller.
//! Each command reads the release and rollout documents from the registry, makes the next
//! rollout document, signs it with the online key and pushes it; hosts follow it on their
//! next check.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::SignedDuration;
use semver::Version;
use url::Url;

use anya_host::ids::ComponentName;
use anya_host::index::{Rollout, RolloutState};
use anya_host::keys::{self, SecretKey};
use anya_host::registry::{Registry, RegistryLocation};
use anya_host::rollout::analysis::{self, Analysis, Condition};
use anya_host::rollout::registry::Unverified;
use anya_host::rollout::{self, Current, Prometheus, RolloutError, Stages, plan};

use crate::global::{self, Global};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start rolling a released version out to a growing share of hosts.
    Start(StartArgs),
    /// Judge each progressing stage by its analysis (Prometheus), then promote, abort or
    /// pause it; run from cron or CI. Also renews the document's expiry.
    Step(StepArgs),
    /// Show each component's rollout.
    Status(StatusArgs),
    /// Hold a rollout at its share: the cohort keeps the candidate, no host joins.
    Pause(ChangeArgs),
    /// Let a paused rollout progress again.
    Resume(ChangeArgs),
    /// Send every host back to stable: the cohort rolls back.
    Abort(ChangeArgs),
}

/// What every command that signs needs.
#[derive(Debug, Args)]
pub struct Signing {
    /// The online key that signs rollout documents (repeat for a threshold).
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Days until the new document expires: a host whose rollout document expired
    /// installs nothing new until the controller signs another.
    #[arg(long, value_name = "DAYS", default_value_t = 3)]
    expires_in: u32,
    /// The registry [default: --registry].
    #[arg(long, value_name = "DIR|oci://HOST/PREFIX")]
    to: Option<RegistryLocation>,
    /// When the registry's rollout document does not verify (another key signed it, it
    /// was damaged): sign a fresh one numbered after it, every component pinned at its
    /// newest release.
    #[arg(long)]
    reset: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    name: ComponentName,
    version: Version,
    /// The shares of hosts, in percent, stage after stage.
    #[arg(long, default_value = "1,5,25,50,100", value_parser = parse_stages)]
    stages: Stages,
    /// The version hosts outside the cohort stay on [default: the last rollout's, or the
    /// newest released one below VERSION].
    #[arg(long)]
    stable: Option<Version>,
    /// The salt of the cohort hash [default: random]: the same salt puts the same hosts
    /// first (to keep the canaries of an earlier rollout).
    #[arg(long)]
    salt: Option<String>,
    #[command(flatten)]
    signing: Signing,
}

#[derive(Debug, Args)]
pub struct StepArgs {
    /// The Prometheus server that scrapes the hosts' /metrics (needed when a rollout is
    /// progressing; without one, step only renews the document).
    #[arg(long, value_name = "URL")]
    prometheus: Option<Url>,
    /// The analysis query (PromQL; {{component}}, {{candidate}}, {{stable}} and
    /// {{window}} are filled in) [default: the candidate's share of calls that failed in
    /// the guest, fleet-wide].
    #[arg(long, default_value = analysis::DEFAULT_QUERY, hide_default_value = true)]
    query: String,
    /// When a measurement succeeds.
    #[arg(long, default_value = analysis::DEFAULT_SUCCESS, value_parser = Condition::parse)]
    success: Condition,
    /// Time before each measurement.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// Measurements per stage.
    #[arg(long, default_value_t = 5)]
    count: u32,
    /// Failed measurements tolerated; one more aborts the rollout.
    #[arg(long, default_value_t = 0)]
    failure_limit: u32,
    /// The range of the default query ({{window}}).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    window: Duration,
    /// Time allowed for each query.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    query_timeout: Duration,
    /// How many hosts the fleet has: a stage is judged only while Prometheus sees that
    /// many (without it, a partial view could take a small stage for empty and skip it).
    #[arg(long, value_name = "N")]
    fleet_size: Option<usize>,
    /// Step only this component's rollout.
    #[arg(long)]
    only: Option<ComponentName>,
    #[command(flatten)]
    signing: Signing,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The registry [default: --registry].
    #[arg(long, value_name = "DIR|oci://HOST/PREFIX")]
    from: Option<RegistryLocation>,
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    name: ComponentName,
    #[command(flatten)]
    signing: Signing,
}

impl RolloutCommand {
    pub fn execute(self, global: &Global) -> Result<ExitCode> {
        match self {
            Self::Start(args) => args.execute(global),
            Self::Step(args) => args.execute(global),
            Self::Status(args) => args.execute(global),
            Self::Pause(args) => args.change(global, RolloutState::Paused),
            Self::Resume(args) => args.change(global, RolloutState::Progressing),
            Self::Abort(args) => args.change(global, RolloutState::Aborted),
        }
    }
}

/// The registry, its current documents, the signing keys (checked against the
/// release's rollout keys) and the next document to edit.
struct Session {
    registry: Box<dyn Registry>,
    current: Current,
    keys: Vec<SecretKey>,
    next: Rollout,
}

impl Signing {
    fn session(&self, global: &Global) -> Result<Session> {
        let keys = self
            .keys
            .iter()
            .map(|p| keys::read_secret_key(p).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?;
        let location = self
            .to
            .clone()
            .unwrap_or_else(|| global.registry_location());
        let registry = global.open_registry(&location)?;
        let unverified = if self.reset {
            Unverified::StartAfter
        } else {
            Unverified::Refuse
        };
        let now = global::clock()?.now();
        let current = read_current(global, registry.as_ref(), now, unverified)?;
        current.check_signers(&keys.iter().collect::<Vec<_>>())?;
        let lifetime = SignedDuration::from_hours(24 * i64::from(self.expires_in.max(1)));
        let mut next = plan::next_document(
            current.rollout.as_ref(),
            current.rollout_version,
            current.release_ref,
            now,
            lifetime,
        )?;
        for change in plan::rebind(&mut next, &current.release) {
            eprintln!("note: {change}");
        }
        Ok(Session {
            registry,
            current,
            keys,
            next,
        })
    }
}

impl Session {
    /// Signs and pushes the next document, unless another command pushed one since this
    /// one read the registry; where it went.
    fn publish(&self) -> Result<String> {
        self.current.check_unchanged(self.registry.as_ref())?;
        let keys: Vec<&SecretKey> = self.keys.iter().collect();
        Ok(rollout::registry::publish(
            self.registry.as_ref(),
            &self.next,
            &keys,
        )?)
    }
}

impl StartArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        let mut session = self.signing.session(global)?;
        let salt = match self.salt {
            Some(salt) if !salt.is_empty() && salt.len() <= 64 => salt,
            Some(_) => bail!("--salt: 1 to 64 characters"),
            None => {
                let mut salt = [0u8; 8];
                getrandom::fill(&mut salt).context("no randomness for the cohort's salt")?;
                hex::encode(salt)
            }
        };
        // A component the last document did not name has no stable yet: the one just
        // pinned by re-binding is the newest release, not what the fleet runs.
        let named_before = session
            .current
            .rollout
            .as_ref()
            .is_some_and(|r| r.components.contains_key(&self.name));
        if !named_before {
            session.next.components.remove(&self.name);
        }
        plan::start(
            &mut session.next,
            &session.current.release,
            &self.name,
            &self.version,
            self.stable.as_ref(),
            &self.stages,
            salt,
        )?;
        let location = session.publish()?;
        report(global, &session.next, &location, None);
        Ok(ExitCode::SUCCESS)
    }
}

impl StepArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        if self.count == 0 {
            bail!("--count must be at least 1");
        }
        if self.failure_limit >= self.count {
            bail!(
                "--failure-limit {} with --count {}: the analysis could never fail; keep it \
                 below the count",
                self.failure_limit,
                self.count
            );
        }
        let mut session = self.signing.session(global)?;
        let analysis = Analysis {
            query: self.query.clone(),
            success: self.success,
            interval: self.interval,
            count: self.count,
            failure_limit: self.failure_limit,
            window: self.window,
            fleet_size: self.fleet_size,
        };
        let progressing = rollout::step::due(&session.next, self.only.as_ref())
            .next()
            .is_some();
        let steps = match (&self.prometheus, progressing) {
            (_, false) => Vec::new(),
            (None, true) => {
                bail!("a rollout is progressing: give --prometheus URL to judge its stage")
            }
            (Some(url), true) => rollout::step(
                &mut session.next,
                &Prometheus::new(url.clone(), self.query_timeout),
                &analysis,
                self.only.as_ref(),
                &std::thread::sleep,
            ),
        };
        let location = session.publish()?;
        if global.json {
            output::json(&serde_json::json!({
                "location": location,
                "rollout": session.next,
                "steps": steps,
            }));
        } else {
            for s in &steps {
                let line = format!(
                    "{} {}: at {}: {}",
                    s.component,
                    s.candidate,
                    percent(s.basis_points),
                    describe_verdict(s)
                );
                println!("{}", output::printable(&line));
            }
            if steps.is_empty() {
                println!("no rollout is progressing; the document was renewed");
            }
            report(global, &session.next, &location, None);
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl StatusArgs {
    fn execute(self, global: &Global) -> Result<ExitCode> {
        let location = self.from.unwrap_or_else(|| global.registry_location());
        let registry = global.open_registry(&location)?;
        let now = global::clock()?.now();
        let current = read_current(global, registry.as_ref(), now, Unverified::Refuse)?;
        let Some(document) = &current.rollout else {
            if global.json {
                output::json(&serde_json::json!({"rollout": null}));
            } else {
                println!("no rollout document in {}", registry.describe());
            }
            return Ok(ExitCode::SUCCESS);
        };
        let bound = document.release == current.release_ref;
        report(global, document, &registry.describe(), Some(bound));
        Ok(ExitCode::SUCCESS)
    }
}

impl ChangeArgs {
    fn change(self, global: &Global, state: RolloutState) -> Result<ExitCode> {
        let mut session = self.signing.session(global)?;
        plan::set_state(&mut session.next, &self.name, state)?;
        let location = session.publish()?;
        report(global, &session.next, &location, None);
        Ok(ExitCode::SUCCESS)
    }
}

/// The registry's documents, the release verified against the trust store's index root.
fn read_current(
    global: &Global,
    registry: &dyn Registry,
    now: jiff::Timestamp,
    unverified: Unverified,
) -> Result<Current> {
    let trust = global.trust_store()?;
    let root = trust.index_root().ok_or(RolloutError::NoRoot)?;
    Ok(Current::read(registry, root, now, unverified)?)
}

/// Prints `document` (pushed to, or read from, `location`).
fn report(global: &Global, document: &Rollout, location: &str, bound: Option<bool>) {
    if global.json {
        output::json(&serde_json::json!({
            "location": location,
            "rollout": document,
            "bound_to_current_release": bound,
        }));
        return;
    }
    println!(
        "rollout document {} over release {} (expires {}) -> {location}",
        document.version, document.release.version, document.expires
    );
    if bound == Some(false) {
        println!(
            "  it names another release than the registry's: hosts refuse it until the \
             controller signs the next (any `anya rollout` command)"
        );
    }
    for (name, stage) in &document.components {
        let line = match (&stage.candidate, stage.state) {
            (None, _) => format!("{name}: {} everywhere", stage.stable),
            (Some(c), RolloutState::Aborted) => {
                format!("{name}: {c} aborted; every host on {}", stage.stable)
            }
            (Some(c), state) => format!(
                "{name}: {c} on {} of hosts ({}), {} elsewhere; stages {}",
                percent(stage.basis_points),
                match state {
                    RolloutState::Paused => "paused",
                    _ => "progressing",
                },
                stage.stable,
                stage
                    .stages
                    .iter()
                    .map(|bp| percent(*bp))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        };
        println!("  {}", output::printable(&line));
    }
}

fn describe_verdict(s: &rollout::ComponentStep) -> String {
    use rollout::{Promotion, Verdict};
    match (&s.verdict, &s.promotion) {
        (Verdict::Promote, Some(Promotion::Stage { basis_points })) => {
            format!("analysis passed; promoted to {}", percent(*basis_points))
        }
        (Verdict::Promote, _) => "analysis passed at the last stage; it is stable now".into(),
        (Verdict::Abort { why }, _) => format!("ABORTED: {why}; hosts go back to {}", s.stable),
        (Verdict::Pause { why }, _) => format!("paused: {why}"),
        (Verdict::Hold { why }, _) => format!("held at this stage: {why}"),
        (Verdict::Skip { why }, Some(Promotion::Stage { basis_points })) => {
            format!("{why}; on to {}", percent(*basis_points))
        }
        (Verdict::Skip { why }, _) => format!("{why}; it is stable now"),
    }
}

fn percent(basis_points: u16) -> String {
    let whole = basis_points / 100;
    match basis_points % 100 {
        0 => format!("{whole}%"),
        part => format!("{whole}.{part:02}%"),
    }
}

fn parse_stages(text: &str) -> Result<Stages, String> {
    Stages::parse(text)
}

/// `500ms`, `30s`, `5m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: give a unit (ms, s, m, h)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a whole number and a unit, as 30s"))?;
    let seconds = |per: u64| {
        n.checked_mul(per)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => Err(format!("{text:?}: the unit is ms, s, m or h")),
    }
}
