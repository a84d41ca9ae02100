//! devices: `POST /v1/devices` registers an APNs or FCM token for the caller (an SNS platform
//! endpoint), `DELETE /v1/devices/{id}` removes it. notify pushes terminal events to them.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use shared::aws::PlatformApps;
use shared::domain::notice::Platform;
use shared::domain::timestamp::Timestamp;
use shared::edge::auth::{AuthMode, Identity, identify};
use shared::edge::envelope::{ApiError, answer, json_response, logged_internal as internal};
use shared::edge::request::{self, header};
use shared::ports::{Device, Devices, LiveActivities, PushEndpoints, Tasks};

mod live;

pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub auth: AuthMode,
    pub push_apps: PlatformApps,
    /// Live Activity pushes are configured (notify's `APNS_TOPIC`).
    pub live_activities: bool,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            auth: AuthMode::from_source(src)?,
            push_apps: PlatformApps::from_source(src),
            live_activities: src.optional("APNS_TOPIC").is_some_and(|t| !t.is_empty()),
        })
    }
}

pub struct App<S, E> {
    pub store: S,
    pub push: E,
    /// Which platforms have an SNS platform application.
    pub apps: PlatformApps,
    pub auth: AuthMode,
    pub live_activities: bool,
}

/// What devices needs of the table: devices, and tasks with their Live Activities.
pub trait Store: Devices + Tasks + LiveActivities {}
impl<T: Devices + Tasks + LiveActivities> Store for T {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub platform: String,
    pub token: String,
}

#[derive(Debug, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub platform: Platform,
    pub created_at: Timestamp,
}

/// The registration's platform and token, or why not. APNs tokens are hex; FCM registration
/// tokens are URL-safe text with colons.
pub fn validate(reg: &Registration) -> Result<(Platform, &str), ApiError> {
    let platform = match reg.platform.as_str() {
        "apns" => Platform::Apns,
        "apns_sandbox" => Platform::ApnsSandbox,
        "fcm" => Platform::Fcm,
        _ => {
            return Err(ApiError::new(
                422,
                "invalid_platform",
                "platform must be apns, apns_sandbox or fcm",
            )
            .with_field("platform"));
        }
    };
    let token = reg.token.as_str();
    let ok = match platform {
        Platform::Apns | Platform::ApnsSandbox => {
            (64..=200).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
        }
        Platform::Fcm => {
            (20..=4096).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b))
        }
    };
    if !ok {
        return Err(ApiError::new(
            422,
            "invalid_device_token",
            "token is not a device token of that platform",
        )
        .with_field("token"));
    }
    Ok((platform, token))
}

/// The most devices one user keeps: registering one more replaces the oldest. It also bounds a
/// status change's push fan-out (notify pushes to each of them) and what fake registrations
/// can cost.
pub const MAX_DEVICES_PER_USER: usize = 10;

/// Registering the same token again names the same device (SNS answers the same endpoint).
pub fn device_id(endpoint: &str) -> String {
    let digest = sha2::Sha256::digest(endpoint.as_bytes());
    format!("dev_{}", &hex::encode(digest)[..24])
}

pub async fn handle<S: Store, E: PushEndpoints>(app: &App<S, E>, req: Request) -> Response<Body> {
    answer("devices", &req, route(app, &req)).await
}

async fn route<S: Store, E: PushEndpoints>(
    app: &App<S, E>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    let segments = request::segments(req);
    if !matches!(
        (method, segments.as_slice()),
        ("POST", ["v1", "devices"])
            | ("DELETE", ["v1", "devices", _])
            | ("POST", ["v1", "videos", _, "live-activity"])
    ) {
        return Err(ApiError::route_not_found(method, req.uri().path()));
    }
    let identity = identify(
        &app.auth,
        request::authorizer_claims(req),
        header(req, "authorization"),
    )?;
    match segments.as_slice() {
        ["v1", "devices", id] => remove(app, &identity, id).await,
        ["v1", "videos", id, _] => {
            live::register(app, &identity, id, request::json_body(req)?).await
        }
        _ => register(app, &identity, request::json_body(req)?).await,
    }
}

async fn register<S: Store, E: PushEndpoints>(
    app: &App<S, E>,
    identity: &Identity,
    reg: Registration,
) -> Result<Response<Body>, ApiError> {
    let (platform, token) = validate(&reg)?;
    if app.apps.arn(platform).is_none() {
        return Err(ApiError::new(
            422,
            "push_not_configured",
            "this deployment has no push configured for that platform",
        )
        .with_field("platform"));
    }
    let user = identity.user_id.as_str();
    let endpoint = app
        .push
        .create_endpoint(platform, token, user)
        .await
        .map_err(|e| internal("creating the push endpoint failed", e))?;
    let device = Device {
        id: device_id(&endpoint),
        user_id: user.into(),
        platform,
        endpoint,
        created_at: Timestamp::now(),
    };
    app.store
        .put_device(&device)
        .await
        .map_err(|e| internal("recording the device failed", e))?;
    tracing::info!(device = %device.id, "device registered");
    keep_newest(app, user, &device.id).await?;
    let view = DeviceView {
        id: device.id,
        platform,
        created_at: device.created_at,
    };
    Ok(json_response(201, &view))
}

/// The oldest of the user's devices past the cap, removed (the one just registered stays).
async fn keep_newest<S: Store, E: PushEndpoints>(
    app: &App<S, E>,
    user: &str,
    registered: &str,
) -> Result<(), ApiError> {
    let mut devices = app
        .store
        .devices_of(user)
        .await
        .map_err(|e| internal("listing the devices failed", e))?;
    devices.sort_by_key(|d| (d.id == registered, d.created_at));
    let excess = devices.len().saturating_sub(MAX_DEVICES_PER_USER);
    for old in devices.iter().take(excess) {
        tracing::info!(device = %old.id, "over the device cap; the oldest is replaced");
        forget(app, user, &old.id).await?;
    }
    Ok(())
}

/// Removes one of the user's device records; its push endpoint goes too unless the token now
/// belongs to another user (the same phone signed in to another account has the same
/// endpoint, which is theirs now). The removed record, if it was there.
async fn forget<S: Store, E: PushEndpoints>(
    app: &App<S, E>,
    user: &str,
    id: &str,
) -> Result<Option<Device>, ApiError> {
    let Some(removed) = app
        .store
        .remove_device(user, id)
        .await
        .map_err(|e| internal("removing the device failed", e))?
    else {
        return Ok(None);
    };
    let owner = app
        .store
        .owner_of(id)
        .await
        .map_err(|e| internal("reading the device's owner failed", e))?;
    if owner.as_ref().is_some_and(|o| o.as_str() != user) {
        tracing::info!(device = %id, "the endpoint belongs to another user now; kept");
    } else if let Err(e) = app.push.delete_endpoint(&removed.endpoint).await {
        tracing::warn!(error = %e, "push endpoint not deleted; it will be removed once disabled");
    }
    Ok(Some(removed))
}

async fn remove<S: Store, E: PushEndpoints>(
    app: &App<S, E>,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    forget(app, identity.user_id.as_str(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    tracing::info!(device = %id, "device removed");
    Ok(Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_else(|_| Response::new(Body::Empty)))
}
