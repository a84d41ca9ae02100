//! The docs stay a map a newcomer can follow: the README is short and names the ten
//! functions, every source a comment cites is a file in this repository (and its section
//! exists there), and every link between the docs resolves.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files_with(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | ".venv") {
                files_with(&path, ext, out);
            }
        } else if name.ends_with(ext) {
            out.push(path);
        }
    }
}

fn rust_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["shared", "functions", "tools", "fuzz"] {
        files_with(&root().join(dir), ".rs", &mut out);
    }
    out
}

/// `## Name` headings of a markdown file.
fn sections(md: &str) -> Vec<String> {
    md.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_string())
        .collect()
}

/// Every (page, section) a comment cites: a page under the docs folder, then `§Name` (or
/// `§A and §B`).
fn citations(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let comments: String = text
        .lines()
        .filter_map(|l| l.find("//").map(|i| &l[i + 2..]))
        .map(|c| c.trim_start_matches(['/', '!']).trim())
        .collect::<Vec<_>>()
        .join(" ");
    let mut rest = comments.as_str();
    while let Some(i) = rest.find("docs/") {
        let tail = &rest[i..];
        let end = tail.find(".md").map(|e| e + 3);
        let Some(end) = end else { break };
        let file = tail[..end].to_string();
        let mut after = tail[end..].trim_start_matches('`').trim_start();
        let mut cited = Vec::new();
        while let Some(s) = after.strip_prefix('§') {
            let name: String = s
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .collect();
            let name = name.trim().trim_end_matches(" and").trim().to_string();
            after = s[name.len()..]
                .trim_start()
                .trim_start_matches("and")
                .trim_start();
            cited.push(name);
        }
        if cited.is_empty() {
            out.push((file, None));
        } else {
            out.extend(cited.into_iter().map(|s| (file.clone(), Some(s))));
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_readme_is_a_map_of_twelve_functions() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README has {lines} lines");
    assert!(readme.contains("twelve AWS Lambda functions"));
    assert!(!readme.contains("eleven AWS Lambda"));
    for f in std::fs::read_dir(root().join("functions")).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} not in the README's table"
        );
    }
}

#[test]
fn every_cited_source_is_a_file_here_with_that_section() {
    let mut checked = 0;
    for file in rust_sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.display();
        for banned in ["kling-api.md", "DESIGN.md", "../shared/"] {
            let cites = text
                .lines()
                .any(|l| l.trim_start().starts_with("//") && l.contains(banned));
            assert!(
                !cites,
                "{shown} cites {banned}, which is not in the repository"
            );
        }
        for (doc, section) in citations(&text) {
            let md = std::fs::read_to_string(root().join(&doc))
                .unwrap_or_else(|_| panic!("{shown} cites {doc}, which does not exist"));
            if let Some(section) = section {
                assert!(
                    sections(&md).contains(&section),
                    "{shown} cites {doc} §{section}, which has no such section"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} citations found: the scanner is broken"
    );
}

#[test]
fn links_between_the_docs_resolve() {
    let mut pages = vec![root().join("README.md")];
    files_with(&root().join("docs"), ".md", &mut pages);
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let target: String = text[i + 2..].chars().take_while(|c| *c != ')').collect();
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            assert!(
                dir.join(path).exists(),
                "{} links to {target}, which does not exist",
                page.display()
            );
        }
    }
}

#[test]
fn the_citation_scanner_reads_one_and_two_sections() {
    let text =
        "//! Kling (`docs/providers.md` §Errors and §Unknown outcomes): x\n/// see `docs/api.md`\n";
    let got = citations(text);
    assert_eq!(
        got,
        [
            ("docs/providers.md".to_string(), Some("Errors".to_string())),
            (
                "docs/providers.md".to_string(),
                Some("Unknown outcomes".to_string())
            ),
            ("docs/api.md".to_string(), None),
        ]
    );
}
