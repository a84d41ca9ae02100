//! The app's contract, `api/openapi.yaml`, against the code: the operations are the template's
//! `/v1` routes, the error-code enum is `shared::edge::envelope::CODES`, and the error table of docs/api.md
//! names the same codes. The spec is written by hand (readable, with examples and links for
//! schemathesis); this check and the schemathesis run in `make test` keep it true.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::DevError;
use crate::template::Template;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` of every operation in the spec.
pub fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    if let Some(Value::Mapping(paths)) = spec.get("paths") {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some() {
                    let path = path.as_str().unwrap_or_default().to_string();
                    ops.insert((method.to_uppercase(), path));
                }
            }
        }
    }
    ops
}

pub fn spec_codes(spec: &Value) -> BTreeSet<String> {
    spec.get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(|s| s.get("ErrorCode"))
        .and_then(|e| e.get("enum"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Codes in the error table of docs/api.md: backticked names in rows that start with a status.
pub fn readme_codes(readme: &str) -> BTreeSet<String> {
    readme
        .lines()
        .filter(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells.len() > 2 && cells[1].len() == 3 && cells[1].parse::<u16>().is_ok()
        })
        .flat_map(|l| {
            let code_cell = l.split('|').nth(2).unwrap_or_default();
            code_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn differences(
    what: &str,
    left: (&str, &BTreeSet<String>),
    right: (&str, &BTreeSet<String>),
) -> Vec<String> {
    let mut out = Vec::new();
    for x in left.1.difference(right.1) {
        out.push(format!(
            "{what} {x} is in {} but not in {}",
            left.0, right.0
        ));
    }
    for x in right.1.difference(left.1) {
        out.push(format!(
            "{what} {x} is in {} but not in {}",
            right.0, left.0
        ));
    }
    out
}

/// Every disagreement between the spec, the template, the code's codes and docs/api.md.
pub fn check(
    spec_text: &str,
    template: &Template,
    codes: &[&str],
    readme: &str,
) -> Result<Vec<String>, DevError> {
    let spec: Value =
        serde_yaml::from_str(spec_text).map_err(|e| DevError::Template(e.to_string()))?;
    let mut problems = Vec::new();
    let version = spec
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("3.1.") {
        problems.push(format!("the spec is OpenAPI {version:?}, not 3.1"));
    }
    let fmt = |set: BTreeSet<(String, String)>| -> BTreeSet<String> {
        set.into_iter().map(|(m, p)| format!("{m} {p}")).collect()
    };
    let routes: BTreeSet<(String, String)> = template
        .http_routes()?
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/v1/"))
        .map(|(m, p, _)| (m, p))
        .collect();
    problems.extend(differences(
        "operation",
        ("the spec", &fmt(spec_operations(&spec))),
        ("the template", &fmt(routes)),
    ));
    let code_set: BTreeSet<String> = codes.iter().map(|c| c.to_string()).collect();
    problems.extend(differences(
        "error code",
        ("the spec", &spec_codes(&spec)),
        ("shared::edge::envelope::CODES", &code_set),
    ));
    problems.extend(differences(
        "error code",
        ("the error table of docs/api.md", &readme_codes(readme)),
        ("shared::edge::envelope::CODES", &code_set),
    ));
    Ok(problems)
}
