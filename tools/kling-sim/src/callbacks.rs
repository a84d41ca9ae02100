//! Callbacks: the bare task object POSTed to `callback_url` on each status change, unsigned.

use serde_json::Value;

pub async fn deliver(http: &reqwest::Client, url: &str, body: &Value) {
    match http.post(url).json(body).send().await {
        Ok(resp) => tracing::debug!(%url, status = resp.status().as_u16(), "callback delivered"),
        Err(e) => tracing::warn!(%url, error = %e, "callback failed"),
    }
}
