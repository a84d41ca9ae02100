//! One HTTP stack for everything a function calls: AWS (through the SDK), Kling, fal and
//! video downloads all go through reqwest on hyper 1 and rustls with the ring provider.
//!
//! The TLS configuration (and with it the system's root store, read by the platform
//! verifier) is built once per process and shared by every client. The system store rather
//! than compiled-in roots: on `provided.al2023` it is one bundle file that the image's
//! updates keep current, which a binary built months ago would not be.
//!
//! The SDK crates are built without their own HTTPS client; [`SdkHttp`] hands their requests
//! to our reqwest client. (The published adapters either build their own reqwest clients,
//! which means a second root store and pool, or buffer every response and force HTTP/2.)

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use rustls_platform_verifier::BuilderVerifierExt;

#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS set-up failed: {0}")]
pub struct TlsSetupError(String);

static TLS: OnceLock<Result<rustls::ClientConfig, TlsSetupError>> = OnceLock::new();

/// The process's TLS client configuration, built on first use.
pub fn tls() -> Result<rustls::ClientConfig, TlsSetupError> {
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // For clients built without this configuration (test tools, libraries).
        let _ = rustls::crypto::CryptoProvider::install_default((*provider).clone());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_platform_verifier())
            .map(|b| b.with_no_client_auth())
            .map_err(|e| TlsSetupError(e.to_string()))
    })
    .clone()
}

/// A reqwest builder on the shared TLS configuration; callers add their own policies.
pub fn builder() -> Result<reqwest::ClientBuilder, TlsSetupError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls()?))
}

/// A plain client on the shared configuration (for tools and tests).
pub fn client() -> Result<reqwest::Client, NetError> {
    Ok(builder()?.build()?)
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("HTTP client set-up failed: {0}")]
    Build(#[from] reqwest::Error),
}

/// The SDK's HTTP client: every AWS call goes through one reqwest client.
#[derive(Debug, Clone)]
pub struct SdkHttp {
    client: reqwest::Client,
}

impl SdkHttp {
    /// Redirects are the SDK's to see, never followed here.
    pub fn new() -> Result<Self, NetError> {
        let client = builder()?
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(3100))
            .build()?;
        Ok(Self { client })
    }
}

impl HttpClient for SdkHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The SDK's read timeout is per read; reqwest's per-request timeout would cut long
        // uploads short, so only the connect timeout (on the client) applies here.
        let _ = settings;
        SharedHttpConnector::new(SdkConnector {
            client: self.client.clone(),
        })
    }
}

#[derive(Debug)]
struct SdkConnector {
    client: reqwest::Client,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request.map(reqwest::Body::wrap),
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let request = match reqwest::Request::try_from(request) {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(connector_error(e))),
        };
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let response: http::Response<reqwest::Body> = client
                .execute(request)
                .await
                .map_err(connector_error)?
                .into();
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK retries I/O errors and timeouts (a dropped connection is reqwest's "request"
/// error), never a request that could not be built.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_builder() {
        ConnectorError::user(e.into())
    } else if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() {
        ConnectorError::io(e.into()).never_connected()
    } else if e.is_request() || e.is_body() || e.is_decode() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
