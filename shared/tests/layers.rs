//! The library's shape, checked from its source: every module imports only its own layer and
//! the layers before it (runtime, domain, ports, provider, lifecycle, edge, aws, testing), no
//! module imports itself back through others (no import circle), and `shared/src` stays a
//! handful of top-level entries.
//!
//! Every `crate::…` and `super::…` path in a file (in `use` lines, groups included, and inline)
//! is resolved to the deepest module it names; a file's module is where it sits under `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[&str] = &[
    "runtime",
    "domain",
    "ports",
    "provider",
    "lifecycle",
    "edge",
    "aws",
    "testing",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `domain/task.rs` → `["domain", "task"]`; `provider/mod.rs` → `["provider"]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code without comments (line comments, doc comments) and string literals' contents.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        for (i, c) in line.char_indices() {
            if !in_str && c == '/' && line[i..].starts_with("//") {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str {
                kept.push(c);
            }
            prev = c;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push("::".into());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// Every path a `crate::`/`super::` expression starting at `i` names, groups expanded.
fn paths_from(
    toks: &[String],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    i = paths_from(toks, i, path.clone(), out);
                    match toks.get(i).map(String::as_str) {
                        Some(",") => i += 1,
                        Some("}") => return i + 1,
                        _ => return i,
                    }
                    if toks.get(i).map(String::as_str) == Some("}") {
                        return i + 1;
                    }
                }
            }
            Some(w) if w.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push(w.to_string());
                i += 1;
                if toks.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

fn references(file: &Path, text: &str) -> Vec<Vec<String>> {
    let own = module_of(file);
    let toks = tokens(&code_of(text));
    let mut found = Vec::new();
    for i in 0..toks.len() {
        let base = match toks[i].as_str() {
            "crate" => Vec::new(),
            // Inline `mod tests` blocks say `super` for their own file: a self reference.
            "super" if toks.get(i.wrapping_sub(2)).map(String::as_str) != Some("::") => {
                own[..own.len().saturating_sub(1)].to_vec()
            }
            _ => continue,
        };
        if toks.get(i + 1).map(String::as_str) == Some("::") {
            paths_from(&toks, i + 2, base, &mut found);
        }
    }
    found
}

struct Graph {
    modules: BTreeSet<Vec<String>>,
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        for path in references(file, &text) {
            let to = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(to) = to.filter(|t| *t != from && !t.is_empty()) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    Graph { modules, edges }
}

fn layer(module: &[String]) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| module.first().map(String::as_str) == Some(l))
}

#[test]
fn each_layer_imports_only_itself_and_the_layers_before_it() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, tos) in &g.edges {
        for to in tos {
            // A parent module re-exporting from its own children is not an upward import.
            if to.starts_with(from) {
                continue;
            }
            if layer(to) > layer(from) {
                wrong.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        g.edges.len() > 40,
        "the scan found too few modules importing anything"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_imports_itself_back() {
    let g = graph();
    // Parent → child edges (a `pub use` of a submodule) are part of the parent; leave them out.
    let next = |m: &Vec<String>| -> Vec<Vec<String>> {
        g.edges
            .get(m)
            .map(|s| s.iter().filter(|t| !t.starts_with(m)).cloned().collect())
            .unwrap_or_default()
    };
    let mut cycles = Vec::new();
    for start in &g.modules {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, trail)) = stack.pop() {
            for to in next(&m) {
                if to == *start {
                    let names: Vec<String> = trail.iter().map(|p| p.join("::")).collect();
                    cycles.push(format!("{} -> {}", names.join(" -> "), start.join("::")));
                } else if seen.insert(to.clone()) {
                    let mut t = trail.clone();
                    t.push(to.clone());
                    stack.push((to, t));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

#[test]
fn the_domain_imports_no_adapter_and_no_http() {
    let g = graph();
    let domain: Vec<_> = g
        .edges
        .iter()
        .filter(|(m, _)| layer(m) == Some(1))
        .collect();
    assert!(!domain.is_empty());
    for (from, tos) in domain {
        for to in tos {
            let ok = matches!(layer(to), Some(0 | 1));
            assert!(ok, "{} imports {}", from.join("::"), to.join("::"));
        }
    }
    for file in [
        "domain/validation.rs",
        "domain/task.rs",
        "domain/catalogue.rs",
    ] {
        let text = std::fs::read_to_string(src_dir().join(file)).unwrap();
        for banned in ["lambda_http", "aws_sdk", "reqwest"] {
            assert!(!code_of(&text).contains(banned), "{file} uses {banned}");
        }
    }
}

#[test]
fn shared_src_has_a_handful_of_top_level_entries() {
    let entries: Vec<String> = std::fs::read_dir(src_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert!(
        entries.len() <= 12,
        "{} entries: {entries:?}",
        entries.len()
    );
}

#[test]
fn the_scanner_sees_groups_super_and_inline_paths() {
    let file = src_dir().join("domain/x/y.rs");
    let text = "use crate::{a::{b, c::D}, e};\nuse super::z;\nfn f() { crate::g::h(); }\n// crate::not::this\n";
    let got: Vec<String> = references(&file, text)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(got, ["a::b", "a::c::D", "e", "domain::x::z", "g::h"]);
}
