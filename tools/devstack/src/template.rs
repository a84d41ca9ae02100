//! Reads `infra/template.yaml`: the local stack creates exactly what the template declares and
//! gives each function exactly the environment the template gives it.

use std::path::Path;

use serde_yaml::Value;
use serde_yaml::value::TaggedValue;

use crate::DevError;

/// API Gateway's catch-all route key.
pub const DEFAULT_ROUTE: &str = "$default";

pub struct Template {
    root: Value,
}

/// A function as the template declares it.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    /// The binary (and package) name, from `CodeUri: ../target/lambda/<name>/`.
    pub name: String,
    pub env: Vec<(String, Value)>,
    pub events: Vec<EventDef>,
    /// `ReservedConcurrentExecutions`: at most this many run at once.
    pub reserved: Option<usize>,
    /// `FunctionUrlConfig`: the function has a URL of its own; `true` when it streams
    /// (`InvokeMode: RESPONSE_STREAM`).
    pub url: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventDef {
    Http {
        method: String,
        path: String,
    },
    Sqs {
        queue: String,
        batch_size: u32,
    },
    Schedule {
        expression: String,
        /// The schedule's fixed payload (`Input`), when it sends one instead of the event.
        input: Option<String>,
    },
    /// A DynamoDB stream (`Stream: !GetAtt Table.StreamArn`).
    Stream {
        table: String,
        batch_size: u32,
    },
}

/// A reference in the template: `!Ref X`, `!GetAtt X.Attr`, or something else.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Ref(String),
    GetAtt(String, String),
    Other,
}

pub fn reference(v: &Value) -> Reference {
    match v {
        Value::Tagged(tagged) => tagged_reference(tagged),
        Value::Mapping(m) if m.len() == 1 => {
            if let Some(Value::String(name)) = m.get("Ref") {
                return Reference::Ref(name.clone());
            }
            Reference::Other
        }
        _ => Reference::Other,
    }
}

fn tagged_reference(tagged: &TaggedValue) -> Reference {
    let tag = tagged.tag.to_string();
    match (tag.trim_start_matches('!'), &tagged.value) {
        ("Ref", Value::String(name)) => Reference::Ref(name.clone()),
        ("GetAtt", Value::String(path)) => match path.split_once('.') {
            Some((res, attr)) => Reference::GetAtt(res.to_string(), attr.to_string()),
            None => Reference::Other,
        },
        _ => Reference::Other,
    }
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, DevError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DevError::Template(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, DevError> {
        let root: Value =
            serde_yaml::from_str(text).map_err(|e| DevError::Template(e.to_string()))?;
        Ok(Self { root })
    }

    pub fn resources(&self) -> Vec<(String, String, &Value)> {
        let Some(Value::Mapping(res)) = self.root.get("Resources") else {
            return Vec::new();
        };
        res.iter()
            .filter_map(|(k, v)| {
                let id = k.as_str()?.to_string();
                let ty = v.get("Type")?.as_str()?.to_string();
                Some((id, ty, v.get("Properties").unwrap_or(&Value::Null)))
            })
            .collect()
    }

    /// Each parameter's `Default`, as text.
    pub fn parameter_defaults(&self) -> Vec<(String, String)> {
        let Some(Value::Mapping(params)) = self.root.get("Parameters") else {
            return Vec::new();
        };
        params
            .iter()
            .filter_map(|(k, v)| {
                let default = match v.get("Default")? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((k.as_str()?.to_string(), default))
            })
            .collect()
    }

    /// The template's named conditions, unevaluated.
    pub fn conditions(&self) -> std::collections::HashMap<String, Value> {
        let Some(Value::Mapping(conds)) = self.root.get("Conditions") else {
            return Default::default();
        };
        conds
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
            .collect()
    }

    pub fn resources_of_type(&self, ty: &str) -> Vec<(String, &Value)> {
        self.resources()
            .into_iter()
            .filter(|(_, t, _)| t == ty)
            .map(|(id, _, props)| (id, props))
            .collect()
    }

    fn global_env(&self) -> Vec<(String, Value)> {
        env_vars(
            self.root
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Environment")),
        )
    }

    pub fn functions(&self) -> Result<Vec<FunctionDef>, DevError> {
        let globals = self.global_env();
        let mut out = Vec::new();
        for (logical_id, props) in self.resources_of_type("AWS::Serverless::Function") {
            let code_uri = str_of(props.get("CodeUri"))
                .ok_or_else(|| DevError::Template(format!("{logical_id} has no CodeUri")))?;
            // `../target/lambda/<name>/` or `../target/lambda/<name>/bootstrap.zip`.
            let name = code_uri
                .trim_end_matches('/')
                .trim_end_matches("/bootstrap.zip")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let mut env = globals.clone();
            for (k, v) in env_vars(props.get("Environment")) {
                env.retain(|(name, _)| *name != k);
                env.push((k, v));
            }
            let mut events = Vec::new();
            if let Some(Value::Mapping(evs)) = props.get("Events") {
                for (_, ev) in evs {
                    let p = ev.get("Properties");
                    let field = |name: &str| str_of(p.and_then(|p| p.get(name)));
                    match ev.get("Type").and_then(Value::as_str) {
                        Some("HttpApi") => events.push(EventDef::Http {
                            method: field("Method").unwrap_or_default().to_uppercase(),
                            path: field("Path").unwrap_or_default(),
                        }),
                        Some("SQS") => {
                            let queue = match p.and_then(|p| p.get("Queue")).map(reference) {
                                Some(Reference::GetAtt(res, _)) | Some(Reference::Ref(res)) => res,
                                _ => {
                                    return Err(DevError::Template(format!(
                                        "{logical_id}: SQS event without a queue reference"
                                    )));
                                }
                            };
                            let batch_size = field("BatchSize")
                                .and_then(|b| b.parse().ok())
                                .unwrap_or(10);
                            events.push(EventDef::Sqs { queue, batch_size });
                        }
                        Some("DynamoDB") => {
                            let table = match p.and_then(|p| p.get("Stream")).map(reference) {
                                Some(Reference::GetAtt(res, _)) => res,
                                _ => {
                                    return Err(DevError::Template(format!(
                                        "{logical_id}: DynamoDB event without a stream reference"
                                    )));
                                }
                            };
                            let batch_size = field("BatchSize")
                                .and_then(|b| b.parse().ok())
                                .unwrap_or(100);
                            events.push(EventDef::Stream { table, batch_size });
                        }
                        Some("Schedule") => events.push(EventDef::Schedule {
                            expression: field("Schedule").unwrap_or_default(),
                            input: field("Input"),
                        }),
                        _ => {}
                    }
                }
            }
            let reserved = props
                .get("ReservedConcurrentExecutions")
                .and_then(Value::as_u64)
                .map(|r| r as usize);
            let url = props
                .get("FunctionUrlConfig")
                .map(|c| c.get("InvokeMode").and_then(Value::as_str) == Some("RESPONSE_STREAM"));
            out.push(FunctionDef {
                logical_id,
                name,
                env,
                events,
                reserved,
                url,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A function's `Timeout` (its own, else the Globals one), in seconds.
    pub fn function_timeout(&self, name: &str) -> Option<u64> {
        let own = self
            .function_props(name)?
            .get("Timeout")
            .and_then(Value::as_u64);
        own.or_else(|| {
            self.root
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Timeout"))
                .and_then(Value::as_u64)
        })
    }

    /// Whether the function's SQS event reports partial batch failures.
    pub fn reports_batch_item_failures(&self, name: &str) -> bool {
        let Some(Value::Mapping(events)) = self.function_props(name).and_then(|p| p.get("Events"))
        else {
            return false;
        };
        events.values().any(|e| {
            e.get("Type").and_then(Value::as_str) == Some("SQS")
                && e.get("Properties")
                    .and_then(|p| p.get("FunctionResponseTypes"))
                    .and_then(Value::as_sequence)
                    .is_some_and(|t| {
                        t.iter()
                            .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                    })
        })
    }

    fn function_props(&self, name: &str) -> Option<&Value> {
        let suffix = format!("/{name}/");
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .find(|(_, p)| {
                str_of(p.get("CodeUri"))
                    .is_some_and(|c| c.contains(&suffix) || c.ends_with(&format!("/{name}")))
            })
            .map(|(_, p)| p)
    }

    /// Every HTTP route but the catch-all: (method, path, function name).
    pub fn http_routes(&self) -> Result<Vec<(String, String, String)>, DevError> {
        let mut routes = Vec::new();
        for f in self.functions()? {
            for e in &f.events {
                if let EventDef::Http { method, path } = e
                    && path != DEFAULT_ROUTE
                {
                    routes.push((method.clone(), path.clone(), f.name.clone()));
                }
            }
        }
        routes.sort();
        Ok(routes)
    }

    /// The function behind the API's `$default` route, which answers what no route matches.
    pub fn default_route(&self) -> Result<Option<String>, DevError> {
        let functions = self.functions()?;
        let owner = functions.iter().find(|f| {
            f.events
                .iter()
                .any(|e| matches!(e, EventDef::Http { path, .. } if path == DEFAULT_ROUTE))
        });
        Ok(owner.map(|f| f.name.clone()))
    }
}

fn env_vars(environment: Option<&Value>) -> Vec<(String, Value)> {
    match environment.and_then(|e| e.get("Variables")) {
        Some(Value::Mapping(vars)) => vars
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
            .collect(),
        _ => Vec::new(),
    }
}
