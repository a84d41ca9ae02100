//! IAM checked locally. moto checks no permission, so a call that works here may be denied in
//! AWS. Every function signs its AWS calls with its own local access key; a proxy in front of
//! moto reads each call (action, resource, DynamoDB partition keys), checks it against that
//! function's statements in `infra/template.yaml`, and answers a call the role does not allow
//! as AWS would (access denied), recording function, action and resource. The stack fails the
//! run on any denial when it stops.

pub mod intrinsics;
pub mod policy;
pub mod request;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::{DevError, forward};
use policy::Policies;
use request::{Call, Request};

const KEY_PREFIX: &str = "local-fn-";

/// The access key a function signs with locally: it names the function to the proxy.
/// (The stack itself and the tests sign as `test`: they stand for AWS and are not checked.)
pub fn access_key(function: &str) -> String {
    format!("{KEY_PREFIX}{function}")
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Denial {
    pub function: String,
    pub call: Call,
    /// Why the call could not be read, when it could not.
    pub unreadable: Option<String>,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.call;
        write!(
            f,
            "{} may not {} on {}",
            self.function, c.action, c.resource
        )?;
        if !c.leading_keys.is_empty() {
            write!(f, " (partition keys {})", c.leading_keys.join(", "))?;
        }
        if let Some(why) = &self.unreadable {
            write!(f, " — the request could not be read: {why}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Record {
    denials: Vec<Denial>,
    /// Allowed calls: function, action, resource, partition key prefix (up to `#`).
    allowed: BTreeSet<(String, String, String, String)>,
    /// Requests by function and operation (`TransactWriteItems`, `s3:PutObject`).
    counts: std::collections::BTreeMap<(String, String), u64>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    policies: Arc<Policies>,
    record: Arc<Mutex<Record>>,
}

/// A running check; `endpoint` goes where moto's would.
pub struct IamProxy {
    pub endpoint: String,
    record: Arc<Mutex<Record>>,
}

impl IamProxy {
    pub async fn start(upstream: &str, policies: Policies) -> Result<Self, DevError> {
        let record = Arc::new(Mutex::new(Record::default()));
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: shared::runtime::net::client()
                .map_err(|e| DevError::Process(format!("IAM proxy: {e}")))?,
            policies: Arc::new(policies),
            record: record.clone(),
        };
        let app = axum::Router::new().fallback(check).with_state(proxy);
        Ok(Self {
            endpoint: forward::serve("IAM proxy", app).await?,
            record,
        })
    }

    /// Calls denied so far.
    pub fn denials(&self) -> Vec<Denial> {
        self.record
            .lock()
            .map(|r| r.denials.clone())
            .unwrap_or_default()
    }

    /// Calls denied so far, which a test that expects them takes (the stack fails the run on
    /// any left when it stops).
    pub fn take_denials(&self) -> Vec<Denial> {
        self.record
            .lock()
            .map(|mut r| std::mem::take(&mut r.denials))
            .unwrap_or_default()
    }

    /// Every function's AWS requests so far, by function and operation.
    pub fn counts(&self) -> std::collections::BTreeMap<(String, String), u64> {
        self.record
            .lock()
            .map(|r| r.counts.clone())
            .unwrap_or_default()
    }

    /// What each function was allowed to do, one line per function, action, resource and
    /// partition key prefix: the evidence for narrowing a policy.
    pub fn allowed(&self) -> Vec<String> {
        let Ok(r) = self.record.lock() else {
            return Vec::new();
        };
        r.allowed
            .iter()
            .map(|(f, a, res, key)| format!("{f}\t{a}\t{res}\t{key}"))
            .collect()
    }
}

async fn check(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = verdict(&p, &method, &uri, &headers, &body) {
        return denied;
    }
    match forward::send(&p.http, &p.upstream, method, &uri, &headers, body).await {
        Ok(reply) => forward::relay(reply).await,
        Err(failed) => failed,
    }
}

/// The access-denied answer for a call the caller's role does not allow; `None` to forward.
fn verdict(
    p: &Proxy,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let query = uri.query().unwrap_or("");
    let (key, service) = request::signer(header("authorization"), query)?;
    let function = key.strip_prefix(KEY_PREFIX)?.to_string();
    let req = Request {
        method: method.as_str(),
        path: uri.path(),
        query,
        target: header("x-amz-target"),
        copy_source: header("x-amz-copy-source"),
        body,
    };
    let (calls, unreadable) = match request::calls(&service, &req) {
        Ok(calls) => (calls, None),
        Err(why) => {
            let call = Call {
                action: format!("{service}:?"),
                resource: uri.path().to_string(),
                leading_keys: Vec::new(),
            };
            (vec![call], Some(why))
        }
    };
    let mut record = p.record.lock().ok()?;
    // One request, one count: the JSON protocols name their operation, S3 its first action.
    let operation = req
        .target
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_string)
        .or_else(|| calls.first().map(|c| c.action.clone()))
        .unwrap_or_else(|| format!("{service}:?"));
    *record
        .counts
        .entry((function.clone(), operation))
        .or_default() += 1;
    for call in calls {
        if unreadable.is_none() && p.policies.allows(&function, &call) {
            record.allowed.insert(summary(&function, &call));
            continue;
        }
        let denial = Denial {
            function,
            call,
            unreadable,
        };
        tracing::error!(target: "devstack::iam", "{denial}");
        let answer = denied(&service, &denial);
        record.denials.push(denial);
        return Some(answer);
    }
    None
}

fn summary(function: &str, call: &Call) -> (String, String, String, String) {
    let key = |k: &String| {
        k.split_once('#')
            .map_or(k.clone(), |(p, _)| format!("{p}#"))
    };
    let keys: BTreeSet<String> = call.leading_keys.iter().map(key).collect();
    // An object's key names a user and a task: keep the bucket and the top-level prefix.
    let resource = match call.resource.strip_prefix("arn:aws:s3:::") {
        Some(path) => match path.split_once('/') {
            Some((bucket, key)) => {
                let top = key.split('/').next().unwrap_or("");
                format!("arn:aws:s3:::{bucket}/{top}/*")
            }
            None => call.resource.clone(),
        },
        None if call.action.starts_with("sns:") => call
            .resource
            .rsplit_once('/')
            .map_or(call.resource.clone(), |(head, _)| format!("{head}/*")),
        None => call.resource.clone(),
    };
    let keys = keys.into_iter().collect::<Vec<_>>().join(",");
    (function.to_string(), call.action.clone(), resource, keys)
}

/// Access denied in the shape the service's SDK reads.
fn denied(service: &str, denial: &Denial) -> Response {
    let message = format!(
        "User: {} is not authorized to perform: {} on resource: {} (local IAM check)",
        denial.function, denial.call.action, denial.call.resource
    );
    match service {
        "s3" => xml(format!(
            "<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
        )),
        "sns" => xml(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>{message}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
        )),
        _ => {
            let body = serde_json::json!({"__type": "AccessDeniedException", "message": message});
            let mut r = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
            r.headers_mut().insert(
                "x-amzn-errortype",
                axum::http::HeaderValue::from_static("AccessDeniedException"),
            );
            r.headers_mut().insert(
                "content-type",
                axum::http::HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            r
        }
    }
}

fn xml(body: String) -> Response {
    let mut r = (StatusCode::FORBIDDEN, body).into_response();
    r.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/xml"),
    );
    r
}
