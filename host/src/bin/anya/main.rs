//! `anya`: the operator's and the extension developer's command line.
//!
//! Exit codes (also in the README):
//! - 0: success
//! - 1: failure (I/O, runtime, a call that failed)
//! - 2: usage error
//! - 3: a package was refused (signature, trust, manifest, format)
//! - 4: not found (component or version not installed / not in the registry)
//! - 5: refused by policy without `--force` (a downgrade, a breaking change without a
//!   major version bump, new capabilities not approved)
//! - 6: the state folder is locked by another anya process
//! - 7: refused by the validation gate, or rolled back by the post-install check
//! - 100: `check` found updates (as `dnf check-update` does)

mod backend;
mod commands;
mod global;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use global::Global;

#[derive(Debug, Parser)]
#[command(
    name = "anya",
    version,
    about = "A WebAssembly plugin host that updates its extensions without downtime"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage signing keys.
    #[command(subcommand)]
    Key(commands::key::KeyCommand),
    /// Manage the trust store.
    #[command(subcommand)]
    Trust(commands::trust::TrustCommand),
    /// Embed a manifest into a component and sign it.
    Sign(commands::sign::Sign),
    /// Verify a package against the trust store.
    Verify(commands::verify::Verify),
    /// Show a package's manifest, WIT world and signatures (without trusting it).
    Inspect(commands::inspect::Inspect),
    /// Verify a package and add it to the registry.
    Publish(commands::publish::Publish),
    /// The signed index hosts install from: release, sign, push.
    #[command(subcommand)]
    Index(commands::index::IndexCommand),
    /// Staged rollouts over the signed index: start, step (the controller), status,
    /// pause, resume, abort.
    #[command(subcommand)]
    Rollout(commands::rollout::RolloutCommand),
    /// List available updates (exit code 100 when there are some).
    Check(commands::check::Check),
    /// List installed components and what the registry offers.
    List(commands::list::List),
    /// Install a component from the registry (the newest version by default).
    Install(commands::install::Install),
    /// Approve an update's new capabilities (imports the running version lacks), audited.
    Approve(commands::approve::Approve),
    /// Go back to the previous version (a rollback point), at once and audited.
    Rollback(commands::rollback::Rollback),
    /// Show installed components, their versions and history.
    Status(commands::status::Status),
    /// Call an exported function of an installed component, with JSON arguments.
    Call(commands::call::Call),
    /// Run the daemon: control API, scheduler, notifications, metrics.
    Serve(commands::serve::Serve),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve(s) => global::init_tracing(true, s.json_logs()),
        _ => {
            stop_quietly_on_a_closed_pipe();
            global::init_tracing(false, false);
        }
    }
    let result = match cli.command {
        Command::Key(c) => c.execute(&cli.global),
        Command::Trust(c) => c.execute(&cli.global),
        Command::Sign(c) => c.execute(&cli.global),
        Command::Verify(c) => c.execute(&cli.global),
        Command::Inspect(c) => c.execute(&cli.global),
        Command::Publish(c) => c.execute(&cli.global),
        Command::Index(c) => c.execute(&cli.global),
        Command::Rollout(c) => c.execute(&cli.global),
        Command::Check(c) => c.execute(&cli.global),
        Command::List(c) => c.execute(&cli.global),
        Command::Install(c) => c.execute(&cli.global),
        Command::Approve(c) => c.execute(&cli.global),
        Command::Rollback(c) => c.execute(&cli.global),
        Command::Status(c) => c.execute(&cli.global),
        Command::Call(c) => c.execute(&cli.global),
        Command::Serve(c) => c.execute(&cli.global),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", output::printable(&one_message(&err)));
            ExitCode::from(exit_code_of(&err))
        }
    }
}

/// `anya status | head`: when the reader goes away, end as every Unix tool does (by
/// SIGPIPE), not with a panic of `println!`. Only the one-shot commands: the daemon
/// keeps SIGPIPE ignored, as Rust sets it, so a client hanging up never stops it.
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: restoring a signal's default disposition at start-up, before any thread
    // exists, has no memory-safety requirement.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn exit_code_of(err: &anyhow::Error) -> u8 {
    use anya_host::update::UpdateError;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<UpdateError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<backend::RemoteError>() {
            return e.exit_code;
        }
        if cause
            .downcast_ref::<anya_host::package::PackageError>()
            .is_some()
        {
            return 3;
        }
        if let Some(e) = cause.downcast_ref::<anya_host::release::ReleaseError>() {
            return match e {
                anya_host::release::ReleaseError::Registry(r) => r.exit_code(),
                _ => 3,
            };
        }
        if let Some(e) = cause.downcast_ref::<anya_host::rollout::RolloutError>() {
            use anya_host::rollout::RolloutError;
            return match e {
                RolloutError::Registry(r) => r.exit_code(),
                RolloutError::Release(_) => 3,
                RolloutError::NotReleased { .. } | RolloutError::NoActiveRollout { .. } => 4,
                RolloutError::InProgress { .. } => 5,
                _ => 3,
            };
        }
        if let Some(anya_host::store::StoreError::Locked { .. }) = cause.downcast_ref() {
            return 6;
        }
        if cause.downcast_ref::<backend::Unresponsive>().is_some() {
            return 6;
        }
        if cause.downcast_ref::<backend::NotHonoured>().is_some() {
            return 2;
        }
    }
    1
}

/// The error and its causes on one line, each said once: library errors already include
/// their reason in their own message, contexts added here do not.
fn one_message(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
