//! The queue, the worker thread and its retry schedule: [`Notifier`].

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, NotifierConfig, RetryPolicy};
use crate::deliver::{Deliverer, Outcome};
use crate::event::{Event, EventKind};

/// How long [`Notifier::shutdown`] waits past its deadline for an attempt in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);
/// The shortest timeout given to an attempt near the shutdown deadline.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1);

/// [`Notifier::send`] found the queue full; the event was dropped (and counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification queue is full: event {id} ({kind}) dropped")]
pub struct QueueFull {
    pub id: String,
    pub kind: EventKind,
}

/// Delivery counters, for metrics. `delivered`, `failed` and `abandoned` count deliveries
/// (one event to one target); `dropped` counts events refused by a full queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Deliveries a target accepted (HTTP 2xx, SMTP 250).
    pub delivered: u64,
    /// Deliveries given up: a permanent refusal, or every attempt failed.
    pub failed: u64,
    /// Events dropped by [`Notifier::send`] because their queue was full.
    pub dropped: u64,
    /// Deliveries left undone when the notifier stopped (shutdown deadline, or drop).
    pub abandoned: u64,
}

/// Sends [`Event`]s to the configured targets from one background thread.
///
/// `send` only takes a short lock to queue the event; delivery, retries and waiting all
/// happen on the worker thread, so a slow or dead receiver never delays the caller.
/// `Notifier` is `Send + Sync`: share it behind an `Arc`.
///
/// Dropping a `Notifier` without [`shutdown`](Notifier::shutdown) stops the worker after
/// the attempt in flight and abandons whatever is still queued.
pub struct Notifier {
    shared: Arc<Shared>,
    capacity: usize,
    immediate: bool,
    has_targets: bool,
    /// Disconnects when the worker exits (in a mutex only to make `Notifier` `Sync`).
    done: Mutex<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    abandoned: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Security alerts when `security_alert_immediate`: drained before everything else.
    urgent: VecDeque<Event>,
    normal: VecDeque<Event>,
    /// Set by shutdown (or drop): finish what can be done before it, then exit.
    stop_at: Option<Instant>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// Checks `config` and starts the worker thread (named `anya-notify`).
    pub fn start(config: NotifierConfig) -> Result<Notifier, ConfigError> {
        config.validate()?;
        let deliverer = Deliverer::new(&config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
        });
        let (done_tx, done) = mpsc::channel::<()>();
        let worker = Worker {
            shared: Arc::clone(&shared),
            deliverer,
            retry: config.retry,
            capacity: config.queue_capacity,
            urgent_jobs: BinaryHeap::new(),
            normal_jobs: BinaryHeap::new(),
            seq: 0,
        };
        let thread = std::thread::Builder::new()
            .name("anya-notify".into())
            .spawn(move || {
                let _done = done_tx;
                worker.run();
            })
            .map_err(ConfigError::Spawn)?;
        Ok(Notifier {
            shared,
            capacity: config.queue_capacity,
            immediate: config.security_alert_immediate,
            has_targets: config.has_targets(),
            done: Mutex::new(done),
            thread: Some(thread),
        })
    }

    /// Queues `event` for every target and returns at once: it never waits for delivery,
    /// a receiver, or room in the queue. A full queue drops the event, counts it in
    /// [`dropped`](Notifier::dropped) and returns [`QueueFull`]. With no target configured
    /// the event is discarded and `Ok` returned.
    ///
    /// With `security_alert_immediate`, a security alert ([`Event::is_security`]) goes to
    /// a queue of its own that the worker empties before any ordinary event or retry.
    pub fn send(&self, event: Event) -> Result<(), QueueFull> {
        if !self.has_targets {
            return Ok(());
        }
        let urgent = self.immediate && event.is_security();
        let mut state = lock(&self.shared.state);
        let queue = if urgent {
            &mut state.urgent
        } else {
            &mut state.normal
        };
        if queue.len() >= self.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event = %event.id,
                kind = %event.kind,
                component = %event.component,
                "notification queue is full; event dropped"
            );
            return Err(QueueFull {
                id: event.id,
                kind: event.kind,
            });
        }
        queue.push_back(event);
        drop(state);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Deliveries accepted by their target.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Deliveries given up (refused for good, or out of attempts).
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Events dropped because their queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting in the queues (not those waiting for a retry).
    pub fn queued(&self) -> usize {
        let state = lock(&self.shared.state);
        state.urgent.len() + state.normal.len()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            delivered: self.delivered(),
            failed: self.failed(),
            dropped: self.dropped(),
            abandoned: self.shared.abandoned.load(Ordering::Relaxed),
        }
    }

    /// Delivers what it can within `deadline` (queued events, then retries due before it;
    /// attempts are cut short to end by it), stops the worker and returns the final counts.
    /// Returns early once nothing is left to do. An attempt that overruns the deadline
    /// (SMTP timeouts apply per read or write) is waited for a further 250 ms, then left
    /// to end on its own thread.
    pub fn shutdown(mut self, deadline: Duration) -> Stats {
        let now = Instant::now();
        let stop = now
            .checked_add(deadline)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 60 * 60));
        self.stop_at(stop);
        let finished = self
            .done
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(deadline.saturating_add(SHUTDOWN_GRACE));
        match finished {
            Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!("notification worker still busy after the shutdown deadline");
                self.thread = None;
            }
        }
        self.stats()
    }

    fn stop_at(&self, stop: Instant) {
        let mut state = lock(&self.shared.state);
        state.stop_at = Some(state.stop_at.map_or(stop, |s| s.min(stop)));
        drop(state);
        self.shared.wake.notify_all();
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if self.thread.take().is_some() {
            self.stop_at(Instant::now());
        }
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("capacity", &self.capacity)
            .field("immediate", &self.immediate)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One delivery waiting for its (next) attempt.
struct Job {
    due: Instant,
    seq: u64,
    event: Arc<Event>,
    target: usize,
    /// Attempts made so far.
    failed: u32,
}

// A min-heap on (due, seq): the earliest job first, ties in queueing order.
impl Ord for Job {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Job {}

enum Next {
    Event(Event, bool),
    Job(Job, bool),
    Exit,
}

struct Worker {
    shared: Arc<Shared>,
    deliverer: Deliverer,
    retry: RetryPolicy,
    capacity: usize,
    urgent_jobs: BinaryHeap<Job>,
    normal_jobs: BinaryHeap<Job>,
    seq: u64,
}

fn pop_due(jobs: &mut BinaryHeap<Job>, now: Instant) -> Option<Job> {
    if jobs.peek().is_some_and(|job| job.due <= now) {
        jobs.pop()
    } else {
        None
    }
}

impl Worker {
    fn run(mut self) {
        loop {
            match self.next() {
                Next::Exit => break,
                Next::Event(event, urgent) => self.expand(event, urgent),
                Next::Job(job, urgent) => self.attempt(job, urgent),
            }
        }
        self.abandon();
    }

    /// Waits for the next thing to do: a security alert, then a due retry (security
    /// first), then a new ordinary event (while fewer than `capacity` ordinary deliveries
    /// wait for a retry).
    fn next(&mut self) -> Next {
        let mut state = lock(&self.shared.state);
        loop {
            let now = Instant::now();
            if state.stop_at.is_some_and(|stop| now >= stop) {
                return Next::Exit;
            }
            if let Some(event) = state.urgent.pop_front() {
                return Next::Event(event, true);
            }
            if let Some(job) = pop_due(&mut self.urgent_jobs, now) {
                return Next::Job(job, true);
            }
            if let Some(job) = pop_due(&mut self.normal_jobs, now) {
                return Next::Job(job, false);
            }
            if self.normal_jobs.len() < self.capacity
                && let Some(event) = state.normal.pop_front()
            {
                return Next::Event(event, false);
            }
            let next_due = [self.urgent_jobs.peek(), self.normal_jobs.peek()]
                .into_iter()
                .flatten()
                .map(|job| job.due)
                .min();
            if let Some(stop) = state.stop_at
                && state.normal.is_empty()
                && next_due.is_none_or(|due| due >= stop)
            {
                // Shutting down and nothing left that could run before the deadline.
                return Next::Exit;
            }
            let wake_at = next_due.into_iter().chain(state.stop_at).min();
            state = match wake_at {
                Some(at) => {
                    self.shared
                        .wake
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// One job per target, due now.
    fn expand(&mut self, event: Event, urgent: bool) {
        tracing::debug!(event = %event.id, kind = %event.kind, urgent, "delivering notification");
        let event = Arc::new(event);
        let now = Instant::now();
        for target in 0..self.deliverer.len() {
            let job = Job {
                due: now,
                seq: self.next_seq(),
                event: Arc::clone(&event),
                target,
                failed: 0,
            };
            self.jobs(urgent).push(job);
        }
    }

    fn attempt(&mut self, mut job: Job, urgent: bool) {
        let timeout = self.attempt_timeout();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.deliverer.attempt(job.target, &job.event, timeout)
        }))
        .unwrap_or_else(|_| Outcome::Permanent("delivery panicked".into()));
        job.failed += 1;
        let target = self.deliverer.label(job.target);
        let event = &job.event;
        match outcome {
            Outcome::Delivered => {
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%target, event = %event.id, kind = %event.kind, attempt = job.failed, "notification delivered");
            }
            Outcome::Permanent(reason) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%target, event = %event.id, kind = %event.kind, attempt = job.failed, %reason, "notification refused; not retrying");
            }
            Outcome::Retry { reason, .. } if job.failed >= self.retry.attempts => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%target, event = %event.id, kind = %event.kind, attempts = job.failed, %reason, "notification not delivered; giving up");
            }
            Outcome::Retry { reason, after } => {
                let mut delay = self.retry.backoff(job.failed);
                if let Some(after) = after {
                    delay = delay.max(after.min(self.retry.max_backoff));
                }
                tracing::info!(%target, event = %event.id, kind = %event.kind, attempt = job.failed, %reason, retry_in_ms = delay.as_millis() as u64, "notification attempt failed; will retry");
                job.due = Instant::now() + delay;
                job.seq = self.next_seq();
                self.jobs(urgent).push(job);
            }
        }
    }

    /// The per-attempt timeout, trimmed to end by the shutdown deadline.
    fn attempt_timeout(&self) -> Duration {
        let stop_at = lock(&self.shared.state).stop_at;
        match stop_at {
            Some(stop) => self
                .retry
                .per_attempt_timeout
                .min(stop.saturating_duration_since(Instant::now()))
                .max(MIN_ATTEMPT_TIMEOUT),
            None => self.retry.per_attempt_timeout,
        }
    }

    /// Counts (and logs) everything left undone at exit.
    fn abandon(&mut self) {
        let queued = {
            let mut state = lock(&self.shared.state);
            let queued = state.urgent.len() + state.normal.len();
            state.urgent.clear();
            state.normal.clear();
            queued
        };
        let deliveries = (queued * self.deliverer.len()
            + self.urgent_jobs.len()
            + self.normal_jobs.len()) as u64;
        self.urgent_jobs.clear();
        self.normal_jobs.clear();
        if deliveries > 0 {
            self.shared
                .abandoned
                .fetch_add(deliveries, Ordering::Relaxed);
            tracing::warn!(
                deliveries,
                "notifier stopped with deliveries not done; they are abandoned"
            );
        }
    }

    fn jobs(&mut self, urgent: bool) -> &mut BinaryHeap<Job> {
        if urgent {
            &mut self.urgent_jobs
        } else {
            &mut self.normal_jobs
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn notifier_is_shareable() {
        assert_send_sync::<Notifier>();
    }

    #[test]
    fn without_targets_send_is_a_no_op() {
        let notifier = Notifier::start(NotifierConfig::default()).unwrap();
        notifier
            .send(Event::new(EventKind::Installed, "demo"))
            .unwrap();
        assert_eq!(notifier.queued(), 0);
        assert_eq!(notifier.shutdown(Duration::from_secs(1)), Stats::default());
    }

    #[test]
    fn jobs_pop_earliest_first_then_in_order() {
        let event = Arc::new(Event::new(EventKind::Installed, "demo"));
        let now = Instant::now();
        let job = |due: Instant, seq| Job {
            due,
            seq,
            event: Arc::clone(&event),
            target: 0,
            failed: 0,
        };
        let mut heap = BinaryHeap::new();
        heap.push(job(now + Duration::from_secs(1), 1));
        heap.push(job(now, 3));
        heap.push(job(now, 2));
        assert_eq!(pop_due(&mut heap, now).map(|j| j.seq), Some(2));
        assert_eq!(pop_due(&mut heap, now).map(|j| j.seq), Some(3));
        assert!(pop_due(&mut heap, now).is_none());
        assert_eq!(heap.len(), 1);
    }
}
