//! The watch router in the workspace `Cargo.toml` (`[workspace.metadata.lambda.watch.router]`),
//! which `cargo lambda watch` serves and the built-in gateway mirrors.

use std::collections::HashMap;
use std::path::Path;

use crate::DevError;

/// (method, path, function); method `*` when the route takes any method.
pub type Route = (String, String, String);

pub fn load(cargo_toml: &Path) -> Result<Vec<Route>, DevError> {
    let text = std::fs::read_to_string(cargo_toml)
        .map_err(|e| DevError::Template(format!("{}: {e}", cargo_toml.display())))?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<Vec<Route>, DevError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| DevError::Template(e.to_string()))?;
    let router = doc
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("lambda"))
        .and_then(|l| l.get("watch"))
        .and_then(|w| w.get("router"))
        .and_then(|r| r.as_table())
        .ok_or_else(|| {
            DevError::Template("Cargo.toml has no [workspace.metadata.lambda.watch.router]".into())
        })?;
    let mut routes = Vec::new();
    for (path, target) in router {
        match target {
            toml::Value::String(function) => {
                routes.push(("*".to_string(), path.clone(), function.clone()))
            }
            toml::Value::Array(items) => {
                for item in items {
                    let method = item.get("method").and_then(|m| m.as_str());
                    let function = item.get("function").and_then(|f| f.as_str());
                    match (method, function) {
                        (Some(m), Some(f)) => {
                            routes.push((m.to_uppercase(), path.clone(), f.to_string()))
                        }
                        _ => {
                            return Err(DevError::Template(format!(
                                "route {path}: each entry needs method and function"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(DevError::Template(format!(
                    "route {path}: expected a function name or a list"
                )));
            }
        }
    }
    routes.sort();
    Ok(routes)
}

struct RouteEntry {
    path: String,
    methods: HashMap<String, String>,
}

/// A matcher over routes: path → method → function.
pub struct RouteTable {
    inner: matchit::Router<RouteEntry>,
}

/// A matched route: the function, the route's path template, and the path parameters.
pub struct RouteMatch {
    pub function: String,
    pub path: String,
    pub params: HashMap<String, String>,
}

impl RouteTable {
    pub fn new(routes: &[Route]) -> Result<Self, DevError> {
        let mut by_path: HashMap<&str, HashMap<String, String>> = HashMap::new();
        for (method, path, function) in routes {
            by_path
                .entry(path.as_str())
                .or_default()
                .insert(method.clone(), function.clone());
        }
        let mut inner = matchit::Router::new();
        for (path, methods) in by_path {
            let entry = RouteEntry {
                path: path.to_string(),
                methods,
            };
            inner
                .insert(path, entry)
                .map_err(|e| DevError::Template(format!("route {path}: {e}")))?;
        }
        Ok(Self { inner })
    }

    /// The function for a request, with the path parameters.
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let matched = self.inner.at(path).ok()?;
        let methods = &matched.value.methods;
        let function = methods.get(method).or_else(|| methods.get("*"))?;
        Some(RouteMatch {
            function: function.clone(),
            path: matched.value.path.clone(),
            params: matched
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }
}
