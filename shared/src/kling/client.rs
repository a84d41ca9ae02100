use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::KlingConfig;
use super::error::KlingError;
use super::jwt::JwtMinter;
use super::wire::{Envelope, KlingTask, Text2VideoRequest};

/// Which id a query uses; Kling's query path accepts either.
#[derive(Debug, Clone, Copy)]
pub enum TaskRef<'a> {
    Provider(&'a str),
    External(&'a str),
}

impl TaskRef<'_> {
    fn id(&self) -> &str {
        match self {
            TaskRef::Provider(id) | TaskRef::External(id) => id,
        }
    }
}

pub struct KlingClient {
    http: reqwest::Client,
    base_url: url::Url,
    minter: JwtMinter,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl KlingClient {
    pub fn new(cfg: &KlingConfig) -> Result<Self, KlingError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| KlingError::Transport(e.to_string()))?;
        let base_url =
            url::Url::parse(&cfg.base_url).map_err(|e| KlingError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base_url,
            minter: JwtMinter::new(&cfg.access_key, &cfg.secret_key),
        })
    }

    pub async fn create_text2video(
        &self,
        req: &Text2VideoRequest,
    ) -> Result<KlingTask, KlingError> {
        self.call(
            reqwest::Method::POST,
            &["v1", "videos", "text2video"],
            Some(req),
        )
        .await
    }

    pub async fn query_text2video(&self, task: TaskRef<'_>) -> Result<KlingTask, KlingError> {
        self.call::<(), _>(
            reqwest::Method::GET,
            &["v1", "videos", "text2video", task.id()],
            None,
        )
        .await
    }

    fn url(&self, segments: &[&str]) -> Result<url::Url, KlingError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| KlingError::Transport("KLING_BASE_URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// One call, re-minting the token once when Kling says it is not yet or no longer valid.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, KlingError> {
        match self.call_once(method.clone(), segments, body).await {
            Err(e) if e.is_token_timing() => {
                self.minter.invalidate();
                self.call_once(method, segments, body).await
            }
            other => other,
        }
    }

    async fn call_once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, KlingError> {
        let token = self
            .minter
            .token_at(unix_now())
            .map_err(|e| KlingError::Signing(e.to_string()))?;
        let mut req = self
            .http
            .request(method, self.url(segments)?)
            .bearer_auth(token)
            .header("content-type", "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport_error)?;
        decode(status, &bytes)
    }
}

fn transport_error(e: reqwest::Error) -> KlingError {
    if e.is_timeout() {
        KlingError::Timeout
    } else {
        KlingError::Transport(e.to_string())
    }
}

fn decode<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, KlingError> {
    let envelope: Envelope<T> = match serde_json::from_slice(bytes) {
        Ok(env) => env,
        // A proxy's HTML error page: transient when the server side failed.
        Err(_) if status >= 500 => {
            return Err(KlingError::Transport(format!(
                "HTTP {status} without a Kling body"
            )));
        }
        Err(e) => return Err(KlingError::Decode(format!("HTTP {status}: {e}"))),
    };
    if envelope.code != 0 || !(200..300).contains(&status) {
        return Err(KlingError::Api {
            http_status: status,
            code: envelope.code,
            message: envelope.message,
        });
    }
    envelope
        .data
        .ok_or_else(|| KlingError::Decode("success without data".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let ok = br#"{"code":0,"message":"SUCCEED","request_id":"r","data":{"task_id":"1","task_status":"submitted"}}"#;
        assert_eq!(decode::<KlingTask>(200, ok).unwrap().task_id, "1");

        let limited =
            br#"{"code":1303,"message":"parallel task over resource pack limit","request_id":"r"}"#;
        let err = decode::<KlingTask>(429, limited).unwrap_err();
        assert_eq!(err.code(), Some(1303));
        assert!(err.is_retryable());

        let arrears = br#"{"code":1101,"message":"account in arrears","request_id":"r"}"#;
        assert!(
            !decode::<KlingTask>(429, arrears)
                .unwrap_err()
                .is_retryable()
        );

        assert!(
            decode::<KlingTask>(502, b"<html>bad gateway</html>")
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            !decode::<KlingTask>(200, b"not json")
                .unwrap_err()
                .is_retryable()
        );
        assert!(matches!(
            decode::<KlingTask>(200, br#"{"code":0,"message":"SUCCEED"}"#),
            Err(KlingError::Decode(_))
        ));
    }
}
