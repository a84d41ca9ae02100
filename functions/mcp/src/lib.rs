//! mcp: the agent tool surface, a Model Context Protocol server over Streamable HTTP (stateless,
//! JSON answers, so it fits a Lambda behind the API's own authorizer). Its tools are the HTTP
//! API's operations, made with the caller's own authorization (the Lambda sends them to the API
//! itself; tests answer them with the handlers in process), so every call goes through the
//! same validation, moderation, plans and idempotency, and an error comes back with the code
//! the HTTP API gives. Input schemas are the HTTP API's, taken from `api/openapi.yaml`.

pub mod auth;
mod schemas;

use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Map, Value, json};

pub use schemas::{SchemaError, tools};

/// Where the Lambda sends the tools' API calls: `MCP_API_BASE_URL`, else the API domain each
/// request came in on; and the authorization server its metadata names
/// (`MCP_AUTHORIZATION_SERVER`, the Cognito user pool's issuer; else the API's origin).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub api_base: Option<String>,
    pub authorization_server: Option<String>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        let clean = |v: String| Some(v.trim().trim_end_matches('/').to_string());
        Ok(Self {
            api_base: src
                .optional("MCP_API_BASE_URL")
                .and_then(clean)
                .filter(|b| !b.is_empty()),
            authorization_server: src
                .optional("MCP_AUTHORIZATION_SERVER")
                .and_then(clean)
                .filter(|b| !b.is_empty()),
        })
    }
}

/// Where the tools' HTTP requests are answered: the functions' handlers, in process.
pub trait Backend: Send + Sync + 'static {
    fn call(&self, req: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// The MCP server: the tools and the handlers behind them. Clones share both.
pub struct Tools<B> {
    backend: Arc<B>,
    catalog: Arc<Vec<Tool>>,
}

impl<B> Clone for Tools<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            catalog: self.catalog.clone(),
        }
    }
}

impl<B: Backend> Tools<B> {
    pub fn new(backend: B) -> Result<Self, SchemaError> {
        Ok(Self {
            backend: Arc::new(backend),
            catalog: Arc::new(tools()?),
        })
    }
}

/// One API call a tool makes.
pub(crate) struct ApiCall {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
    pub(crate) key: Option<String>,
}

fn invalid(message: &str) -> ErrorData {
    ErrorData::invalid_params(message.to_string(), None)
}

/// The Idempotency-Key of a `create_video` call: the client's, as on the HTTP API. Nothing the
/// server sees tells a retry from a new request (JSON-RPC ids restart with every session, and
/// the 2026 protocol has no session), so a key made from the call would hand a new session the
/// old task; a call without one is refused.
fn idempotency_key(args: &Map<String, Value>) -> Result<String, ErrorData> {
    match args.get("idempotency_key") {
        Some(Value::String(k)) if !k.is_empty() => Ok(k.clone()),
        None | Some(Value::Null) => Err(invalid(
            "`idempotency_key` is required: a new value for each video, the same one to retry",
        )),
        Some(_) => Err(invalid("`idempotency_key` must be a non-empty string")),
    }
}

fn api_call(params: &CallToolRequestParams) -> Result<ApiCall, ErrorData> {
    let args = params.arguments.clone().unwrap_or_default();
    let request = || {
        args.get("request")
            .cloned()
            .ok_or_else(|| invalid("`request` is required"))
    };
    let call = |method, path: &str, body, key| ApiCall {
        method,
        path: path.into(),
        body,
        key,
    };
    match params.name.as_ref() {
        "estimate_video" => Ok(call(
            http::Method::POST,
            "/v1/videos/estimate",
            Some(request()?),
            None,
        )),
        "create_video" => {
            let body = request()?;
            let key = idempotency_key(&args)?;
            Ok(call(
                http::Method::POST,
                "/v1/videos",
                Some(body),
                Some(key),
            ))
        }
        "get_video" => match args.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && !id.contains(['/', '?', '#']) => Ok(call(
                http::Method::GET,
                &format!("/v1/videos/{id}"),
                None,
                None,
            )),
            _ => Err(invalid("`id` must be a task id")),
        },
        "list_templates" => Ok(call(http::Method::GET, "/v1/templates", None, None)),
        other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
    }
}

/// The HTTP request as the API would receive it from this caller: the same authorization
/// header and, behind API Gateway, the same authorizer claims.
pub(crate) fn to_request(
    call: ApiCall,
    parts: Option<&http::request::Parts>,
) -> Result<Request, ErrorData> {
    let mut builder = http::Request::builder()
        .method(call.method)
        .uri(&call.path)
        .header("content-type", "application/json");
    if let Some(auth) = parts.and_then(|p| p.headers.get("authorization")) {
        builder = builder.header("authorization", auth);
    }
    if let Some(key) = &call.key {
        builder = builder.header("idempotency-key", key);
    }
    let body = call.body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
    let mut req = builder
        .body(body)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let context = parts.and_then(|p| p.extensions.get::<lambda_http::request::RequestContext>());
    if let Some(context) = context {
        req.extensions_mut().insert(context.clone());
    }
    Ok(req)
}

/// The API's answer as a tool result: its JSON, flagged as an error when it is one (the
/// envelope, with the HTTP API's code).
fn to_result(resp: Response<Body>) -> CallToolResult {
    let status = resp.status();
    let value: Value = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let value = json!({ "status": status.as_u16(), "body": value });
    if status.is_success() {
        CallToolResult::structured(value)
    } else {
        CallToolResult::structured_error(value)
    }
}

impl<B: Backend> rmcp::ServerHandler for Tools<B> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.catalog.as_ref().clone(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = api_call(&request)?;
        let parts = context.extensions.get::<http::request::Parts>();
        let req = to_request(call, parts)?;
        tracing::info!(tool = %request.name, "tool call");
        Ok(to_result(self.backend.call(req).await).into())
    }
}

/// The Streamable HTTP endpoint (API Gateway routes `/mcp` to it): stateless, JSON answers.
pub fn service<B: Backend>(
    tools: Tools<B>,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    Tools<B>,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // Behind API Gateway the Host is the API's domain; the authorizer guards the route.
        .disable_allowed_hosts();
    StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// The Streamable HTTP service the endpoint runs.
pub type McpService<B> = rmcp::transport::streamable_http_server::StreamableHttpService<
    Tools<B>,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
>;

/// The whole endpoint: the protected resource metadata, the 401 challenge for a caller without
/// a good token, and the MCP service for everyone else. Clones share everything.
pub struct Endpoint<B> {
    tools: Tools<B>,
    mcp: McpService<B>,
    settings: Arc<Settings>,
}

impl<B> Clone for Endpoint<B> {
    fn clone(&self) -> Self {
        Self {
            tools: self.tools.clone(),
            mcp: self.mcp.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<B: Backend> Endpoint<B> {
    pub fn new(tools: Tools<B>, settings: Settings) -> Self {
        Self {
            mcp: service(tools.clone()),
            tools,
            settings: Arc::new(settings),
        }
    }

    pub async fn handle<RB>(&self, req: http::Request<RB>) -> auth::HttpResponse
    where
        RB: http_body::Body + Send + 'static,
        RB::Error: std::fmt::Display,
        RB::Data: Send + 'static,
    {
        let (parts, body) = req.into_parts();
        let origin = auth::origin(&parts, self.settings.api_base.as_deref());
        if auth::is_metadata(parts.uri.path()) {
            let server = self.settings.authorization_server.as_deref();
            return auth::json_response(200, &auth::metadata(&origin, server));
        }
        match auth::verdict(self.tools.backend.as_ref(), &parts).await {
            auth::Verdict::Allowed => {
                self.mcp
                    .handle(http::Request::from_parts(parts, body))
                    .await
            }
            refused => auth::challenge(&origin, refused, &auth::request_id(&parts)),
        }
    }
}
