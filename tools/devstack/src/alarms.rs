//! Every function and every dead-letter queue in `infra/template.yaml` has an alarm: a function
//! whose errors no alarm counts, or a queue of given-up work nobody is told about, fails
//! silently in AWS. What counts: a `AWS::CloudWatch::Alarm` metric with a `FunctionName`
//! dimension naming the function, and one with a `QueueName` dimension naming the queue's name.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::template::{Reference, Template, reference};

/// The logical ids every alarm names through its dimensions (`!Ref F`, `!GetAtt Q.QueueName`).
fn alarmed(template: &Template, dimension: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, alarm) in template.resources_of_type("AWS::CloudWatch::Alarm") {
        collect(alarm, dimension, &mut out);
    }
    out
}

/// Walks an alarm's properties for `{Name: <dimension>, Value: <reference>}` pairs.
fn collect(v: &Value, dimension: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            if m.get("Name").and_then(Value::as_str) == Some(dimension)
                && let Some(value) = m.get("Value")
            {
                match reference(value) {
                    Reference::Ref(id) | Reference::GetAtt(id, _) => {
                        out.insert(id);
                    }
                    Reference::Other => {}
                }
            }
            m.values().for_each(|v| collect(v, dimension, out));
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect(v, dimension, out)),
        Value::Tagged(t) => collect(&t.value, dimension, out),
        _ => {}
    }
}

/// The queues that hold given-up work: redrive targets and the failure destinations of event
/// sources.
fn dead_letter_queues(template: &Template) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, _, props) in template.resources() {
        find_dead_letters(props, &mut out);
    }
    out
}

fn find_dead_letters(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for key in ["deadLetterTargetArn", "Destination"] {
                if let Some(Reference::GetAtt(id, attr)) = m.get(key).map(reference)
                    && attr == "Arn"
                {
                    out.insert(id);
                }
            }
            m.values().for_each(|v| find_dead_letters(v, out));
        }
        Value::Sequence(items) => items.iter().for_each(|v| find_dead_letters(v, out)),
        Value::Tagged(t) => find_dead_letters(&t.value, out),
        _ => {}
    }
}

/// What no alarm covers, named: `function X` and `dead-letter queue Y`.
pub fn gaps(template: &Template) -> Vec<String> {
    let functions = alarmed(template, "FunctionName");
    let queues = alarmed(template, "QueueName");
    let mut out: Vec<String> = template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .filter(|(id, _)| !functions.contains(id))
        .map(|(id, _)| format!("function {id} has no error alarm"))
        .collect();
    out.extend(
        dead_letter_queues(template)
            .into_iter()
            .filter(|q| !queues.contains(q))
            .map(|q| format!("dead-letter queue {q} has no alarm")),
    );
    out
}
