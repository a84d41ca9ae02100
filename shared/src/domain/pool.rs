//! Provider accounts as a pool (docs/providers.md §Accounts). A provider's concurrency is per
//! account (Kling: per account × model × resource pack, docs/providers.md §Concurrency), so a
//! deployment that outgrows one account configures several: each with its own credentials,
//! capacity, weight and, optionally, the models it may run. A task is submitted on one account
//! and stays there.
//!
//! `PROVIDER_ACCOUNTS` (JSON, optional):
//! `[{"provider": "kling", "name": "second", "capacity": 3, "weight": 1, "models": ["kling-v2-6"],
//! "secret_id": "…"}]`. Without it each provider has one account, `main`, with
//! `PROVIDER_MAX_CONCURRENCY` slots and the provider's own credentials; an entry named `main`
//! sets that account's figures; any other name adds an account with credentials of its own.

use serde::Deserialize;

/// The account every provider has unless configured otherwise (its credentials are the
/// provider's own settings, its slots the single-account ones of earlier versions).
pub const MAIN: &str = "main";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub provider: String,
    pub name: String,
    pub capacity: u32,
    #[serde(default = "one")]
    pub weight: u32,
    /// Models this account may run; empty: any.
    #[serde(default)]
    pub models: Vec<String>,
    /// The secret with this account's credentials (the provider's secret shape).
    #[serde(default)]
    pub secret_id: Option<String>,
}

fn one() -> u32 {
    1
}

impl Account {
    /// The capacity item's key: `main` keeps the provider's own (slots held before pools
    /// existed stay counted), others get their own.
    pub fn slot_key(&self) -> String {
        slot_key(&self.provider, &self.name)
    }

    pub fn runs(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

pub fn slot_key(provider: &str, account: &str) -> String {
    match account {
        "" | MAIN => provider.to_string(),
        other => format!("{provider}#{other}"),
    }
}

/// The accounts of the configured providers, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    accounts: Vec<Account>,
}

impl Pool {
    /// The pool from `PROVIDER_ACCOUNTS` (or none) for `providers`, each with `main` first.
    pub fn parse(raw: Option<&str>, providers: &[String], capacity: u32) -> Result<Self, String> {
        let listed: Vec<Account> = match raw.map(str::trim).filter(|r| !r.is_empty()) {
            Some(raw) => serde_json::from_str(raw).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        let mut accounts = Vec::new();
        for provider in providers {
            let main = listed
                .iter()
                .find(|a| &a.provider == provider && a.name == MAIN);
            accounts.push(main.cloned().unwrap_or_else(|| Account {
                provider: provider.clone(),
                name: MAIN.into(),
                capacity,
                weight: 1,
                models: Vec::new(),
                secret_id: None,
            }));
        }
        for account in listed.into_iter().filter(|a| a.name != MAIN) {
            check(&account, providers, &accounts)?;
            accounts.push(account);
        }
        Ok(Self { accounts })
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn of<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a Account> + 'a {
        self.accounts.iter().filter(move |a| a.provider == provider)
    }

    /// Every slot the provider's accounts have together.
    pub fn capacity_of(&self, provider: &str) -> u32 {
        self.of(provider).map(|a| a.capacity).sum()
    }

    /// The account a task names (empty or unknown: the provider's `main`).
    pub fn get<'a>(&'a self, provider: &'a str, name: &str) -> Option<&'a Account> {
        self.of(provider)
            .find(|a| a.name == name)
            .or_else(|| self.of(provider).find(|a| a.name == MAIN))
    }
}

fn check(account: &Account, providers: &[String], known: &[Account]) -> Result<(), String> {
    let name_ok = !account.name.is_empty()
        && account.name.len() <= 32
        && account
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "account name {:?}: 1-32 of a-z, 0-9, - and _",
            account.name
        ));
    }
    if !providers.contains(&account.provider) {
        return Err(format!(
            "account {} is for {}, which PROVIDER does not list",
            account.name, account.provider
        ));
    }
    if known
        .iter()
        .any(|a| a.provider == account.provider && a.name == account.name)
    {
        return Err(format!("account {} is listed twice", account.name));
    }
    if account.weight == 0 {
        return Err(format!(
            "account {}: weight must be at least 1",
            account.name
        ));
    }
    Ok(())
}

/// Where a task of `model` may take a slot now, best first: accounts that run the model, are
/// in rotation and have a free slot, least loaded for their weight first (held ÷ weight;
/// configuration order breaks ties), so over time each gets work in proportion to its weight.
pub fn candidates<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    model: &str,
    held: impl Fn(&Account) -> u32,
    in_rotation: impl Fn(&Account) -> bool,
) -> Vec<&'a Account> {
    let mut able: Vec<(usize, &Account, u32)> = accounts
        .into_iter()
        .enumerate()
        .filter(|(_, a)| a.runs(model) && in_rotation(a))
        .map(|(i, a)| (i, a, held(a)))
        .filter(|(_, a, held)| *held < a.capacity)
        .collect();
    // held_a / weight_a < held_b / weight_b, without division.
    able.sort_by(|(i, a, ha), (j, b, hb)| {
        (u64::from(*ha) * u64::from(b.weight))
            .cmp(&(u64::from(*hb) * u64::from(a.weight)))
            .then(i.cmp(j))
    });
    able.into_iter().map(|(_, a, _)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(name: &str, capacity: u32, weight: u32, models: &[&str]) -> Account {
        Account {
            provider: "kling".into(),
            name: name.into(),
            capacity,
            weight,
            models: models.iter().map(|m| m.to_string()).collect(),
            secret_id: None,
        }
    }

    #[test]
    fn parse_table() {
        let providers = vec!["kling".to_string(), "fal".to_string()];
        type Want = Result<Vec<(&'static str, &'static str, u32)>, &'static str>;
        let cases: [(Option<&str>, Want); 7] = [
            (None, Ok(vec![("kling", "main", 5), ("fal", "main", 5)])),
            (
                Some("  "),
                Ok(vec![("kling", "main", 5), ("fal", "main", 5)]),
            ),
            (
                Some(
                    r#"[{"provider":"kling","name":"main","capacity":3},{"provider":"kling","name":"b","capacity":2,"secret_id":"s"}]"#,
                ),
                Ok(vec![
                    ("kling", "main", 3),
                    ("fal", "main", 5),
                    ("kling", "b", 2),
                ]),
            ),
            (Some("{"), Err("expected a sequence")),
            (
                Some(r#"[{"provider":"replicate","name":"x","capacity":1}]"#),
                Err("PROVIDER does not list"),
            ),
            (
                Some(r#"[{"provider":"kling","name":"a b","capacity":1}]"#),
                Err("account name"),
            ),
            (
                Some(
                    r#"[{"provider":"kling","name":"b","capacity":1},{"provider":"kling","name":"b","capacity":1}]"#,
                ),
                Err("listed twice"),
            ),
        ];
        for (raw, want) in cases {
            let got = Pool::parse(raw, &providers, 5);
            match (got, want) {
                (Ok(pool), Ok(want)) => {
                    let got: Vec<(&str, &str, u32)> = pool
                        .accounts()
                        .iter()
                        .map(|a| (a.provider.as_str(), a.name.as_str(), a.capacity))
                        .collect();
                    assert_eq!(got, want, "{raw:?}");
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{raw:?}: {e}"),
                (got, want) => panic!("{raw:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn a_providers_capacity_is_its_accounts_together() {
        let raw = r#"[{"provider":"kling","name":"b","capacity":3}]"#;
        let pool = Pool::parse(Some(raw), &["kling".to_string(), "fal".to_string()], 5).unwrap();
        assert_eq!((pool.capacity_of("kling"), pool.capacity_of("fal")), (8, 5));
    }

    #[test]
    fn slot_keys_keep_main_on_the_providers_own_item() {
        assert_eq!(slot_key("kling", "main"), "kling");
        assert_eq!(slot_key("kling", ""), "kling");
        assert_eq!(slot_key("kling", "b"), "kling#b");
    }

    #[test]
    fn candidates_table() {
        let a = acct("a", 3, 2, &[]);
        let b = acct("b", 3, 1, &[]);
        let v26 = acct("v26", 2, 1, &["kling-v2-6"]);
        let all = [a.clone(), b.clone(), v26.clone()];
        let names = |held: [u32; 3], out: &[&str], model: &str| -> Vec<String> {
            candidates(
                &all,
                model,
                |x| held[all.iter().position(|y| y == x).unwrap_or(0)],
                |x| !out.contains(&x.name.as_str()),
            )
            .into_iter()
            .map(|x| x.name.clone())
            .collect()
        };
        // Empty: configuration order; the model restriction applies.
        assert_eq!(names([0, 0, 0], &[], "kling-v3"), ["a", "b"]);
        assert_eq!(names([0, 0, 0], &[], "kling-v2-6"), ["a", "b", "v26"]);
        // a weighs twice b: one held on a still leaves it ahead of b with one.
        assert_eq!(names([1, 0, 0], &[], "kling-v3"), ["b", "a"]);
        assert_eq!(names([2, 1, 0], &[], "kling-v3"), ["a", "b"]);
        assert_eq!(names([3, 1, 0], &[], "kling-v3"), ["b"]);
        // Out of rotation, or full everywhere: nothing.
        assert_eq!(names([0, 0, 0], &["a"], "kling-v3"), ["b"]);
        assert!(names([3, 3, 2], &[], "kling-v2-6").is_empty());
    }

    #[test]
    fn weights_share_the_work() {
        let all = [acct("a", 100, 2, &[]), acct("b", 100, 1, &[])];
        let mut held = [0u32; 2];
        for _ in 0..30 {
            let first = candidates(&all, "m", |x| held[(x.name == "b") as usize], |_| true)[0];
            held[(first.name == "b") as usize] += 1;
        }
        assert_eq!(held, [20, 10]);
    }
}
