//! Test-only crash points: `ANYA_CRASH_AT=<point>` makes the process abort at that point,
//! as a `kill -9` would, so tests can prove that every step of install, commit and
//! rollback is crash-safe. Only a build with the `test-hooks` feature (the tests') reads
//! the variable; in the product a point compiles to nothing.

/// The environment variable that names the point to crash at.
pub const CRASH_ENV: &str = "ANYA_CRASH_AT";

/// Every crash point of an install, in the order they are passed.
pub const INSTALL_POINTS: &[&str] = &[
    "install:after-object",
    "install:after-snapshot",
    "install:after-pending-state",
    "install:after-activate",
    "install:after-state",
    "install:after-journal",
];

/// Every crash point of a rollback, in the order they are passed.
pub const ROLLBACK_POINTS: &[&str] = &[
    "rollback:after-start-entry",
    "rollback:after-state",
    "rollback:after-kv-restore",
    "rollback:after-cleanup",
    "rollback:after-journal",
];

/// Every crash point of a commit (the end of a trial), in the order they are passed.
pub const COMMIT_POINTS: &[&str] = &["commit:before-state", "commit:after-state"];

/// Aborts the process if `ANYA_CRASH_AT` names `point` (with the `test-hooks` feature).
#[cfg(feature = "test-hooks")]
pub fn point(point: &str) {
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var(CRASH_ENV).ok());
    if target.as_deref() == Some(point) {
        eprintln!("anya: crashing at {point} ({CRASH_ENV})");
        std::process::abort();
    }
}

/// A crash point of the product: nothing (the `test-hooks` feature is off).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn point(_point: &str) {}
