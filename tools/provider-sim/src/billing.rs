//! Kling's bill, `POST /account/billing/balance` (`docs/providers.md` §Bills), served from the
//! tasks this simulator made: one row per finished video of the caller's account, none for a
//! failed one, and the injected mistakes of `[sim:bill-failed]` and `[sim:bill-twice]` so a
//! reconciliation can find a real mismatch.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::CallKind;
use crate::routes::{Fail, admit_on, invalid, ok};
use crate::tasks::{SimState, SimTask, Surface};

const MAX_LIMIT: usize = 500;

#[derive(serde::Deserialize)]
struct BillQuery {
    start_time: Option<i64>,
    end_time: Option<i64>,
    limit: Option<usize>,
    #[serde(default)]
    cursor: String,
}

/// Where a page starts and what it covers; the cursor carries all three (it overrides the rest).
struct Window {
    start: i64,
    end: i64,
    limit: usize,
    offset: usize,
}

pub async fn balance(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        // The page names an API key; legacy callers sign a JWT. Either is the account's.
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let surface = match token.map(|t| t.matches('.').count()) {
            Some(2) => Surface::Legacy,
            _ => Surface::Standard,
        };
        let account = admit_on(&state, &headers, CallKind::List, surface).await?;
        let q: BillQuery = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
        let w = window(&q)?;
        let rows: Vec<Value> = state
            .all()
            .iter()
            .filter(|t| t.account == account && (w.start..w.end).contains(&t.created_at))
            .flat_map(rows_of)
            .collect();
        let page: Vec<Value> = rows.iter().skip(w.offset).take(w.limit).cloned().collect();
        let next = w.offset + page.len();
        let has_more = next < rows.len();
        let cursor = has_more.then(|| format!("{}:{}:{}:{next}", w.start, w.end, w.limit));
        Ok::<_, Fail>(ok(json!({
            "result": {"detail": page, "count": page.len()},
            "next_cursor": cursor.unwrap_or_default(),
            "has_more": has_more,
        })))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn window(q: &BillQuery) -> Result<Window, Fail> {
    if !q.cursor.is_empty() {
        let parts: Vec<i64> = q.cursor.split(':').filter_map(|p| p.parse().ok()).collect();
        return match parts[..] {
            [start, end, limit, offset] if limit > 0 && offset >= 0 => Ok(Window {
                start,
                end,
                limit: limit as usize,
                offset: offset as usize,
            }),
            _ => Err(invalid("cursor is invalid")),
        };
    }
    let (Some(start), Some(end)) = (q.start_time, q.end_time) else {
        return Err(invalid(
            "start_time and end_time are required without a cursor",
        ));
    };
    if start >= end {
        return Err(invalid("start_time must be earlier than end_time"));
    }
    let limit = q.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit must be in [1, 500]"));
    }
    Ok(Window {
        start,
        end,
        limit,
        offset: 0,
    })
}

/// What the bill says about one task: nothing until it is finished, nothing for a failure.
fn rows_of(task: &SimTask) -> Vec<Value> {
    let billed = match task.status {
        "succeed" => true,
        "failed" => task.faults.bill_failed,
        _ => false,
    };
    if !billed {
        return Vec::new();
    }
    let units = if task.status == "succeed" {
        task.billed_units()
    } else {
        crate::capability::units(&task.model, &task.mode, task.sound, task.duration)
    };
    let amount: f64 = units.parse().unwrap_or_default();
    let row = json!({
        "task_id": task.task_id,
        "api_key_name": task.account,
        "product_function": task.kind,
        "model_name": task.model,
        "resolution": match task.resolution {
            crate::video::Resolution::P720 => "720p",
            crate::video::Resolution::P1080 => "1080p",
        },
        "duration": task.duration.to_string(),
        "deduction_time": task.updated_at.to_string(),
        "cash_type": "balance",
        "deduction_amount": amount,
        "list_price": amount,
        "currency": "USD",
    });
    let times = if task.faults.bill_twice { 2 } else { 1 };
    vec![row; times]
}
