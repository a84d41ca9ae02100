//! One run's view of a provider's accounts (`shared::domain::pool`): the slots each holds and
//! which are out of rotation. An account that refuses work for itself (credentials, arrears,
//! an exhausted pack) is taken out for `probe_after`; the first submit after that is its probe:
//! an answer puts it back, another refusal takes it out again.

use std::time::Duration;

use shared::domain::breaker::{BreakerPolicy, is_open};
use shared::domain::pool::{Account, Pool, candidates};
use shared::ports::{Breakers, LineState};

/// The breaker item that says whether an account is in rotation.
pub fn health_key(slot_key: &str) -> String {
    format!("{slot_key}@account")
}

/// One refusal is enough: the account said so itself.
pub fn health_policy(probe_after: Duration) -> BreakerPolicy {
    BreakerPolicy {
        threshold: 1,
        open_for: probe_after,
    }
}

pub struct Seat<'a> {
    pub account: &'a Account,
    held: u32,
    out: bool,
    /// Refusals on record: an answer now puts the account back.
    refusals: u32,
}

pub struct Seats<'a> {
    seats: Vec<Seat<'a>>,
}

impl<'a> Seats<'a> {
    /// The provider's accounts as the run read them (`held` from the slot repair).
    pub fn from_state(
        pool: &'a Pool,
        provider: &'a str,
        state: &LineState,
        held: impl Fn(&str) -> u32,
        now: i64,
    ) -> Seats<'a> {
        let seats = pool
            .of(provider)
            .map(|account| {
                let key = account.slot_key();
                let health = state.breaker(&health_key(&key));
                Seat {
                    account,
                    held: held(&key),
                    out: is_open(health, now),
                    refusals: health.failures,
                }
            })
            .collect();
        Seats { seats }
    }

    /// Accounts with a free slot for `model`, best first (`pool::candidates`).
    pub fn candidates(&self, model: &str) -> Vec<&'a Account> {
        let seat = |a: &Account| self.seats.iter().find(|s| std::ptr::eq(s.account, a));
        candidates(
            self.seats.iter().map(|s| s.account),
            model,
            |a| seat(a).map_or(u32::MAX, |s| s.held),
            |a| seat(a).is_some_and(|s| !s.out),
        )
    }

    /// The account a task's earlier submit was claimed on (gone from the pool: `main`).
    pub fn recorded(&self, name: &str) -> Option<&'a Account> {
        let by = |n: &str| self.seats.iter().find(|s| s.account.name == n);
        by(name)
            .or_else(|| by(shared::domain::pool::MAIN))
            .map(|s| s.account)
    }

    /// After an answer from `account`: true when it had been taken out (it is back now).
    pub fn answered(&mut self, account: &Account) -> bool {
        let mut was_out = false;
        self.with(account, |s| {
            was_out = s.refusals > 0;
            s.refusals = 0;
        });
        was_out
    }

    pub fn took(&mut self, account: &Account) {
        self.with(account, |s| s.held += 1);
    }

    pub fn freed(&mut self, account: &Account) {
        self.with(account, |s| s.held = s.held.saturating_sub(1));
    }

    pub fn taken_out(&mut self, account: &Account) {
        self.with(account, |s| s.out = true);
    }

    fn with(&mut self, account: &Account, f: impl FnOnce(&mut Seat<'a>)) {
        if let Some(s) = self
            .seats
            .iter_mut()
            .find(|s| std::ptr::eq(s.account, account))
        {
            f(s);
        }
    }
}

/// Take an account out of rotation: it refused work for itself (`refusal`).
pub async fn take_out<S: Breakers>(
    store: &S,
    account: &Account,
    refusal: &shared::provider::ProviderError,
    probe_after: Duration,
    now: i64,
) {
    let key = health_key(&account.slot_key());
    tracing::error!(account = %account.name, error = %refusal, "provider account out of rotation");
    metric(account, "AccountsOutOfRotation");
    if let Err(e) = store
        .record_submit(&key, false, health_policy(probe_after), now)
        .await
    {
        tracing::warn!(error = %e, "could not record the account's health");
    }
}

/// Put an account back after its probe was answered.
pub async fn put_back<S: Breakers>(store: &S, account: &Account, probe_after: Duration, now: i64) {
    let key = health_key(&account.slot_key());
    tracing::warn!(account = %account.name, "provider account back in rotation");
    metric(account, "AccountsBackInRotation");
    if let Err(e) = store
        .record_submit(&key, true, health_policy(probe_after), now)
        .await
    {
        tracing::warn!(error = %e, "could not record the account's health");
    }
}

/// Per account for diagnosis, and by function alone for the alarm (accounts are configuration).
fn metric(account: &Account, name: &'static str) {
    let one = [(name, 1.0, shared::runtime::metrics::Unit::Count)];
    shared::runtime::metrics::emit(&[("Function", "dispatch")], &one);
    shared::runtime::metrics::emit(
        &[
            ("Function", "dispatch"),
            ("Provider", account.provider.as_str()),
            ("Account", account.name.as_str()),
        ],
        &one,
    );
}
