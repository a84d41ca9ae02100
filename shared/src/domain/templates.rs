//! Prompts from structure: the frame the brief describes (subject, action, scene, camera,
//! lighting, mood, style), filled from an operator's template or given as `prompt_parts`, and
//! composed into one prompt the same way every time.
//!
//! Templates are versioned like code: a published version never changes; editing publishes
//! the next version. Defaults ship in `infra/templates.json`; runtime edits are table items.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::error::ApiError;
use crate::domain::task::{Quality, VideoType};

pub const DEFAULT_TEMPLATES_JSON: &str = include_str!("../../../infra/templates.json");
/// Longest text of one prompt part, and of one filled slot by default.
pub const MAX_PART_LEN: usize = 500;

/// The structured frame of a prompt; in a template, parts hold `{slot}` placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptParts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lighting: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

impl PromptParts {
    fn each(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("subject", self.subject.as_deref()),
            ("action", self.action.as_deref()),
            ("scene", self.scene.as_deref()),
            ("camera", self.camera.as_deref()),
            ("lighting", self.lighting.as_deref()),
            ("mood", self.mood.as_deref()),
            ("style", self.style.as_deref()),
        ]
    }

    fn map(&self, mut f: impl FnMut(&str) -> String) -> Self {
        let mut g = |v: &Option<String>| v.as_deref().map(&mut f);
        Self {
            subject: g(&self.subject),
            action: g(&self.action),
            scene: g(&self.scene),
            camera: g(&self.camera),
            lighting: g(&self.lighting),
            mood: g(&self.mood),
            style: g(&self.style),
        }
    }
}

fn clean(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    words
        .join(" ")
        .trim_end_matches(['.', ',', ';'])
        .to_string()
}

fn part(v: &Option<String>) -> Option<String> {
    v.as_deref().map(clean).filter(|v| !v.is_empty())
}

/// One prompt from the frame: "{subject} {action}. {scene}. Camera: …. Lighting: …. Mood: ….
/// Style: …." — empty parts left out. `None` when every part is empty.
pub fn compose(parts: &PromptParts) -> Option<String> {
    let lead: Vec<String> = [part(&parts.subject), part(&parts.action)]
        .into_iter()
        .flatten()
        .collect();
    let mut sentences: Vec<String> = Vec::new();
    if !lead.is_empty() {
        sentences.push(lead.join(" "));
    }
    sentences.extend(part(&parts.scene));
    for (label, v) in [
        ("Camera", &parts.camera),
        ("Lighting", &parts.lighting),
        ("Mood", &parts.mood),
        ("Style", &parts.style),
    ] {
        sentences.extend(part(v).map(|v| format!("{label}: {v}")));
    }
    (!sentences.is_empty()).then(|| format!("{}.", sentences.join(". ")))
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(422, code, message).with_field(field)
}

/// `prompt_parts` as an app sends it: known parts only, each text of at most 500 characters,
/// a subject or an action at least.
pub fn parse_parts(raw: &Value) -> Result<PromptParts, ApiError> {
    let bad = |m: String| invalid("invalid_prompt_parts", "prompt_parts", m);
    let parts: PromptParts =
        serde_json::from_value(raw.clone()).map_err(|e| bad(format!("prompt_parts: {e}")))?;
    for (name, value) in parts.each() {
        if value.is_some_and(|v| v.chars().count() > MAX_PART_LEN) {
            return Err(bad(format!(
                "prompt_parts.{name} must be at most {MAX_PART_LEN} characters"
            )));
        }
    }
    if part(&parts.subject).is_none() && part(&parts.action).is_none() {
        return Err(bad("prompt_parts needs a subject or an action".into()));
    }
    Ok(parts)
}

fn yes() -> bool {
    true
}

fn default_max() -> usize {
    200
}

/// A named blank of a template, filled by the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default = "default_max")]
    pub max_length: usize,
    /// When given, the only values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// One published version of an operator's template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoTemplate {
    pub id: String,
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub slots: Vec<Slot>,
    /// The prompt's frame (empty for a kind without a prompt, e.g. an effect).
    #[serde(default)]
    pub frame: PromptParts,
    /// The kind it makes, when it targets one (an effect template: its scene; the app brings
    /// the photo). Absent: the app's `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VideoType>,
    /// The effect scene, for an effect template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    pub qualities: Vec<Quality>,
    pub durations: Vec<u32>,
    /// Plans that may use it; absent: every plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plans: Option<Vec<String>>,
    /// The same request within this many seconds reuses the stored video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_seconds: Option<u64>,
}

impl VideoTemplate {
    pub fn allows_plan(&self, plan: &str) -> bool {
        self.plans
            .as_ref()
            .is_none_or(|p| p.iter().any(|name| name == plan))
    }
}

/// `template` as an app sends it: `{id, version?, fields}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub id: String,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

pub fn parse_request(raw: &Value) -> Result<TemplateRequest, ApiError> {
    serde_json::from_value(raw.clone())
        .map_err(|e| invalid("invalid_template", "template", format!("template: {e}")))
}

fn field_error(slot: &str, message: String) -> ApiError {
    invalid(
        "invalid_template_fields",
        &format!("template.fields.{slot}"),
        message,
    )
}

/// Each slot's value, checked against the template: no unknown fields, required ones given,
/// texts within their length, options respected.
pub fn check_fields(
    t: &VideoTemplate,
    fields: &Map<String, Value>,
) -> Result<Vec<(String, String)>, ApiError> {
    if let Some(unknown) = fields
        .keys()
        .find(|k| !t.slots.iter().any(|s| &s.name == *k))
    {
        return Err(field_error(
            unknown,
            format!("{unknown} is not a field of {}", t.id),
        ));
    }
    let mut values = Vec::new();
    for slot in &t.slots {
        let value = match fields.get(&slot.name) {
            None | Some(Value::Null) if !slot.required => String::new(),
            None | Some(Value::Null) => {
                return Err(field_error(
                    &slot.name,
                    format!("{} is required", slot.name),
                ));
            }
            Some(Value::String(v)) => v.split_whitespace().collect::<Vec<_>>().join(" "),
            Some(_) => {
                return Err(field_error(
                    &slot.name,
                    format!("{} must be text", slot.name),
                ));
            }
        };
        if slot.required && value.is_empty() {
            return Err(field_error(
                &slot.name,
                format!("{} is required", slot.name),
            ));
        }
        if value.chars().count() > slot.max_length.min(MAX_PART_LEN) {
            let max = slot.max_length.min(MAX_PART_LEN);
            return Err(field_error(
                &slot.name,
                format!("{} must be at most {max} characters", slot.name),
            ));
        }
        if !slot.options.is_empty() && !value.is_empty() && !slot.options.contains(&value) {
            let options = slot.options.join(", ");
            return Err(field_error(
                &slot.name,
                format!("{} must be one of: {options}", slot.name),
            ));
        }
        values.push((slot.name.clone(), value));
    }
    Ok(values)
}

/// The template's frame with every `{slot}` replaced by its value (once: values are never
/// read for placeholders themselves).
pub fn fill(t: &VideoTemplate, values: &[(String, String)]) -> PromptParts {
    t.frame.map(|part| {
        let mut out = String::new();
        let mut rest = part;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}').map(|close| (&after[..close], close)) {
                Some((name, close)) if values.iter().any(|(n, _)| n == name) => {
                    let value = values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                    out.push_str(value.map_or("", String::as_str));
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    })
}

/// Whether a template version lets the request's settings through.
pub fn check_settings(t: &VideoTemplate, quality: Quality, duration: u32) -> Result<(), ApiError> {
    if !t.qualities.contains(&quality) {
        return Err(invalid(
            "template_setting_not_allowed",
            "quality",
            format!(
                "template {} v{} does not offer this quality",
                t.id, t.version
            ),
        ));
    }
    if !t.durations.contains(&duration) {
        let allowed: Vec<String> = t.durations.iter().map(u32::to_string).collect();
        return Err(invalid(
            "template_setting_not_allowed",
            "duration",
            format!(
                "template {} v{} offers durations {} s",
                t.id,
                t.version,
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    templates: Vec<VideoTemplate>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateFileError {
    #[error("templates file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("template {0} v{1} is listed twice")]
    Duplicate(String, u32),
    #[error("template {0} v{1} names a slot its frame does not use, or the reverse: {2}")]
    Slots(String, u32, String),
    #[error("template {0} v{1}: {2}")]
    Kind(String, u32, String),
}

/// Every placeholder a frame uses.
fn placeholders(frame: &PromptParts) -> Vec<String> {
    let mut names = Vec::new();
    for (_, part) in frame.each() {
        let mut rest = part.unwrap_or_default();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            names.push(after[..close].to_string());
            rest = &after[close + 1..];
        }
    }
    names
}

/// A template's slots and its frame's placeholders are the same names.
pub fn check_template(t: &VideoTemplate) -> Result<(), TemplateFileError> {
    if let Some(why) = kind_problem(t) {
        return Err(TemplateFileError::Kind(t.id.clone(), t.version, why));
    }
    let used = placeholders(&t.frame);
    let unused = t
        .slots
        .iter()
        .find(|s| !used.contains(&s.name))
        .map(|s| s.name.clone());
    let undeclared = used
        .iter()
        .find(|u| !t.slots.iter().any(|s| &s.name == *u))
        .cloned();
    match unused.or(undeclared) {
        Some(name) => Err(TemplateFileError::Slots(t.id.clone(), t.version, name)),
        None => Ok(()),
    }
}

/// An effect template names a current scene and has no prompt; the prompt kinds have a frame
/// and no scene; the kinds made from an input the app brings per request are not templated.
fn kind_problem(t: &VideoTemplate) -> Option<String> {
    let prompt = compose(&t.frame).is_some();
    match (t.kind, &t.scene) {
        (Some(VideoType::Effect), Some(scene)) => {
            let known = crate::domain::catalogue::effect_photos(scene).is_some();
            let bare = !prompt && t.slots.is_empty();
            (!known || !bare).then(|| {
                format!("an effect template names a current scene ({scene}) and no prompt")
            })
        }
        (Some(VideoType::Effect), None) => Some("an effect template needs its scene".into()),
        (Some(k), _) if !k.is_model_kind() => Some(format!("{} is not templated", k.as_str())),
        (_, Some(_)) => Some("only an effect template names a scene".into()),
        (_, None) => (!prompt).then(|| "a prompt template needs a frame".into()),
    }
}

/// The operator's default templates (`infra/templates.json`, or `TEMPLATES_JSON`).
pub fn parse_file(text: &str) -> Result<Vec<VideoTemplate>, TemplateFileError> {
    let file: TemplateFile = serde_json::from_str(text)?;
    let mut seen = std::collections::HashSet::new();
    for t in &file.templates {
        if !seen.insert((t.id.clone(), t.version)) {
            return Err(TemplateFileError::Duplicate(t.id.clone(), t.version));
        }
        check_template(t)?;
    }
    Ok(file.templates)
}

/// `TEMPLATES_JSON`, else the shipped `infra/templates.json`.
pub fn from_source(
    src: &impl crate::runtime::config::Source,
) -> Result<Vec<VideoTemplate>, crate::runtime::config::ConfigError> {
    let text = src
        .optional("TEMPLATES_JSON")
        .unwrap_or_else(|| DEFAULT_TEMPLATES_JSON.to_string());
    parse_file(&text).map_err(|e| crate::runtime::config::ConfigError::Invalid {
        name: "TEMPLATES_JSON",
        reason: e.to_string(),
    })
}

/// The version a request names, or the newest, among every published version of `id`.
pub fn pick(versions: &[VideoTemplate], version: Option<u32>) -> Option<&VideoTemplate> {
    match version {
        Some(v) => versions.iter().find(|t| t.version == v),
        None => versions.iter().max_by_key(|t| t.version),
    }
}

#[cfg(test)]
mod tests;
