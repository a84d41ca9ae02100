//! `api/openapi.yaml` cannot drift from the code: the check passes on the real files, and each
//! kind of disagreement is caught.

use std::path::{Path, PathBuf};

use devstack::contract::check;
use devstack::template::Template;
use shared::edge::envelope::CODES;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Files {
    spec: String,
    template: String,
    readme: String,
}

fn files() -> Files {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    Files {
        spec: read("api/openapi.yaml"),
        template: read("infra/template.yaml"),
        readme: read("docs/api.md"),
    }
}

fn problems(f: &Files, codes: &[&str]) -> Vec<String> {
    let template = Template::parse(&f.template).unwrap();
    check(&f.spec, &template, codes, &f.readme).unwrap()
}

#[test]
fn the_spec_matches_the_code() {
    let problems = problems(&files(), CODES);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn each_kind_of_drift_is_caught() {
    let base = files();
    let mut cases: Vec<(Files, Vec<&str>, &str)> = Vec::new();

    // An operation the code serves that the spec forgot.
    let spec = base.spec.replace(
        "    delete:\n      operationId: deleteVideo",
        "    x-gone:\n      operationId: deleteVideo",
    );
    cases.push((
        Files { spec, ..files() },
        CODES.to_vec(),
        "operation DELETE /v1/videos/{id} is in the template but not in the spec",
    ));

    // A route the template dropped.
    let template = base.template.replace("Path: /v1/me", "Path: /v1/myself");
    cases.push((
        Files {
            template,
            ..files()
        },
        CODES.to_vec(),
        "operation GET /v1/me is in the spec but not in the template",
    ));

    // A new code in the code only.
    let mut codes = CODES.to_vec();
    codes.push("brand_new_code");
    cases.push((
        files(),
        codes,
        "error code brand_new_code is in shared::edge::envelope::CODES but not in the spec",
    ));

    // A code the spec still lists after the code dropped it.
    let codes: Vec<&str> = CODES
        .iter()
        .copied()
        .filter(|c| *c != "invalid_limit")
        .collect();
    cases.push((
        files(),
        codes,
        "error code invalid_limit is in the spec but not in shared::edge::envelope::CODES",
    ));

    // The error table of docs/api.md forgets a code.
    let readme = base.readme.replace("`invalid_cursor`", "cursor");
    cases.push((Files { readme, ..files() }, CODES.to_vec(), "error code invalid_cursor is in shared::edge::envelope::CODES but not in the error table of docs/api.md"));

    // Not OpenAPI 3.1.
    let spec = base.spec.replacen("openapi: 3.1.0", "openapi: 3.0.3", 1);
    cases.push((
        Files { spec, ..files() },
        CODES.to_vec(),
        "the spec is OpenAPI \"3.0.3\", not 3.1",
    ));

    for (f, codes, want) in cases {
        let got = problems(&f, &codes);
        println!("caught: {got:?}");
        assert!(got.iter().any(|p| p == want), "want {want:?}, got {got:#?}");
    }
}

/// Every stable code is answered by at least one in-process handler test (which asserts the
/// status and the code), so none is dead and none is untested.
#[test]
fn every_error_code_is_produced_by_an_in_process_test() {
    let mut tests = String::new();
    for function in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = function.unwrap().path().join("tests");
        for file in std::fs::read_dir(&dir).into_iter().flatten() {
            tests.push_str(&std::fs::read_to_string(file.unwrap().path()).unwrap());
        }
    }
    let untested: Vec<&&str> = CODES
        .iter()
        .filter(|c| !tests.contains(&format!("\"{c}\"")))
        .collect();
    assert!(
        untested.is_empty(),
        "codes no handler test produces: {untested:?}"
    );
}
