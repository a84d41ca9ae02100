//! fal's bill by job (`docs/providers.md` §Bills): fal bills a request only when it ends with an
//! output, so the account's successful requests of a day — listed by endpoint, fal's
//! `GET /v1/models/requests/by-endpoint` with `status=success` — are its deductions. The listing
//! names no amounts: rows carry none.

use super::client::{FalClient, FalError};
use crate::domain::bill::{BillRow, Day};
use crate::runtime::deadline::Deadline;

/// fal lists up to 50 endpoints per call.
const ENDPOINTS_PER_CALL: usize = 50;
/// A day's bill is read whole or not at all; past this many pages (of 100) something is wrong.
const MAX_PAGES: usize = 2_000;

impl FalClient {
    /// The successful requests of `endpoints` that ended on `day`.
    pub async fn bill(
        &self,
        endpoints: &[String],
        day: Day,
        deadline: Deadline,
    ) -> Result<Vec<BillRow>, FalError> {
        let (start, end) = day.unix_ms();
        let at = |ms: i64| crate::domain::timestamp::rfc3339_secs(ms / 1000);
        let mut rows = Vec::new();
        for chunk in endpoints.chunks(ENDPOINTS_PER_CALL) {
            let query = [
                ("endpoint_id", chunk.join(",")),
                ("start", at(start)),
                ("end", at(end)),
                ("status", "success".to_string()),
            ];
            let listing = self.listing(&query, MAX_PAGES, deadline).await?;
            if !listing.complete {
                return Err(FalError::Decode(format!(
                    "the bill for {day} did not end within {MAX_PAGES} pages"
                )));
            }
            let billed = listing
                .items
                .into_iter()
                .filter(|r| r.status_code.is_none_or(|c| (200..300).contains(&c)));
            rows.extend(billed.map(|r| BillRow {
                reference: r.request_id,
                amount: 0,
            }));
        }
        Ok(rows)
    }
}
