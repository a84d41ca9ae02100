//! One HTTP stack for everything a function calls: AWS (through the SDK), Kling, fal and
//! video downloads all go through reqwest on hyper 1 and rustls with the ring provider.
//!
//! The TLS configuration is built once per process and shared by every client. Its roots are
//! compiled in (Mozilla's, from `webpki-roots`) rather than read from the system: parsing the
//! image's CA bundle took 2.3–5.3 ms of every cold start, more than a whole hello-world
//! Lambda's init, and every endpoint a function calls (AWS, Kling, fal, their CDNs) chains to
//! a public root. The roots move with each build; `SSL_CERT_FILE`, when set, adds its
//! certificates (a corporate proxy's CA, say), read at that one cold start.
//!
//! The SDK crates are built without their own HTTPS client; [`SdkHttp`] hands their requests
//! to our reqwest client. (The published adapters either build their own reqwest clients,
//! which means a second root store and pool, or buffer every response and force HTTP/2.)

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

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
        let roots = roots(std::env::var_os("SSL_CERT_FILE"))?;
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .map_err(|e| TlsSetupError(e.to_string()))
    })
    .clone()
}

/// Mozilla's roots, and the certificates of `extra` (a PEM file) if one is named.
fn roots(extra: Option<std::ffi::OsString>) -> Result<rustls::RootCertStore, TlsSetupError> {
    let mut store = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra {
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsSetupError(format!("SSL_CERT_FILE {}: {e}", path.display())))?;
        store.add_parsable_certificates(certs);
    }
    Ok(store)
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
        // The SDK's read timeout is per read; reqwest's per-request timeout would cut long
        // uploads short, so only the connect timeout (on the client) applies here.
        _settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
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
        // The SDK asks for the connection to close it after a 5xx; reqwest keeps its pool to
        // itself, so there is none to hand over (without this, each retry logs an error).
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(|| {
                Some(
                    ConnectionMetadata::builder()
                        .proxied(false)
                        .poison_fn(|| {})
                        .build(),
                )
            });
        }
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

#[cfg(test)]
mod tests {
    use super::roots;

    #[test]
    fn the_roots_are_compiled_in_and_an_extra_bundle_adds_to_them() {
        let compiled = roots(None).map(|r| r.len()).unwrap_or_default();
        assert!(compiled > 100, "{compiled} roots");
        let dir = std::env::temp_dir().join(format!("roots-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let none = dir.join("none.pem");
        assert!(
            roots(Some(none.into_os_string())).is_err(),
            "a named file must exist"
        );
        let empty = dir.join("empty.pem");
        let _ = std::fs::write(&empty, "");
        let with_empty = roots(Some(empty.into_os_string())).map(|r| r.len());
        assert_eq!(with_empty.ok(), Some(compiled));
    }
}
