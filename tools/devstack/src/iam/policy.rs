//! Each function's IAM statements as the template writes them, with references resolved to the
//! local resources' ARNs, and the rule that decides whether they allow one call.
//!
//! Only what the template uses is understood (inline statements; `dynamodb:LeadingKeys` under
//! `ForAllValues:StringLike`); anything else is an error when the template is loaded, so a
//! policy the check cannot read never passes as allowed.

use std::collections::HashMap;

use serde_yaml::Value;

use super::intrinsics::Resolver;
use super::request::Call;
use crate::DevError;
use crate::template::Template;

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// `ForAllValues:StringLike: dynamodb:LeadingKeys`: every partition key the call touches
    /// matches one of these.
    pub leading_keys: Option<Vec<String>>,
}

/// Statements per function (its binary name).
#[derive(Debug, Default, Clone)]
pub struct Policies {
    pub by_function: HashMap<String, Vec<Statement>>,
}

impl Policies {
    pub fn load(template: &Template, resolver: &Resolver) -> Result<Self, DevError> {
        let functions = template.functions()?;
        let mut by_function = HashMap::new();
        for (logical_id, props) in template.resources_of_type("AWS::Serverless::Function") {
            let name = functions
                .iter()
                .find(|f| f.logical_id == logical_id)
                .map(|f| f.name.clone())
                .unwrap_or_default();
            let mut statements = Vec::new();
            for policy in seq(props.get("Policies")) {
                let Some(list) = policy.get("Statement") else {
                    return Err(DevError::Template(format!(
                        "{logical_id}: only inline `Statement` policies are checked locally"
                    )));
                };
                for st in seq(Some(list)) {
                    if let Some(st) = resolver.choose(st)? {
                        statements.push(statement(&logical_id, st, resolver)?);
                    }
                }
            }
            by_function.insert(name, statements);
        }
        Ok(Self { by_function })
    }

    /// Whether `function`'s role allows `call`: some Allow matches and no Deny does.
    pub fn allows(&self, function: &str, call: &Call) -> bool {
        let statements = self
            .by_function
            .get(function)
            .map_or(&[][..], Vec::as_slice);
        let denied = statements.iter().any(|s| !s.allow && matches(s, call));
        let allowed = statements.iter().any(|s| s.allow && matches(s, call));
        allowed && !denied
    }
}

fn seq(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn statement(owner: &str, st: &Value, resolver: &Resolver) -> Result<Statement, DevError> {
    let allow = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => {
            return Err(DevError::Template(format!(
                "{owner}: statement Effect {other:?}"
            )));
        }
    };
    let mut actions = Vec::new();
    for a in seq(st.get("Action")) {
        actions.extend(resolver.strings(a)?);
    }
    let mut resources = Vec::new();
    for r in seq(st.get("Resource")) {
        resources.extend(resolver.strings(r)?);
    }
    Ok(Statement {
        allow,
        actions,
        resources,
        leading_keys: condition(owner, st.get("Condition"), resolver)?,
    })
}

fn condition(
    owner: &str,
    cond: Option<&Value>,
    resolver: &Resolver,
) -> Result<Option<Vec<String>>, DevError> {
    let Some(Value::Mapping(cond)) = cond else {
        return Ok(None);
    };
    let mut keys = None;
    for (op, body) in cond {
        let Value::Mapping(body) = body else {
            return Err(DevError::Template(format!("{owner}: condition {op:?}")));
        };
        for (key, values) in body {
            if op.as_str() != Some("ForAllValues:StringLike")
                || key.as_str() != Some("dynamodb:LeadingKeys")
            {
                return Err(DevError::Template(format!(
                    "{owner}: condition {op:?} {key:?} is not checked locally"
                )));
            }
            let mut patterns = Vec::new();
            for v in seq(Some(values)) {
                patterns.extend(resolver.strings(v)?);
            }
            keys = Some(patterns);
        }
    }
    Ok(keys)
}

fn matches(s: &Statement, call: &Call) -> bool {
    let action = s
        .actions
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &call.action.to_ascii_lowercase()));
    let resource = s.resources.iter().any(|r| glob(r, &call.resource));
    let keys = s.leading_keys.as_ref().is_none_or(|patterns| {
        call.leading_keys
            .iter()
            .all(|k| patterns.iter().any(|p| glob(p, k)))
    });
    action && resource && keys
}

/// IAM's wildcards: `*` any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Positions in the pattern reachable after each character of the text.
    let mut reach = vec![false; p.len() + 1];
    reach[0] = true;
    stars(&p, &mut reach);
    for c in t {
        let mut next = vec![false; p.len() + 1];
        for i in 0..p.len() {
            if reach[i] {
                match p[i] {
                    '*' => next[i] = true,
                    '?' => next[i + 1] = true,
                    pc if pc == c => next[i + 1] = true,
                    _ => {}
                }
            }
        }
        stars(&p, &mut next);
        reach = next;
    }
    reach[p.len()]
}

/// A `*` matches the empty run too: whatever reaches it reaches past it.
fn stars(p: &[char], reach: &mut [bool]) {
    for i in 0..p.len() {
        if reach[i] && p[i] == '*' {
            reach[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_as_iam_reads_them() {
        for (pattern, text, want) in [
            (
                "arn:aws:s3:::b/videos/*",
                "arn:aws:s3:::b/videos/u/t.mp4",
                true,
            ),
            (
                "arn:aws:s3:::b/videos/*",
                "arn:aws:s3:::b/uploads/u/x",
                false,
            ),
            ("secret:name-??????", "secret:name-abcdef", true),
            ("secret:name-??????", "secret:name-abcde", false),
            ("secret:name-??????", "secret:name-other-abcdef", false),
            ("TASK#*", "TASK#abc", true),
            ("TASK#*", "USER#abc", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("dynamodb:getitem", "dynamodb:getitem", true),
        ] {
            assert_eq!(glob(pattern, text), want, "{pattern} vs {text}");
        }
    }

    fn st(allow: bool, action: &str, resource: &str, keys: Option<&[&str]>) -> Statement {
        Statement {
            allow,
            actions: vec![action.into()],
            resources: vec![resource.into()],
            leading_keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn call(action: &str, resource: &str, keys: &[&str]) -> Call {
        Call {
            action: action.into(),
            resource: resource.into(),
            leading_keys: keys.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn allow_needs_action_resource_and_keys_and_a_deny_wins() {
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/T";
        let policies = Policies {
            by_function: HashMap::from([(
                "f".to_string(),
                vec![
                    st(true, "dynamodb:PutItem", table, Some(&["WEBHOOK#*"])),
                    st(true, "dynamodb:GetItem", table, None),
                    st(false, "dynamodb:GetItem", table, Some(&["SECRET#*"])),
                ],
            )]),
        };
        for (c, want) in [
            (call("dynamodb:PutItem", table, &["WEBHOOK#1"]), true),
            (call("dynamodb:PutItem", table, &["TASK#1"]), false),
            (
                call("dynamodb:PutItem", table, &["WEBHOOK#1", "TASK#1"]),
                false,
            ),
            (call("dynamodb:DeleteItem", table, &["WEBHOOK#1"]), false),
            (call("dynamodb:GetItem", table, &["TASK#1"]), true),
            (call("dynamodb:GetItem", table, &["SECRET#1"]), false),
            (
                call("dynamodb:GetItem", &format!("{table}/index/gsi1"), &[]),
                false,
            ),
        ] {
            assert_eq!(policies.allows("f", &c), want, "{c:?}");
        }
        assert!(!policies.allows("unknown", &call("dynamodb:GetItem", table, &[])));
    }
}
