//! API Gateway events and responses for handler tests, and a task fixture.

use crate::domain::task::{CostUnits, Mode, Quality, Task, TaskStatus};
use crate::domain::timestamp::Timestamp;

/// An API Gateway (payload 2.0) request as the functions receive it, for `user` (authorizer
/// claims; `None` sends no identity) with an optional plan group.
pub struct HttpEvent {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub user: Option<String>,
    pub plan: Option<String>,
}

impl HttpEvent {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            user: Some("alice".into()),
            plan: None,
        }
    }

    pub fn user(mut self, user: Option<&str>) -> Self {
        self.user = user.map(str::to_string);
        self
    }

    pub fn plan(mut self, plan: &str) -> Self {
        self.plan = Some(plan.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn event(&self) -> serde_json::Value {
        use serde_json::json;
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
            .chain([("host".to_string(), json!("api.example.com"))])
            .collect();
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut context = json!({
            "accountId": "123456789012", "apiId": "test", "domainName": "api.example.com",
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "test"},
            "requestId": "test-request", "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:02:00:00 +0000", "timeEpoch": 1795658400000i64,
        });
        if let Some(user) = &self.user {
            let mut claims = json!({"sub": user});
            if let Some(plan) = &self.plan {
                claims["cognito:groups"] = json!(format!("[plan:{plan}]"));
            }
            context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": self.path,
            "rawQueryString": raw_query, "headers": headers, "requestContext": context,
            "isBase64Encoded": false,
        });
        if !self.query.is_empty() {
            let q: serde_json::Map<String, serde_json::Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            event["queryStringParameters"] = serde_json::Value::Object(q);
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body);
        }
        event
    }

    pub fn request(&self) -> lambda_http::Request {
        request_from(&self.event().to_string())
    }
}

/// A request from a payload 2.0 event document (a sample in `events/`).
pub fn request_from(event: &str) -> lambda_http::Request {
    match lambda_http::request::from_str(event) {
        Ok(req) => req,
        Err(e) => panic!("not an API Gateway event: {e}"),
    }
}

/// Status, headers and JSON body of a handler's response.
pub fn response_parts(
    resp: lambda_http::Response<lambda_http::Body>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        lambda_http::Body::Binary(b) => {
            serde_json::from_slice(b).unwrap_or(serde_json::Value::Null)
        }
        _ => serde_json::Value::Null,
    };
    (status, headers, body)
}

/// What the dispatcher would submit for task `id` (a 5-s standard text-to-video).
pub fn request_fixture(id: &str) -> crate::provider::GenerationRequest {
    let model = crate::provider::ModelChoice {
        model: "fake-model-1".into(),
        mode: Mode::Std,
    };
    let kind = crate::domain::task::VideoType::TextToVideo;
    crate::provider::GenerationRequest {
        task_id: id.into(),
        prompt: Some("a red fox".into()),
        callback_url: Some(format!("https://api.example.com/webhooks/fake/{id}/t")),
        ..crate::provider::GenerationRequest::of_shape(kind, model)
    }
}

/// A five-second standard text-to-video task in `CREATED`, as create-task records it.
pub fn task_fixture(id: &str, user_id: &str, provider: &str) -> Task {
    let now = Timestamp::now();
    Task {
        id: id.into(),
        user_id: user_id.into(),
        status: TaskStatus::Created,
        video_type: crate::domain::task::VideoType::TextToVideo,
        prompt: Some("a red fox in snow".into()),
        negative_prompt: None,
        duration: 5,
        aspect_ratio: Some(crate::domain::task::AspectRatio::Landscape),
        quality: Quality::Standard,
        model: "fake-model-1".into(),
        mode: Mode::Std,
        cost_units: CostUnits(500),
        provider: provider.into(),
        provider_ref: None,
        provider_handle: None,
        created_at: now,
        updated_at: now,
        submitted_at: None,
        completed_at: None,
        error: None,
        video: None,
        checked_at: None,
        deleted_at: None,
        priority: 1,
        queue_deadline: None,
        request: None,
        submit_attempted_at: None,
        retry_at: None,
        plan: Some("free".into()),
        provider_facts: Default::default(),
        template: None,
        group_id: None,
        cached_from: None,
        upgraded_from: None,
        source_task: None,
    }
}
