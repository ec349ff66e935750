//! The hot-swap cell of one component: the current version behind an [`ArcSwap`], and
//! the previous version kept compiled and linked for an instant rollback.
//!
//! Invariants: a call takes the current version once ([`Slot::current`]) and runs wholly
//! on it; a swap is one pointer store, so a call in flight when it happens finishes on the
//! version it started on, and no call ever sees a half-swapped slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::runtime::LoadedComponent;

/// One version of a component, ready to serve, with its call counters.
#[derive(Debug)]
pub struct Serving {
    pub loaded: Arc<LoadedComponent>,
    calls: AtomicU64,
    failures: AtomicU64,
    on_trial: AtomicBool,
}

impl Serving {
    pub fn new(loaded: Arc<LoadedComponent>) -> Arc<Self> {
        Self::with_trial(loaded, false)
    }

    /// A version that starts serving on trial (its failures are judged) or committed.
    pub fn with_trial(loaded: Arc<LoadedComponent>, on_trial: bool) -> Arc<Self> {
        Arc::new(Self {
            loaded,
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            on_trial: AtomicBool::new(on_trial),
        })
    }

    /// Whether this version is still on trial.
    pub fn on_trial(&self) -> bool {
        self.on_trial.load(Ordering::Acquire)
    }

    /// Ends the trial (the version is committed).
    pub fn end_trial(&self) {
        self.on_trial.store(false, Ordering::Release);
    }

    /// Counts one finished call; `failed` when the guest trapped or hit a limit.
    pub fn record(&self, failed: bool) -> CallCounts {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let failures = if failed {
            self.failures.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.failures.load(Ordering::Relaxed)
        };
        CallCounts { calls, failures }
    }

    /// Calls and failures since this version started serving.
    pub fn counts(&self) -> CallCounts {
        CallCounts {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// Calls served by one version, and how many of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CallCounts {
    pub calls: u64,
    pub failures: u64,
}

impl CallCounts {
    /// The share of failed calls, 0 when there were none.
    pub fn failure_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failures as f64 / self.calls as f64
        }
    }
}

/// The current and the previous version of one component.
#[derive(Debug)]
pub struct Slot {
    current: ArcSwap<Serving>,
    previous: ArcSwapOption<Serving>,
}

impl Slot {
    pub fn new(current: Arc<Serving>) -> Self {
        Self {
            current: ArcSwap::new(current),
            previous: ArcSwapOption::empty(),
        }
    }

    /// The version new calls go to. Hold the returned `Arc` for the whole call.
    pub fn current(&self) -> Arc<Serving> {
        self.current.load_full()
    }

    /// The version a rollback would go back to, if it is still loaded.
    pub fn previous(&self) -> Option<Arc<Serving>> {
        self.previous.load_full()
    }

    /// Makes `next` current and keeps the old current as the previous version. New calls
    /// go to `next` from the moment of the store; calls in flight finish on the old one.
    pub fn swap(&self, next: Arc<Serving>) -> Arc<Serving> {
        let old = self.current.swap(next);
        self.previous.store(Some(Arc::clone(&old)));
        old
    }

    /// Makes `target` current (the previous version, or a rollback point loaded from the
    /// cache) and forgets the version it replaces, which is returned.
    pub fn roll_back_to(&self, target: Arc<Serving>) -> Arc<Serving> {
        let failed = self.current.swap(target);
        self.previous.store(None);
        failed
    }
}
