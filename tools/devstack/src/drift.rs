//! No drift between the code and `infra/template.yaml`: every function, route, required
//! environment variable, table key and index, queue and schedule the code relies on must be
//! declared there, and the `cargo lambda watch` router must mirror the template's routes.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::routes::Route;
use crate::template::{EventDef, Template};

pub struct Expectations {
    /// Function crates under `functions/`.
    pub functions: BTreeSet<String>,
    /// Per function, the variables its settings cannot load without.
    pub required_env: BTreeMap<String, BTreeSet<String>>,
    /// `[workspace.metadata.lambda.watch.router]`.
    pub cargo_routes: Vec<Route>,
}

/// The variables a settings loader cannot do without: load with nothing, add whatever it
/// reports missing (with a harmless value), repeat.
pub fn required_env<F>(load: F) -> BTreeSet<String>
where
    F: Fn(
        &std::collections::HashMap<String, String>,
    ) -> Result<(), shared::runtime::config::ConfigError>,
{
    let mut env = std::collections::HashMap::new();
    let mut required = BTreeSet::new();
    for _ in 0..64 {
        match load(&env) {
            Err(shared::runtime::config::ConfigError::Missing(name)) => {
                required.insert(name.to_string());
                env.insert(name.to_string(), "placeholder-value-0123456789".to_string());
            }
            _ => break,
        }
    }
    required
}

fn strs(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        _ => Vec::new(),
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn key_pair(schema: Option<&Value>) -> Option<(String, String)> {
    let keys = strs(schema);
    let find = |kind: &str| {
        keys.iter()
            .find(|k| get_str(k, "KeyType") == Some(kind))
            .and_then(|k| get_str(k, "AttributeName"))
            .map(str::to_string)
    };
    Some((find("HASH")?, find("RANGE")?))
}

pub fn check(template: &Template, exp: &Expectations) -> Vec<String> {
    let mut problems = Vec::new();
    let defs = match template.functions() {
        Ok(d) => d,
        Err(e) => return vec![e.to_string()],
    };
    let declared: BTreeSet<String> = defs.iter().map(|d| d.name.clone()).collect();
    for f in exp.functions.difference(&declared) {
        problems.push(format!("function {f} is not in the template"));
    }
    for f in declared.difference(&exp.functions) {
        problems.push(format!("the template declares {f}, which has no crate"));
    }

    match template.http_routes() {
        Ok(routes) => {
            let cargo: BTreeSet<&Route> = exp.cargo_routes.iter().collect();
            let tpl: BTreeSet<&Route> = routes.iter().collect();
            for r in cargo.difference(&tpl) {
                problems.push(format!(
                    "route {} {} -> {} is in Cargo.toml but not the template",
                    r.0, r.1, r.2
                ));
            }
            for r in tpl.difference(&cargo) {
                problems.push(format!(
                    "route {} {} -> {} is in the template but not Cargo.toml",
                    r.0, r.1, r.2
                ));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    match template.default_route() {
        Ok(Some(_)) => {}
        Ok(None) => problems.push(
            "the API has no $default route: unknown routes would get the gateway's bare 404".into(),
        ),
        Err(e) => problems.push(e.to_string()),
    }

    for def in &defs {
        let mut provided: BTreeSet<String> = def.env.iter().map(|(k, _)| k.clone()).collect();
        for (id, names) in shared::aws::FROM_SECRETS {
            if provided.contains(id) {
                provided.extend(names.iter().map(|n| n.to_string()));
            }
        }
        for name in exp.required_env.get(&def.name).into_iter().flatten() {
            if !provided.contains(name) {
                problems.push(format!(
                    "{}: the code needs {name}, which the template does not set",
                    def.name
                ));
            }
        }
    }

    let tables = template.resources_of_type("AWS::DynamoDB::Table");
    match tables.first() {
        None => problems.push("no DynamoDB table".into()),
        Some((id, props)) => {
            let (pk, sk) = shared::aws::PRIMARY_KEY;
            if key_pair(props.get("KeySchema")) != Some((pk.into(), sk.into())) {
                problems.push(format!("{id}: the key schema is not {pk}/{sk}"));
            }
            let indexes = strs(props.get("GlobalSecondaryIndexes"));
            for (name, hash, range) in shared::aws::INDEXES {
                let found = indexes
                    .iter()
                    .find(|i| get_str(i, "IndexName") == Some(name))
                    .and_then(|i| key_pair(i.get("KeySchema")));
                if found != Some((hash.into(), range.into())) {
                    problems.push(format!("{id}: index {name} ({hash}/{range}) is missing"));
                }
            }
            let ttl = props
                .get("TimeToLiveSpecification")
                .and_then(|t| get_str(t, "AttributeName"));
            if ttl != Some(shared::aws::TTL_ATTRIBUTE) {
                problems.push(format!(
                    "{id}: TTL on {} is missing",
                    shared::aws::TTL_ATTRIBUTE
                ));
            }
        }
    }

    let finalize = defs.iter().find(|d| d.name == "finalize");
    let queue = finalize.and_then(|d| {
        d.events.iter().find_map(|e| match e {
            EventDef::Sqs { queue, .. } => Some(queue.clone()),
            _ => None,
        })
    });
    match queue {
        None => problems.push("finalize has no SQS event source".into()),
        Some(queue) => {
            let queues = template.resources_of_type("AWS::SQS::Queue");
            match queues.iter().find(|(id, _)| *id == queue) {
                None => problems.push(format!("queue {queue} is not declared")),
                Some((_, props)) if props.get("RedrivePolicy").is_none() => {
                    problems.push(format!("queue {queue} has no dead-letter queue"));
                }
                Some((_, props)) => {
                    let visibility = props
                        .get("VisibilityTimeout")
                        .and_then(Value::as_u64)
                        .unwrap_or(30);
                    let timeout = template.function_timeout("finalize").unwrap_or(3);
                    if visibility < 6 * timeout {
                        problems.push(format!("queue {queue}: visibility {visibility}s is under 6 × finalize's {timeout}s"));
                    }
                }
            }
        }
    }
    if !template.reports_batch_item_failures("finalize") {
        problems.push("finalize's SQS event does not report batch item failures".into());
    }
    // The sweep's schedule sends the scheduled event; the bill job's sends its own payload.
    let schedule = |bills: bool| {
        defs.iter().any(|d| {
            d.name == "reconcile"
                && d.events.iter().any(|e| match e {
                    EventDef::Schedule { input, .. } => {
                        input.as_deref().is_some_and(|i| i.contains("\"bills\"")) == bills
                    }
                    _ => false,
                })
        })
    };
    if !schedule(false) {
        problems.push("reconcile has no schedule".into());
    }
    if !schedule(true) {
        problems.push("reconcile has no bill schedule ({\"job\": \"bills\"})".into());
    }
    problems
}
