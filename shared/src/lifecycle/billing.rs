//! The provider's bill beside ours. Once a task's billed units are known they are logged with
//! the provider's request ids and emitted as metrics per provider and plan (CloudWatch sums
//! them per day), with the units per cost unit we charged and a mismatch against the
//! provider's own price list, so an operator can reconcile our ledger with the provider's.

use crate::domain::task::Task;
use crate::runtime::metrics::{Unit, emf_line};

/// How far billed units may differ from the price list before it counts as a mismatch.
const TOLERANCE: f64 = 0.005;

/// The metric lines for a bill first seen between `before` and `after`; none otherwise.
pub fn bill_lines(before: &Task, after: &Task, expected: Option<f64>, now_ms: i64) -> Vec<String> {
    let first_seen = before.provider_facts.billed_units.is_none();
    let billed = after.provider_facts.billed_units.as_deref();
    let Some(billed) = billed
        .filter(|_| first_seen)
        .and_then(|b| b.parse::<f64>().ok())
    else {
        return Vec::new();
    };
    let plan = after.plan.as_deref().unwrap_or("unknown");
    let dims = [("Provider", after.provider.as_str()), ("Plan", plan)];
    let ours = after.cost_units.as_f64();
    let mut metrics = vec![("ProviderUnits", billed, Unit::None)];
    if ours > 0.0 {
        metrics.push(("ProviderUnitsPerCostUnit", billed / ours, Unit::None));
    }
    // A failed task is billed nothing; only a delivered one is held to the price list.
    if let Some(expected) = expected.filter(|_| billed > 0.0) {
        let mismatch = (billed - expected).abs() > TOLERANCE;
        metrics.push((
            "ProviderUnitsMismatch",
            f64::from(u8::from(mismatch)),
            Unit::Count,
        ));
        metrics.push(("ProviderUnitsDelta", billed - expected, Unit::None));
    }
    vec![emf_line(now_ms, &dims, &metrics)]
}

/// Log and emit the bill when it first appears on the task.
pub fn observe(before: &Task, after: &Task, expected: Option<f64>) {
    let now = time::OffsetDateTime::now_utc();
    let ms = now.unix_timestamp() * 1000 + i64::from(now.millisecond());
    let lines = bill_lines(before, after, expected, ms);
    if lines.is_empty() {
        return;
    }
    let facts = &after.provider_facts;
    tracing::info!(
        task_id = %after.id,
        provider = %after.provider,
        billed_units = facts.billed_units.as_deref().unwrap_or("-"),
        expected_units = expected,
        cost_units = after.cost_units.as_f64(),
        create_request_id = facts.create_request_id.as_deref().unwrap_or("-"),
        last_request_id = facts.last_request_id.as_deref().unwrap_or("-"),
        "provider bill recorded"
    );
    for line in lines {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::CostUnits;

    #[test]
    fn a_bill_is_emitted_once_with_its_mismatch() {
        let mut before: Task = serde_json::from_value(serde_json::json!({
            "id": "t1", "user_id": "u1", "status": "SUCCEEDED", "type": "text_to_video",
            "duration": 5, "quality": "pro", "model": "kling-v3", "mode": "pro", "cost_units": 8.0,
            "provider": "kling", "created_at": "2026-11-26T10:00:00.000Z",
            "updated_at": "2026-11-26T10:00:00.000Z", "plan": "pro"}))
        .unwrap();
        before.cost_units = CostUnits(800);
        let mut after = before.clone();
        after.provider_facts.billed_units = Some("4".into());
        let lines = bill_lines(&before, &after, Some(4.0), 1_700_000_000_000);
        println!("{}", lines[0]);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (v["Plan"].as_str(), v["Provider"].as_str()),
            (Some("pro"), Some("kling"))
        );
        assert_eq!(
            (
                v["ProviderUnits"].as_f64(),
                v["ProviderUnitsMismatch"].as_f64()
            ),
            (Some(4.0), Some(0.0))
        );
        assert_eq!(v["ProviderUnitsPerCostUnit"].as_f64(), Some(0.5));
        let wrong = bill_lines(&before, &after, Some(6.0), 0);
        let v: serde_json::Value = serde_json::from_str(&wrong[0]).unwrap();
        assert_eq!(
            (
                v["ProviderUnitsMismatch"].as_f64(),
                v["ProviderUnitsDelta"].as_f64()
            ),
            (Some(1.0), Some(-2.0))
        );
        assert!(
            bill_lines(&after, &after, Some(4.0), 0).is_empty(),
            "only when first seen"
        );
        let mut failed = after.clone();
        failed.provider_facts.billed_units = Some("0".into());
        let v: serde_json::Value =
            serde_json::from_str(&bill_lines(&before, &failed, Some(4.0), 0)[0]).unwrap();
        assert!(
            v.get("ProviderUnitsMismatch").is_none(),
            "a failed task is not held to the list"
        );
    }
}
