//! fal's queue over HTTP: submit under the model id, then status, result and cancel at the URLs
//! the submit returned (always those: for model ids with sub-paths they differ from the id).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::FalConfig;
use crate::runtime::deadline::Deadline;

/// The URLs fal returned for a request, kept as the task's provider handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub status_url: String,
    pub response_url: String,
    pub cancel_url: String,
}

impl Handle {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }

    /// fal's documented URL pattern, for a request whose handle was never recorded.
    pub fn derived(queue_url: &str, model_id: &str, request_id: &str) -> Self {
        let app: Vec<&str> = model_id.split('/').take(2).collect();
        let base = format!("{queue_url}/{}/requests/{request_id}", app.join("/"));
        Self {
            status_url: format!("{base}/status"),
            response_url: base.clone(),
            cancel_url: format!("{base}/cancel"),
        }
    }
}

impl Handle {
    /// The URLs a submit answer names, kept only when they are on the configured queue's
    /// origin (our key goes to every one of them); otherwise fal's documented pattern there.
    pub fn pinned(queue_url: &str, model_id: &str, s: &Submitted) -> Self {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        let ours = origin(queue_url);
        let all_ours = [&s.status_url, &s.response_url, &s.cancel_url]
            .iter()
            .all(|u| ours.is_some() && origin(u) == ours);
        if all_ours {
            return Self {
                status_url: s.status_url.clone(),
                response_url: s.response_url.clone(),
                cancel_url: s.cancel_url.clone(),
            };
        }
        tracing::warn!(status_url = %s.status_url, "fal named URLs off its queue's origin; not used");
        Self::derived(queue_url, model_id, &s.request_id)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Submitted {
    pub request_id: String,
    pub status_url: String,
    pub response_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusAnswer {
    pub status: String,
    #[serde(default)]
    pub queue_position: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
}

/// A failed call to fal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FalError {
    #[error("fal answered HTTP {status}: {detail}")]
    Http {
        status: u16,
        detail: String,
        /// `X-Fal-Error-Type`, when fal says what kind of failure it was.
        error_type: Option<String>,
    },
    #[error("fal did not answer in time")]
    Timeout,
    #[error("could not reach fal: {0}")]
    Transport(String),
    #[error("unexpected answer from fal: {0}")]
    Decode(String),
}

/// One request fal has finished, as its Platform API lists it (`expand=payloads`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Listed {
    pub request_id: String,
    /// When fal received it (RFC 3339).
    #[serde(default)]
    pub sent_at: Option<String>,
    /// The input as fal took it; absent when the account keeps no payloads.
    #[serde(default)]
    pub json_input: Option<Value>,
    /// The HTTP status the request ended with (2xx: an output, which fal bills).
    #[serde(default)]
    pub status_code: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Listed>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

/// The requests of one endpoint that ended since a time; `complete` is false when there were
/// more than we read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub items: Vec<Listed>,
    pub complete: bool,
}

/// Pages of 100 read at most per listing (a bound on one lookup's cost).
const LIST_PAGES: usize = 10;

const READ_ATTEMPTS: u32 = 3;
const READ_RETRY_BASE: Duration = Duration::from_millis(100);

impl FalError {
    /// Worth asking again: fal or the way to it failed, not the request.
    pub fn transient(&self) -> bool {
        match self {
            FalError::Http { status, .. } => *status == 429 || *status >= 500,
            FalError::Timeout | FalError::Transport(_) => true,
            FalError::Decode(_) => false,
        }
    }
}

pub struct FalClient {
    http: reqwest::Client,
    pub(crate) queue_url: String,
    api_url: String,
    key: String,
    timeout: Duration,
    start_timeout: Duration,
}

impl FalClient {
    pub fn new(cfg: &FalConfig) -> Result<Self, FalError> {
        let http = crate::runtime::net::builder()
            .map_err(|e| FalError::Transport(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| FalError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            queue_url: cfg.queue_url.clone(),
            api_url: cfg.api_url.clone(),
            key: cfg.key.clone(),
            timeout: cfg.request_timeout,
            start_timeout: cfg.start_timeout,
        })
    }

    pub async fn submit(
        &self,
        model_id: &str,
        input: &Value,
        webhook: Option<&str>,
        deadline: Deadline,
    ) -> Result<Submitted, FalError> {
        let mut url = format!("{}/{model_id}", self.queue_url);
        if let Some(hook) = webhook {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("fal_webhook", hook)
                .finish();
            url = format!("{url}?{query}");
        }
        let start = self.start_timeout.as_secs().max(1).to_string();
        let req = self
            .http
            .post(url)
            .header("x-fal-request-timeout", start)
            .json(input);
        self.send(req, deadline).await
    }

    /// The requests of `model_id` that ended since `since`, with their inputs (fal's
    /// `GET /v1/models/requests/by-endpoint`), up to `LIST_PAGES` pages.
    pub async fn finished_requests(
        &self,
        model_id: &str,
        since: time::OffsetDateTime,
        deadline: Deadline,
    ) -> Result<Listing, FalError> {
        let query = [
            ("endpoint_id", model_id.to_string()),
            ("start", crate::domain::timestamp::rfc3339(since)),
            ("expand", "payloads".to_string()),
        ];
        self.listing(&query, LIST_PAGES, deadline).await
    }

    /// fal's request listing for `query`, 100 a page, up to `pages` pages.
    pub(super) async fn listing(
        &self,
        query: &[(&str, String)],
        pages: usize,
        deadline: Deadline,
    ) -> Result<Listing, FalError> {
        let base = format!("{}/v1/models/requests/by-endpoint", self.api_url);
        let mut listing = Listing::default();
        let mut cursor: Option<String> = None;
        for _ in 0..pages {
            let mut url = url::Url::parse(&base).map_err(|e| FalError::Decode(e.to_string()))?;
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("limit", "100");
            if let Some(c) = &cursor {
                url.query_pairs_mut().append_pair("cursor", c);
            }
            let page: Page = self.read(url.as_str(), deadline).await?;
            listing.items.extend(page.items);
            match (page.has_more, page.next_cursor) {
                (true, Some(next)) => cursor = Some(next),
                _ => {
                    listing.complete = true;
                    return Ok(listing);
                }
            }
        }
        Ok(listing)
    }

    pub async fn status(&self, h: &Handle, deadline: Deadline) -> Result<StatusAnswer, FalError> {
        self.read(&h.status_url, deadline).await
    }

    pub async fn result(&self, h: &Handle, deadline: Deadline) -> Result<Value, FalError> {
        self.read(&h.response_url, deadline).await
    }

    /// A read is safe to repeat: a 5xx, a 429, a timeout or a lost connection is tried again
    /// (three attempts, within the deadline). A submit never is: a retry could be a second job.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        deadline: Deadline,
    ) -> Result<T, FalError> {
        let mut backoff = READ_RETRY_BASE;
        for _ in 1..READ_ATTEMPTS {
            match self.send(self.http.get(url), deadline).await {
                Err(e) if e.transient() && deadline.remaining().is_none_or(|r| r > backoff) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 3;
                }
                other => return other,
            }
        }
        self.send(self.http.get(url), deadline).await
    }

    /// `CANCELLATION_REQUESTED` (202), or the reason fal gives (`ALREADY_COMPLETED`).
    pub async fn cancel(&self, h: &Handle, deadline: Deadline) -> Result<Value, FalError> {
        self.send(self.http.put(&h.cancel_url), deadline).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        deadline: Deadline,
    ) -> Result<T, FalError> {
        let timeout = deadline
            .remaining()
            .map_or(self.timeout, |r| r.min(self.timeout));
        if timeout.is_zero() {
            return Err(FalError::Timeout);
        }
        let resp = req
            .timeout(timeout)
            .header("authorization", format!("Key {}", self.key))
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let error_type = resp
            .headers()
            .get("x-fal-error-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            let detail = String::from_utf8_lossy(&bytes).chars().take(500).collect();
            return Err(FalError::Http {
                status,
                detail,
                error_type,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| FalError::Decode(format!("HTTP {status}: {e}")))
    }
}

fn transport(e: reqwest::Error) -> FalError {
    if e.is_timeout() {
        FalError::Timeout
    } else {
        FalError::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_on_the_queues_origin_get_our_key() {
        let queue = "https://queue.fal.run";
        let model = "fal-ai/kling-video/v3/pro/text-to-video";
        let answer = |base: &str| Submitted {
            request_id: "req-1".into(),
            status_url: format!("{base}/fal-ai/other-app/requests/req-1/status"),
            response_url: format!("{base}/fal-ai/other-app/requests/req-1"),
            cancel_url: format!("{base}/fal-ai/other-app/requests/req-1/cancel"),
        };
        let derived = Handle::derived(queue, model, "req-1");
        let cases = [
            (answer("https://queue.fal.run"), false),
            (answer("https://evil.example"), true),
            (answer("http://queue.fal.run"), true),
            (answer("https://queue.fal.run:8443"), true),
        ];
        for (s, off_origin) in cases {
            let got = Handle::pinned(queue, model, &s);
            assert_eq!(got == derived, off_origin, "{s:?}");
            assert!(got.status_url.starts_with(queue), "{got:?}");
        }
        let mut mixed = answer(queue);
        mixed.cancel_url = "https://evil.example/cancel".into();
        assert_eq!(Handle::pinned(queue, model, &mixed), derived);
    }
}
