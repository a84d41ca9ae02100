//! Calls functions through the Lambda Invoke API over HTTP, as an event source mapping or a
//! schedule would: the same client works against `cargo lambda watch` and the built-in host.

use bytes::Bytes;

#[derive(Clone)]
pub struct Invoker {
    http: reqwest::Client,
    endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeFailure {
    #[error("could not reach the Lambda endpoint: {0}")]
    Transport(String),
    #[error("the function failed: {0}")]
    Function(String),
}

impl Invoker {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            http: shared::runtime::net::client().expect("HTTP client"),
            endpoint: endpoint.into(),
        }
    }

    pub async fn invoke(
        &self,
        function: &str,
        payload: &serde_json::Value,
    ) -> Result<Bytes, InvokeFailure> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint
        );
        let resp = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| InvokeFailure::Transport(e.to_string()))?;
        let function_error = resp.headers().contains_key("x-amz-function-error");
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| InvokeFailure::Transport(e.to_string()))?;
        if function_error || !status.is_success() {
            return Err(InvokeFailure::Function(
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        Ok(body)
    }
}
