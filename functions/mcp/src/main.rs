use lambda_http::{Body, Error, Request, Response};
use mcp::{Backend, Endpoint, Tools};

/// The API itself, over HTTPS, with the caller's own authorization: the same authorizer, the
/// same functions, the same checks. (Running the handlers in process made this Lambda carry
/// both of them and went over the 3.5 MB zip budget.)
struct Api {
    http: reqwest::Client,
    /// `MCP_API_BASE_URL`; empty: the API domain this request came in on.
    base: Option<String>,
}

fn answer(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

impl Api {
    fn base(&self, req: &Request) -> Option<String> {
        self.base
            .clone()
            .or_else(|| shared::edge::request::api_base(req))
    }
}

impl Backend for Api {
    async fn call(&self, req: Request) -> Response<Body> {
        let Some(base) = self.base(&req) else {
            tracing::error!("no MCP_API_BASE_URL and no domain name on the request");
            let envelope = shared::edge::envelope::ApiError::internal();
            return shared::edge::envelope::error_response(&envelope, "");
        };
        let url = format!("{base}{}", req.uri());
        let mut out = self.http.request(req.method().clone(), url);
        for name in ["authorization", "content-type", "idempotency-key"] {
            if let Some(v) = req.headers().get(name) {
                out = out.header(name, v);
            }
        }
        if let Body::Text(t) = req.body() {
            out = out.body(t.clone());
        }
        match out.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                answer(status, resp.text().await.unwrap_or_default())
            }
            Err(e) => {
                tracing::error!(error = %e, "the API did not answer");
                shared::edge::envelope::error_response(
                    &shared::edge::envelope::ApiError::internal(),
                    "",
                )
            }
        }
    }
}

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let settings = mcp::Settings::from_source(&shared::runtime::config::ProcessEnv)?;
    let base = settings.api_base.clone();
    let api = Api {
        http: shared::runtime::net::builder()?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(25))
            .build()?,
        base,
    };
    let endpoint = Endpoint::new(Tools::new(api)?, settings);
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, std::convert::Infallible>(endpoint.handle(req).await) }
    }))
    .await
}
