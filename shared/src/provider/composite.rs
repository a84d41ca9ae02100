//! The provider adapters a deployment can use, built from configuration. Functions wire what
//! this module builds and never name a provider's own types; a new provider surface adds an
//! adapter and its settings here.
//!
//! `PROVIDER` picks the provider tasks are submitted to: `kling` (default; Kling's own API,
//! legacy or standard by `KLING_API_STYLE`) or `fal` (Kling's models on fal.ai's queue);
//! `PROVIDER=kling,fal` configures several in failover order.

use crate::domain::pool::{Account, MAIN, Pool};
use crate::domain::task::Quality;
use crate::provider::fal::{FalConfig, FalProvider};
use crate::provider::kling::{KlingConfig, KlingProvider};
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, CancelOutcome, GenerationRequest, JobLookup,
    ModelChoice, ProviderError, ProviderJob, VideoProvider,
};
use crate::runtime::config::{ConfigError, Source};
use crate::runtime::deadline::Deadline;

/// One provider adapter.
pub enum Member {
    Kling(Box<KlingProvider>),
    Fal(Box<FalProvider>),
}

/// One account's adapter: the same provider surface with that account's credentials.
struct Seat {
    account: String,
    member: Member,
}

/// The providers this deployment submits to, in failover order (most deployments: one), each
/// with its accounts. Each task names its provider (chosen once, before any submit) and the
/// account its submit was claimed on; calls about it go there.
pub struct ConfiguredProvider {
    seats: Vec<Seat>,
}

/// One account's settings: the provider's, with the account's own credentials.
pub enum AccountConfig {
    Kling(KlingConfig),
    Fal(FalConfig),
}

/// Everything the provider adapters read from the environment at cold start.
pub struct ProviderSettings {
    /// `PROVIDER`: one provider, or several in failover order (`kling,fal`); default `kling`.
    pub order: Vec<String>,
    /// Every provider's accounts (`domain::pool`), `main` first.
    pub pool: Pool,
    /// Each account's settings, in the pool's order.
    pub accounts: Vec<AccountConfig>,
}

/// The variables that are an account's credentials: an account other than `main` reads them
/// as `ACCOUNT_<provider>_<name>_<variable>` (filled from its secret), never the provider's.
const CREDENTIALS: [&str; 4] = [
    "KLING_ACCESS_KEY",
    "KLING_SECRET_KEY",
    "KLING_API_KEY",
    "FAL_KEY",
];

/// The variable an account's credential is read from.
pub fn credential_var(account: &Account, var: &str) -> String {
    match account.name.as_str() {
        MAIN => var.to_string(),
        name => format!("ACCOUNT_{}_{name}_{var}", account.provider),
    }
}

/// The environment as one account sees it.
struct AccountSource<'a, S> {
    base: &'a S,
    account: &'a Account,
}

impl<S: Source> Source for AccountSource<'_, S> {
    fn get(&self, name: &str) -> Option<String> {
        match CREDENTIALS.contains(&name) {
            true => self.base.get(&credential_var(self.account, name)),
            false => self.base.get(name),
        }
    }
}

impl ProviderSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let order = order(src)?;
        let pool = Pool::parse(
            src.get("PROVIDER_ACCOUNTS").as_deref(),
            &order,
            src.parsed("PROVIDER_MAX_CONCURRENCY", 5)?,
        )
        .map_err(|reason| ConfigError::Invalid {
            name: "PROVIDER_ACCOUNTS",
            reason,
        })?;
        let mut accounts = Vec::new();
        for account in pool.accounts() {
            let src = AccountSource { base: src, account };
            accounts.push(match account.provider.as_str() {
                "fal" => AccountConfig::Fal(FalConfig::from_source(&src)?),
                _ => AccountConfig::Kling(KlingConfig::from_source(&src)?),
            });
        }
        Ok(Self {
            order,
            pool,
            accounts,
        })
    }

    pub fn provider(&self) -> Result<ConfiguredProvider, ProviderError> {
        let auth = |reason: String| ProviderError::Auth { reason };
        let mut seats = Vec::new();
        for name in &self.order {
            for (account, config) in self.pool.accounts().iter().zip(&self.accounts) {
                if &account.provider != name {
                    continue;
                }
                let member = match config {
                    AccountConfig::Kling(k) => KlingProvider::new(k)
                        .map(|p| Member::Kling(Box::new(p)))
                        .map_err(|e| auth(e.to_string()))?,
                    AccountConfig::Fal(f) => FalProvider::new(f)
                        .map(|p| Member::Fal(Box::new(p)))
                        .map_err(|e| auth(e.to_string()))?,
                };
                let account = account.name.clone();
                seats.push(Seat { account, member });
            }
        }
        if seats.is_empty() {
            return Err(auth("no provider configured".into()));
        }
        Ok(ConfiguredProvider { seats })
    }
}

/// `PROVIDER`: the providers in failover order.
pub fn order(src: &impl Source) -> Result<Vec<String>, ConfigError> {
    let raw = src.optional("PROVIDER").unwrap_or_else(|| "kling".into());
    let order: Vec<String> = raw
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(other) = order
        .iter()
        .find(|p| !matches!(p.as_str(), "kling" | "fal"))
    {
        return Err(ConfigError::Invalid {
            name: "PROVIDER",
            reason: format!("'{other}' is not one of kling, fal"),
        });
    }
    Ok(order)
}

/// Reads the callbacks of every provider this code knows, by the provider in the URL.
pub struct ConfiguredCallbacks;

impl CallbackReader for ConfiguredCallbacks {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        match provider {
            crate::provider::kling::adapter::NAME => {
                crate::provider::kling::adapter::parse_callback(body)
            }
            crate::provider::fal::NAME => crate::provider::fal::parse_callback(body),
            other => Err(CallbackError::UnknownProvider(other.to_string())),
        }
    }
}

pub fn callbacks() -> ConfiguredCallbacks {
    ConfiguredCallbacks
}

macro_rules! each {
    ($member:expr, $p:ident => $e:expr) => {
        match $member {
            Member::Kling($p) => $e,
            Member::Fal($p) => $e,
        }
    };
}

impl Member {
    fn name(&self) -> &'static str {
        each!(self, p => p.name())
    }
}

impl ConfiguredProvider {
    /// The adapter for `account` of provider `name` (empty or unknown: the provider's first
    /// account; an unknown provider: the first, as tasks made before failover).
    fn member(&self, name: &str, account: &str) -> &Member {
        let mine = || self.seats.iter().filter(|s| s.member.name() == name);
        let found = mine()
            .find(|s| s.account == account)
            .or_else(|| mine().next());
        &found.unwrap_or(&self.seats[0]).member
    }

    fn of_request(&self, request: &GenerationRequest) -> &Member {
        self.member(&request.provider, &request.account)
    }

    fn of_job(&self, job: &JobLookup<'_>) -> &Member {
        let account = job.request.map_or("", |r| r.account.as_str());
        self.member(job.provider, account)
    }
}

/// Kling's bill by job, and fal's (its successful requests: `docs/providers.md` §Bills).
impl super::Bills for ConfiguredProvider {
    async fn bill(
        &self,
        provider: &str,
        account: &str,
        day: crate::domain::bill::Day,
        deadline: Deadline,
    ) -> Result<Option<Vec<crate::domain::bill::BillRow>>, ProviderError> {
        let seat = self
            .seats
            .iter()
            .find(|s| s.member.name() == provider && s.account == account);
        match seat.map(|s| &s.member) {
            Some(Member::Kling(p)) => p.bill(day, deadline).await.map(Some),
            Some(Member::Fal(p)) => p.bill(day, deadline).await.map(Some),
            None => Ok(None),
        }
    }
}

impl VideoProvider for ConfiguredProvider {
    fn name(&self) -> &'static str {
        self.seats[0].member.name()
    }

    fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.seats.iter().map(|s| s.member.name()).collect();
        names.dedup();
        names
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        each!(&self.seats[0].member, p => p.choose_model(quality, model_override))
    }

    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        each!(self.of_request(request), p => p.check(request))
    }

    fn expected_units(&self, request: &GenerationRequest) -> Option<f64> {
        each!(self.of_request(request), p => p.expected_units(request))
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self.of_request(request), p => p.submit(request, deadline).await)
    }

    async fn lookup(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self.of_job(&job), p => p.lookup(job, deadline).await)
    }

    async fn cancel(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<CancelOutcome, ProviderError> {
        each!(self.of_job(&job), p => p.cancel(job, deadline).await)
    }

    /// Each member asked about its own jobs, in one batch per member.
    async fn lookup_many(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> Vec<Result<ProviderJob, ProviderError>> {
        let mut out: Vec<Result<ProviderJob, ProviderError>> =
            jobs.iter().map(|_| Err(ProviderError::NotFound)).collect();
        for member in self.seats.iter().map(|s| &s.member) {
            let mine: Vec<usize> = (0..jobs.len())
                .filter(|i| std::ptr::eq(self.of_job(&jobs[*i]), member))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let batch: Vec<JobLookup<'_>> = mine.iter().map(|i| jobs[*i]).collect();
            let answers = each!(member, p => p.lookup_many(&batch, deadline).await);
            for (i, answer) in mine.into_iter().zip(answers) {
                out[i] = answer;
            }
        }
        out
    }
}
