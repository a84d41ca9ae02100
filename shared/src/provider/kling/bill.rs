//! Kling's bill: `POST /account/billing/balance` (`docs/providers.md` §Bills), read one UTC
//! day of task creation at a time, page by page.

use serde::{Deserialize, Serialize};

use super::client::{Deadline, KlingClient, WithRequestId};
use super::error::KlingError;
use crate::domain::bill::{BillRow, Day, hundredths};

/// Kling's largest page.
const PAGE: u32 = 500;
/// A day's bill is read whole or not at all; past this many pages something is wrong.
const MAX_PAGES: usize = 2_000;

#[derive(Serialize)]
struct BillQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    /// When set, Kling ignores every other field.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct BillPage {
    #[serde(default)]
    result: BillResult,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Default, Deserialize)]
struct BillResult {
    #[serde(default)]
    detail: Vec<Deduction>,
}

#[derive(Deserialize)]
struct Deduction {
    task_id: String,
    #[serde(default)]
    deduction_amount: f64,
}

impl WithRequestId for BillPage {}

impl KlingClient {
    /// Every deduction for tasks created on `day`, in Kling's order.
    pub async fn bill(&self, day: Day, deadline: Deadline) -> Result<Vec<BillRow>, KlingError> {
        let (start, end) = day.unix_ms();
        let mut query = BillQuery {
            start_time: Some(start),
            end_time: Some(end),
            limit: Some(PAGE),
            cursor: None,
        };
        let mut rows = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: BillPage = self
                .with_retries(deadline, || {
                    self.call(
                        reqwest::Method::POST,
                        &["account", "billing", "balance"],
                        &[],
                        Some(&query),
                        deadline,
                    )
                })
                .await?;
            rows.extend(page.result.detail.into_iter().map(|d| BillRow {
                reference: d.task_id,
                amount: hundredths(d.deduction_amount),
            }));
            match page.next_cursor.filter(|c| page.has_more && !c.is_empty()) {
                Some(cursor) => {
                    query = BillQuery {
                        start_time: None,
                        end_time: None,
                        limit: None,
                        cursor: Some(cursor),
                    }
                }
                None => return Ok(rows),
            }
        }
        Err(KlingError::Decode(format!(
            "the bill for {day} did not end within {MAX_PAGES} pages"
        )))
    }
}
