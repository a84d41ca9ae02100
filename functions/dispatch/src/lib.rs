//! dispatch: submits waiting tasks to the provider within its account's capacity.
//!
//! One run (woken by a nudge or the schedule; one at a time): repair slots whose holder is
//! gone, then take the waiting line in order (priority lane, then age) and for each task take
//! a capacity slot and submit it — or look it up first when an earlier submit's answer was
//! lost. Busy puts the task back at its place and ends the run; a full account ends the run;
//! a task past its plan's wait fails with `queue_timeout` (refunded). Slot holders past their
//! model's learned generation time are looked up (a lost callback must not hold a slot). While
//! tasks wait the dispatcher wakes itself again shortly, while the provider holds tasks within
//! the recheck window; one wake-up is pending at a time.

pub mod seats;

use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use shared::domain::breaker::{BreakerPolicy, is_open};
use shared::domain::pace::{self, Pace};
use shared::domain::pool::{Account, Pool};
use shared::domain::state::{TaskEvent, TaskPatch, event_for};
use shared::domain::task::{Task, TaskId};
use shared::domain::timestamp::Timestamp;
use shared::lifecycle::fail::{Failure, fail_and_refund};
use shared::lifecycle::sync::{SyncOutcome, SyncPolicy, lookup_of, sync_tasks};
use shared::ports::{
    Breakers, Capacity, DispatchNudge, FinalizeQueue, GenerationTimes, LineState, LineStates,
    ReconcileIndex, StoreError, Tasks, WaitingLine, WakeClaims,
};
use shared::provider::{Deadline, ProviderError, ProviderJob, VideoProvider};

use seats::Seats;

/// What dispatch needs of the table: tasks, the provider's slots, the waiting line, and for
/// the slot holders' lookups the check claims and the models' generation times.
pub trait Store:
    Tasks
    + Capacity
    + WaitingLine
    + Breakers
    + LineStates
    + ReconcileIndex
    + GenerationTimes
    + WakeClaims
{
}
impl<T> Store for T where
    T: Tasks
        + Capacity
        + WaitingLine
        + Breakers
        + LineStates
        + ReconcileIndex
        + GenerationTimes
        + WakeClaims
{
}

/// Waiting tasks looked at per run.
pub const BATCH: u32 = 25;
/// How soon a run wakes the next while tasks still wait.
pub const AGAIN_AFTER: Duration = Duration::from_secs(1);
/// Time allowed for one provider call, retries included.
const CALL_BUDGET: Duration = Duration::from_secs(20);
/// What a run keeps of its invocation for its last step: one provider call and the writes
/// that record it. A run always takes its first task, whatever is left: an invocation shorter
/// than this (a `Timeout` set lower, or `cargo lambda watch`, whose invocations are short) would
/// otherwise never take one, and wake the next run for ever.
pub const RUN_RESERVE: Duration = Duration::from_secs(25);

/// Everything dispatch reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub providers: shared::provider::composite::ProviderSettings,
    pub queue: shared::runtime::config::DispatchQueueConfig,
    /// Where a slot holder found finished is sent to be stored.
    pub finalize: shared::runtime::config::QueueConfig,
    pub breaker: BreakerPolicy,
    /// How long an account that refused work for itself stays out of rotation before a probe.
    pub account_probe: Duration,
    pub pace: Pace,
    pub hard_timeout: Duration,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            providers: shared::provider::composite::ProviderSettings::from_source(src)?,
            queue: shared::runtime::config::DispatchQueueConfig::from_source(src)?,
            finalize: shared::runtime::config::QueueConfig::from_source(src)?,
            breaker: BreakerPolicy::from_source(src)?,
            account_probe: Duration::from_secs(src.parsed("ACCOUNT_PROBE_SECONDS", 60)?),
            pace: Pace::from_source(src)?,
            hard_timeout: SyncPolicy::hard_timeout_from_source(src)?,
        })
    }
}

pub struct App<S, P, D, Q> {
    pub store: S,
    pub provider: P,
    pub nudge: D,
    /// The finalize queue, for slot holders found finished.
    pub queue: Q,
    /// Each provider's accounts and their capacity (`domain::pool`).
    pub pool: Pool,
    /// When a provider's failures open its breaker (failover to the next provider).
    pub breaker: BreakerPolicy,
    /// How long an account that refused work for itself stays out of rotation.
    pub account_probe: Duration,
    /// When slot holders are looked up.
    pub pace: Pace,
    /// A task unfinished this long after creation fails (and is refunded).
    pub hard_timeout: Duration,
    /// What was learned of each model's pace, kept across runs for the recheck window.
    pub paces: PaceCache,
    /// Which slot holders this process read, and when.
    pub holders_read: HolderReads,
}

/// When each slot holder's task was last read by this process. A run reads the holders only
/// when one of them was not read within the recheck window: the normal path frees a slot with
/// its holder's terminal write, repair is for the crash that skipped it (found within the
/// window), and a holder is looked up at most once per window anyway.
#[derive(Default)]
pub struct HolderReads(std::sync::Mutex<Vec<(TaskId, std::time::Instant)>>);

impl HolderReads {
    fn all_fresh(&self, ids: &[TaskId], within: Duration) -> bool {
        let Ok(read) = self.0.lock() else {
            return false;
        };
        let fresh = |id: &TaskId| read.iter().any(|(r, at)| r == id && at.elapsed() < within);
        ids.iter().all(fresh)
    }

    fn read_now(&self, ids: &[TaskId]) {
        if let Ok(mut read) = self.0.lock() {
            let now = std::time::Instant::now();
            *read = ids.iter().map(|id| (id.clone(), now)).collect();
        }
    }
}

/// Learned paces by provider and model, each with when it was read: runs come every second
/// or so while tasks are held, and a pace moves over an hour, not a second.
#[derive(Default)]
pub struct PaceCache(std::sync::Mutex<Vec<(String, String, std::time::Instant, Duration)>>);

impl PaceCache {
    fn get(&self, provider: &str, model: &str, within: Duration) -> Option<Duration> {
        let cached = self.0.lock().ok()?;
        cached
            .iter()
            .find(|(p, m, at, _)| p == provider && m == model && at.elapsed() < within)
            .map(|(.., after)| *after)
    }

    fn put(&self, provider: &str, model: &str, after: Duration) {
        if let Ok(mut cached) = self.0.lock() {
            cached.retain(|(p, m, ..)| !(p == provider && m == model));
            let entry = (
                provider.into(),
                model.into(),
                std::time::Instant::now(),
                after,
            );
            cached.push(entry);
        }
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct DispatchReport {
    pub submitted: u32,
    /// Lost submit answers found at the provider.
    pub recovered: u32,
    /// Submits whose outcome is still unknown (looked up next run).
    pub unknown: u32,
    pub failed: u32,
    pub timed_out: u32,
    /// Slots freed because their holder had finished or never got submitted.
    pub slots_repaired: u32,
    /// Tasks handed to the next provider (their first was failing and provably never got them).
    pub failed_over: u32,
    /// The run stopped taking tasks from the line to end within its invocation.
    pub out_of_time: bool,
    /// Tasks still waiting when the run ended.
    pub waiting: u32,
    /// Slots held, at the start of the run, by tasks the provider still has (for the run's
    /// own wake-up; not part of the report).
    #[serde(skip)]
    pub holding: u32,
    /// When the pending wake-up is due, as the run's last read of its line saw it.
    #[serde(skip)]
    pub wake_pending: Option<Timestamp>,
    /// Tasks this run has taken a step for (its deadline stops it only after the first).
    #[serde(skip)]
    pub stepped: u32,
    pub errors: u32,
}

/// What happened to one waiting task.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Submitted,
    Recovered,
    Unknown,
    Failed,
    TimedOut,
    /// Not this task's turn any more (it moved on, or another run has it).
    Skipped,
    /// Handed to the next provider's line.
    FailedOver,
    /// The account is full or busy: the line stops here, in order.
    Stop,
    /// The account refused or was busy; nothing was created and the task waits: another
    /// account may take it now.
    NextAccount,
}

pub async fn handle<S: Store, P: VideoProvider, D: DispatchNudge, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
) -> DispatchReport {
    handle_until(app, None).await
}

/// A run that ends by `until` (the invocation's deadline): it takes no more tasks from the
/// line once less than `RUN_RESERVE` is left, and wakes the next run for the rest, instead of
/// being cut off in the middle of a submit.
pub async fn handle_until<S: Store, P: VideoProvider, D: DispatchNudge, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    until: Option<std::time::Instant>,
) -> DispatchReport {
    let span = tracing::info_span!("dispatch", provider = app.provider.name());
    run(app, until).instrument(span).await
}

async fn run<S: Store, P: VideoProvider, D: DispatchNudge, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    until: Option<std::time::Instant>,
) -> DispatchReport {
    let mut report = DispatchReport::default();
    // Lines in failover order: a task handed on joins a later line, served in the same run.
    for provider in app.provider.names() {
        serve_line(app, provider, until, &mut report).await;
    }
    wake_again(app, &mut report).await;
    report
}

/// One provider's line: repair its slots, then its waiting tasks in order.
async fn serve_line<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    until: Option<std::time::Instant>,
    report: &mut DispatchReport,
) {
    let secs = shared::domain::timestamp::unix_seconds(Timestamp::now().datetime());
    let keys: Vec<String> = app.pool.of(provider).map(Account::slot_key).collect();
    let health: Vec<String> = keys.iter().map(|k| seats::health_key(k)).collect();
    let state = match app.store.line_state(&health, &keys).await {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, "could not read the accounts' slots and health");
            report.errors += 1;
            return;
        }
    };
    report.wake_pending = state.wake_at;
    let held = repair_all(app, &keys, &state, report).await;
    let count = |key: &str| held.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
    let mut seats = Seats::from_state(&app.pool, provider, &state, count, secs);
    let line = match app.store.waiting(provider, BATCH).await {
        Ok(line) => line,
        Err(e) => {
            tracing::error!(error = %e, "could not read the waiting line");
            report.errors += 1;
            return;
        }
    };
    report.waiting += line.len() as u32;
    if let Some(oldest) = line.iter().map(|t| t.created_at).min() {
        let waited = (Timestamp::now() - oldest).as_seconds_f64().max(0.0);
        shared::runtime::metrics::emit(
            &[("Function", "dispatch"), ("Provider", provider)],
            &[(
                "OldestWaitingSeconds",
                waited,
                shared::runtime::metrics::Unit::Seconds,
            )],
        );
    }
    // Once the line stops (full or busy), the rest are only checked for their deadline.
    let mut stopped = false;
    for task in &line {
        let left = until.map(|u| u.saturating_duration_since(std::time::Instant::now()));
        if report.stepped > 0 && left.is_some_and(|l| l < RUN_RESERVE) {
            report.out_of_time = true;
            break;
        }
        report.stepped += 1;
        let now = Timestamp::now();
        let span = tracing::info_span!("task", task_id = %task.id, provider);
        let step = if stopped {
            timeout_only(app, provider, task, now)
                .instrument(span)
                .await
        } else {
            step(app, provider, &mut seats, task, now)
                .instrument(span)
                .await
        };
        stopped |= tally(report, step);
    }
}

/// Count one step; true when the line stops here.
fn tally(report: &mut DispatchReport, step: Result<Step, StoreError>) -> bool {
    let (counter, left_the_line) = match step {
        Ok(Step::Submitted) => (&mut report.submitted, true),
        Ok(Step::Recovered) => (&mut report.recovered, true),
        Ok(Step::Failed) => (&mut report.failed, true),
        Ok(Step::TimedOut) => (&mut report.timed_out, true),
        Ok(Step::FailedOver) => (&mut report.failed_over, true),
        // Still waiting: its submit is looked up by the next run.
        Ok(Step::Unknown) => (&mut report.unknown, false),
        Ok(Step::Skipped | Step::NextAccount) => return false,
        Ok(Step::Stop) => return true,
        Err(e) => {
            tracing::error!(error = %e, "store failure; the next run carries on");
            report.errors += 1;
            return true;
        }
    };
    *counter += 1;
    if left_the_line {
        report.waiting = report.waiting.saturating_sub(1);
    }
    false
}

/// Run again soon while tasks wait, and within the recheck window while the provider holds
/// tasks (their callbacks may be lost). One wake-up pending at a time, whoever asks.
async fn wake_again<S: Store, P, D: DispatchNudge, Q>(
    app: &App<S, P, D, Q>,
    report: &mut DispatchReport,
) {
    let held = report.holding + report.submitted + report.recovered + report.unknown;
    let delay = match (report.waiting, held) {
        (0, 0) => return,
        (0, _) => app.pace.recheck.max(AGAIN_AFTER),
        _ => AGAIN_AFTER,
    };
    let now = Timestamp::now();
    // Another run's wake-up is still to come: the claim would be refused.
    if report.wake_pending.is_some_and(|at| at > now) {
        return;
    }
    match app.store.claim_wake(now + delay, now).await {
        Ok(false) => return,
        Ok(true) => {}
        Err(e) => tracing::warn!(error = %e, "could not claim the wake-up; waking anyway"),
    }
    if let Err(e) = app.nudge.nudge(delay).await {
        tracing::warn!(error = %e, "could not wake the next run; the schedule will");
        report.errors += 1;
    }
}

/// Every account's slot repair, from one read of all their holders' tasks; the slots each
/// still holds (an account whose repair failed is left out: it counts as empty this run).
async fn repair_all<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    keys: &[String],
    state: &LineState,
    report: &mut DispatchReport,
) -> Vec<(String, u32)> {
    let ids: Vec<TaskId> = keys
        .iter()
        .flat_map(|k| state.holders(k).to_vec())
        .collect();
    if app.holders_read.all_fresh(&ids, app.pace.recheck) {
        let count = |k: &String| (k.clone(), state.holders(k).len() as u32);
        report.holding += ids.len() as u32;
        return keys.iter().map(count).collect();
    }
    let tasks = match ids.is_empty() {
        true => Vec::new(),
        false => match app.store.tasks_named(&ids).await {
            Ok(tasks) => {
                app.holders_read.read_now(&ids);
                tasks
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the slot holders");
                report.errors += 1;
                return Vec::new();
            }
        },
    };
    let mut held = Vec::new();
    for key in keys {
        match repair_slots(app, key, state.holders(key), &tasks).await {
            Ok((freed, holding)) => {
                report.slots_repaired += freed;
                report.holding += holding;
                held.push((key.clone(), holding));
            }
            Err(e) => {
                tracing::error!(error = %e, slots = %key, "could not repair slots");
                report.errors += 1;
            }
        }
    }
    held
}

/// Slots go back to the pool once their holder no longer holds one: the provider is done with
/// it (a terminal or `FINALIZING` write) or it never got as far as a submit (a crash between
/// taking the slot and claiming the submit). Holders past their model's expected generation
/// time are looked up: a lost callback must not hold a slot until somebody polls.
/// Returns the slots freed and the ones still held.
async fn repair_slots<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    slots: &str,
    holders: &[TaskId],
    tasks: &[Task],
) -> Result<(u32, u32), StoreError> {
    let now = Timestamp::now();
    let (mut repaired, mut due, mut paces) = (0, Vec::new(), Vec::new());
    let held = holders.len() as u32;
    for id in holders {
        match tasks.iter().find(|t| t.id == *id) {
            // Younger than the floor: not due whatever was learned (no read for it).
            Some(task) if task.holds_slot() && !pace::due(task, app.pace.floor, now) => {}
            Some(task) if task.holds_slot() => {
                let after = ask_after(app, &mut paces, task, now).await;
                if pace::due(task, after, now) {
                    due.push(task.clone());
                }
            }
            _ => {
                app.store.release_slot(slots, id).await?;
                repaired += 1;
            }
        }
    }
    let freed = repaired + look_up_due(app, slots, &due, now).await?;
    Ok((freed, held.saturating_sub(freed)))
}

/// When a task of this model is worth asking about: learned once per run and model, and
/// read again only after the recheck window (`PaceCache`).
async fn ask_after<S: Store, P, D, Q>(
    app: &App<S, P, D, Q>,
    paces: &mut Vec<(String, Duration)>,
    task: &Task,
    now: Timestamp,
) -> Duration {
    if let Some((_, after)) = paces.iter().find(|(m, _)| *m == task.model) {
        return *after;
    }
    if let Some(after) = app.paces.get(&task.provider, &task.model, app.pace.recheck) {
        paces.push((task.model.clone(), after));
        return after;
    }
    let times = app
        .store
        .recent_generations(&task.provider, &task.model, now)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read generation times; the fallback stands");
            Default::default()
        });
    let after = app.pace.ask_after(&times);
    app.paces.put(&task.provider, &task.model, after);
    paces.push((task.model.clone(), after));
    after
}

/// Ask the provider about due holders (each at most once per recheck window, whoever asks);
/// the slots of those it has finished with are freed now.
async fn look_up_due<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    slots: &str,
    due: &[Task],
    now: Timestamp,
) -> Result<u32, StoreError> {
    if due.is_empty() {
        return Ok(0);
    }
    let policy = SyncPolicy {
        stale_after: app.pace.recheck,
        hard_timeout: app.hard_timeout,
    };
    let deadline = Deadline::after(CALL_BUDGET);
    let outcomes = sync_tasks(
        &app.store,
        &app.provider,
        &app.queue,
        due,
        policy,
        now.datetime(),
        deadline,
    )
    .await;
    let mut freed = 0;
    for (task, outcome) in due.iter().zip(outcomes) {
        let done = match outcome {
            Ok(SyncOutcome::FinalizeQueued | SyncOutcome::Failed(_)) => true,
            Ok(SyncOutcome::Moved(status)) => status.is_terminal(),
            Ok(SyncOutcome::Skipped | SyncOutcome::Unchanged) => false,
            Err(e) => {
                tracing::warn!(task_id = %task.id, error = %e, "slot holder lookup failed; asked again later");
                false
            }
        };
        if done {
            app.store.release_slot(slots, &task.id).await?;
            freed += 1;
        }
    }
    Ok(freed)
}

/// A task past its plan's wait (and with no submit out) fails with `queue_timeout`, refunded.
/// Decided on the stored item: the line is an index copy, which may predate a submit.
async fn timeout_only<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    copy: &Task,
    now: Timestamp,
) -> Result<Step, StoreError> {
    // Half its wait gone with its provider still full or busy: the next provider, if any.
    let past_half = |t: &Task| {
        t.queue_deadline
            .is_some_and(|d| now > d - (d - t.created_at) / 2)
    };
    if !copy.waiting() || !past_half(copy) {
        return Ok(Step::Skipped);
    }
    let Some(task) = app.store.get_task(&copy.id).await? else {
        return Ok(Step::Skipped);
    };
    if !task.waiting() || task.provider != provider {
        return Ok(Step::Skipped);
    }
    let task = &task;
    if fail_over(app, provider, task, None, now).await? {
        return Ok(Step::FailedOver);
    }
    if task.queue_deadline.is_some_and(|d| now > d) {
        let why = "the video provider had no capacity in time; the cost was refunded";
        fail(app, task, "queue_timeout", why, true).await?;
        return Ok(Step::TimedOut);
    }
    Ok(Step::Skipped)
}

async fn step<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    seats: &mut Seats<'_>,
    task: &Task,
    now: Timestamp,
) -> Result<Step, StoreError> {
    match timeout_only(app, provider, task, now).await? {
        Step::Skipped => {}
        moved => return Ok(moved),
    }
    if task.retry_at.is_some_and(|r| r > now) {
        return Ok(Step::Stop);
    }
    // A submit whose answer was lost stays on its account: the job may be there.
    if let Some(seen) = task.submit_attempted_at {
        let Some(account) = seats.recorded(task.account()) else {
            return Ok(Step::Stop);
        };
        if !take(app, account, task).await? {
            return Ok(Step::Stop);
        }
        return recover(app, provider, account, task, seen, now).await;
    }
    for account in seats.candidates(&task.model) {
        if !take(app, account, task).await? {
            continue;
        }
        seats.took(account);
        match submit(app, provider, account, task, None, now).await? {
            Step::NextAccount => {
                seats.freed(account);
                seats.taken_out(account);
            }
            Step::Submitted if seats.answered(account) => {
                let secs = shared::domain::timestamp::unix_seconds(now.datetime());
                seats::put_back(&app.store, account, app.account_probe, secs).await;
                return Ok(Step::Submitted);
            }
            step => return Ok(step),
        }
    }
    Ok(Step::Stop)
}

async fn take<S: Store, P, D, Q>(
    app: &App<S, P, D, Q>,
    account: &Account,
    task: &Task,
) -> Result<bool, StoreError> {
    app.store
        .take_slot(&account.slot_key(), &task.id, account.capacity)
        .await
}

/// An earlier submit's answer was lost: the provider may hold the task. Found, it is
/// recorded; definitely absent, it is submitted again; unknown, the next run asks again.
async fn recover<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    account: &Account,
    task: &Task,
    seen: Timestamp,
    now: Timestamp,
) -> Result<Step, StoreError> {
    match app
        .provider
        .lookup(lookup_of(task), Deadline::after(CALL_BUDGET))
        .await
    {
        Ok(job) => record(app, task, job).await.map(|()| Step::Recovered),
        Err(ProviderError::NotFound) => {
            tracing::info!("the provider never got the earlier submit; sending it again");
            match fail_over_if_failing(app, provider, task, seen, now).await? {
                true => Ok(Step::FailedOver),
                false => submit(app, provider, account, task, Some(seen), now).await,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "lookup failed; the next run asks again");
            Ok(Step::Unknown)
        }
    }
}

/// A task its provider provably does not hold, while that provider's breaker is open, goes to
/// the next provider: it was never submitted anywhere else, and now never will be here.
async fn fail_over_if_failing<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    task: &Task,
    seen: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    if app.provider.names().len() < 2 {
        return Ok(false);
    }
    let secs = shared::domain::timestamp::unix_seconds(now.datetime());
    if !is_open(app.store.breaker(provider).await?, secs) {
        return Ok(false);
    }
    fail_over(app, provider, task, Some(seen), now).await
}

/// Hand a waiting task to the next provider that supports it and is not failing (its line is
/// served later in the same run); false when there is none.
async fn fail_over<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    task: &Task,
    seen: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let secs = shared::domain::timestamp::unix_seconds(now.datetime());
    let Some(request) = &task.request else {
        return Ok(false);
    };
    let later = app
        .provider
        .names()
        .into_iter()
        .skip_while(|n| *n != provider)
        .skip(1);
    for next in later {
        let mut on = request.clone();
        on.provider = next.to_string();
        let usable =
            app.provider.check(&on).is_ok() && !is_open(app.store.breaker(next).await?, secs);
        if usable && app.store.reassign(&task.id, seen, next, now).await? {
            app.store.release_slot(&task.slot_key(), &task.id).await?;
            tracing::warn!(
                from = provider,
                to = next,
                "failed over to the next provider"
            );
            shared::runtime::metrics::emit(
                &[("Function", "dispatch"), ("Provider", provider)],
                &[("Failovers", 1.0, shared::runtime::metrics::Unit::Count)],
            );
            return Ok(true);
        }
    }
    Ok(false)
}

async fn submit<S: Store, P: VideoProvider, D, Q: FinalizeQueue>(
    app: &App<S, P, D, Q>,
    provider: &'static str,
    account: &Account,
    task: &Task,
    seen: Option<Timestamp>,
    now: Timestamp,
) -> Result<Step, StoreError> {
    // The claimed item, not the line's copy: a copy read before a failover or an earlier
    // submit would send the wrong request, or to the wrong provider.
    let Some(claimed) = app
        .store
        .claim_submit(&task.id, provider, &account.name, seen, now)
        .await?
    else {
        return Ok(Step::Skipped);
    };
    let task = &claimed;
    let Some(request) = &task.request else {
        fail(
            app,
            task,
            "internal_error",
            "the task has no request to submit",
            false,
        )
        .await?;
        return Ok(Step::Failed);
    };
    let answer = app
        .provider
        .submit(request, Deadline::after(CALL_BUDGET))
        .await;
    note_outcome(app, provider, &answer, now).await;
    match answer {
        Ok(job) => record(app, task, job).await.map(|()| Step::Submitted),
        Err(ProviderError::Busy { retry_after, .. }) => {
            // Nothing was created: the slot goes back and the task keeps its place.
            app.store
                .release_slot(&account.slot_key(), &task.id)
                .await?;
            app.store.defer(&task.id, now + retry_after).await?;
            Ok(Step::NextAccount)
        }
        Err(e @ (ProviderError::Auth { .. } | ProviderError::AccountUnusable { .. })) => {
            // Nothing was created and the account is out of rotation: the task waits, as
            // first in line, for another account (or this one's return).
            let secs = shared::domain::timestamp::unix_seconds(now.datetime());
            seats::take_out(&app.store, account, &e, app.account_probe, secs).await;
            app.store
                .release_slot(&account.slot_key(), &task.id)
                .await?;
            app.store.defer(&task.id, now).await?;
            Ok(Step::NextAccount)
        }
        Err(e @ ProviderError::OutcomeUnknown { .. }) => {
            tracing::warn!(error = %e, "submit outcome unknown; looked up next run");
            Ok(Step::Unknown)
        }
        Err(e) => {
            let code = match e {
                ProviderError::ContentRefused { .. } => "content_policy_violation",
                _ => "provider_error",
            };
            fail(app, task, code, &e.to_string(), false).await?;
            Ok(Step::Failed)
        }
    }
}

/// A submit's outcome for the provider's breaker (and its metrics): an answer closes it, an
/// unknown outcome (5xx, timeout) counts toward opening it; busy and refusals are neither.
async fn note_outcome<S: Store, P, D, Q>(
    app: &App<S, P, D, Q>,
    provider: &str,
    answer: &Result<ProviderJob, ProviderError>,
    now: Timestamp,
) {
    let ok = match answer {
        Ok(_) => true,
        Err(ProviderError::OutcomeUnknown { .. }) => false,
        Err(_) => return,
    };
    let dims = [("Function", "dispatch"), ("Provider", provider)];
    let metric = if ok { "Submissions" } else { "SubmitFailures" };
    shared::runtime::metrics::emit(
        &dims,
        &[(metric, 1.0, shared::runtime::metrics::Unit::Count)],
    );
    let secs = shared::domain::timestamp::unix_seconds(now.datetime());
    if let Err(e) = app
        .store
        .record_submit(provider, ok, app.breaker, secs)
        .await
    {
        tracing::warn!(error = %e, "could not record the breaker");
    }
}

/// The provider's answer, recorded: its reference (ours, authenticated) and its status.
async fn record<S: Store, P, D, Q>(
    app: &App<S, P, D, Q>,
    task: &Task,
    job: ProviderJob,
) -> Result<(), StoreError> {
    let event = event_for(job.status).unwrap_or(TaskEvent::ProviderQueued);
    let patch = TaskPatch {
        provider_ref: Some(job.reference.clone()),
        provider_handle: job.handle.clone(),
        facts: shared::domain::task::ProviderFacts {
            create_request_id: job.request_id.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    app.store.apply(&task.id, event, patch).await?;
    let request_id = job.request_id.as_deref().unwrap_or("-");
    tracing::info!(provider_ref = %job.reference, provider_request_id = request_id, "submitted to the provider");
    Ok(())
}

async fn fail<S: Store, P, D, Q>(
    app: &App<S, P, D, Q>,
    task: &Task,
    code: &str,
    message: &str,
    retryable: bool,
) -> Result<(), StoreError> {
    let failure = Failure {
        code,
        message: message.to_string(),
        retryable,
    };
    fail_and_refund(&app.store, "dispatch", task, failure, TaskPatch::default()).await?;
    Ok(())
}

#[cfg(test)]
mod pace_cache_tests {
    use super::*;

    #[test]
    fn a_learned_pace_is_kept_for_the_recheck_window_only() {
        let cache = PaceCache::default();
        cache.put("kling", "kling-v3", Duration::from_secs(90));
        let table = [
            ("kling", "kling-v3", Duration::from_secs(15), Some(90)),
            ("kling", "kling-v3", Duration::ZERO, None),
            ("kling", "kling-v2-6", Duration::from_secs(15), None),
            ("fal", "kling-v3", Duration::from_secs(15), None),
        ];
        for (provider, model, within, want) in table {
            let got = cache.get(provider, model, within).map(|d| d.as_secs());
            assert_eq!(got, want, "{provider}/{model} within {within:?}");
        }
        cache.put("kling", "kling-v3", Duration::from_secs(40));
        assert_eq!(
            cache.get("kling", "kling-v3", Duration::from_secs(15)),
            Some(Duration::from_secs(40)),
            "replaced, not duplicated"
        );
    }
}
