//! The moderation table: prompts that must be blocked (with their category), evasions
//! included, and prompts that must pass although they contain innocent look-alikes.

use shared::domain::moderation::{DEFAULT_POLICY_JSON, Policy};

#[test]
fn every_prompt_in_the_table_gets_its_verdict() {
    let policy = Policy::parse(DEFAULT_POLICY_JSON).unwrap();
    let table = include_str!("moderation_cases.txt");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.splitn(3, '|');
        let (expected, category, prompt) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let got = policy.check(prompt);
        let ok = match expected {
            "block" => got.as_ref().is_some_and(|b| b.category == category),
            "allow" => got.is_none(),
            other => panic!("bad expectation {other}"),
        };
        if !ok {
            wrong.push(format!("{expected} {category:<16} {prompt:?} -> {got:?}"));
        }
        checked += 1;
    }
    assert!(checked >= 450, "the table has {checked} prompts");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
