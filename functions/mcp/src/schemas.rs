//! The tools' input schemas, from the HTTP API's contract (`api/openapi.yaml`): the create body
//! an agent sends is the one an app sends, checked by the same code.

use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{Map, Value, json};

/// `api/openapi.yaml` as JSON (build.rs).
const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));
/// References nest a few levels deep in the contract; more means a cycle.
const MAX_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("api/openapi.yaml is not readable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("api/openapi.yaml has no schema {0}")]
    Missing(String),
    #[error("api/openapi.yaml's schemas nest too deeply (a cycle?)")]
    TooDeep,
}

/// `schema` with every `$ref` to `#/components/schemas/…` replaced by its target.
fn inline(schema: &Value, all: &Map<String, Value>, depth: usize) -> Result<Value, SchemaError> {
    if depth > MAX_DEPTH {
        return Err(SchemaError::TooDeep);
    }
    Ok(match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.trim_start_matches("#/components/schemas/");
                let target = all
                    .get(name)
                    .ok_or_else(|| SchemaError::Missing(name.into()))?;
                return inline(target, all, depth + 1);
            }
            let mut out = Map::new();
            for (k, v) in map {
                // The discriminator's mapping names components an inlined schema does not have.
                if k != "discriminator" {
                    out.insert(k.clone(), inline(v, all, depth + 1)?);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline(v, all, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn object(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let schema = json!({"type": "object", "properties": properties, "required": required});
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// The four tools, with the contract's schemas.
pub fn tools() -> Result<Vec<Tool>, SchemaError> {
    let spec: Value = serde_json::from_str(OPENAPI)?;
    let all = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let create = inline(
        &json!({"$ref": "#/components/schemas/CreateVideo"}),
        &all,
        0,
    )?;
    let key = json!({"type": "string", "minLength": 1, "maxLength": 255,
        "description": "The request's Idempotency-Key: a new value for each video you mean to make, the same value when you retry a call whose answer you did not get (the retry then answers the task the first call made, charged once)."});
    Ok(vec![
        Tool::new(
            "estimate_video",
            "Price a video request for the caller's plan without creating anything: cost units, breakdown, whether the plan allows it and why not.",
            object(json!({"request": create}), &["request"]),
        ),
        Tool::new(
            "create_video",
            "Create a video task (validated, moderated, priced and charged like POST /v1/videos). Answers the task, or the API's error envelope.",
            object(
                json!({"request": create, "idempotency_key": key}),
                &["request", "idempotency_key"],
            ),
        ),
        Tool::new(
            "get_video",
            "One of the caller's video tasks: status, label, progress, and a short-lived link once it is ready.",
            object(json!({"id": {"type": "string", "minLength": 1}}), &["id"]),
        ),
        Tool::new(
            "list_templates",
            "The video templates the caller's plan may use, with their slots.",
            object(json!({}), &[]),
        ),
    ])
}
