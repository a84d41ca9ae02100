//! The bill's side of the table: the tasks each provider account took per UTC day (`gsi4`).

use super::*;
use crate::domain::bill::{BilledTask, Day};
use crate::domain::task::TaskStatus;

/// What `gsi4` projects: enough to compare with a bill row.
#[derive(Deserialize)]
struct BillItem {
    gsi4sk: String,
    id: TaskId,
    status: TaskStatus,
    cost_units: CostUnits,
}

impl crate::ports::BillIndex for DynamoTaskStore {
    async fn billed_tasks(&self, slot_key: &str, day: Day) -> Result<Vec<BilledTask>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI4)
                .key_condition_expression("gsi4pk = :p")
                .expression_attribute_values(":p", s(bill_pk(slot_key, day)))
                .projection_expression("gsi4sk, id, #s, cost_units")
                .expression_attribute_names("#s", "status")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in page.items.unwrap_or_default() {
                let b: BillItem = from_item(item)?;
                out.push(BilledTask {
                    reference: b.gsi4sk,
                    task_id: b.id,
                    status: b.status,
                    cost_units: b.cost_units,
                });
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }
}
