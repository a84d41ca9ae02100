//! Why a request is refused, as the app will see it: an HTTP status and a stable machine code.
//! The domain's rules answer with these; `edge::envelope` renders them.

/// Every stable error code, the contract with apps: `api/openapi.yaml` lists the same set (a
/// test compares them, and the error table of `docs/api.md`), and a code missing here fails
/// debug builds.
pub const CODES: &[&str] = &[
    "malformed_request",
    "idempotency_key_required",
    "invalid_idempotency_key",
    "invalid_cursor",
    "unauthenticated",
    "invalid_webhook_token",
    "invalid_webhook_signature",
    "account_suspended",
    "quality_not_in_plan",
    "model_not_in_plan",
    "duration_not_in_plan",
    "audio_not_in_plan",
    "resolution_not_in_plan",
    "element_not_in_plan",
    "not_found",
    "route_not_found",
    "task_in_progress",
    "cannot_cancel",
    "body_too_large",
    "type_required",
    "invalid_type",
    "prompt_required",
    "invalid_prompt",
    "prompt_too_long",
    "invalid_negative_prompt",
    "negative_prompt_too_long",
    "invalid_duration",
    "invalid_aspect_ratio",
    "aspect_ratio_not_supported",
    "invalid_quality",
    "invalid_model",
    "unknown_model",
    "invalid_cfg_scale",
    "invalid_camera_control",
    "invalid_audio",
    "invalid_resolution",
    "invalid_shots",
    "too_many_shots",
    "shots_duration_mismatch",
    "invalid_seed",
    "invalid_element_ids",
    "too_many_elements",
    "image_required",
    "image_not_supported",
    "invalid_image",
    "invalid_upload_id",
    "invalid_image_url",
    "consent_required",
    "invalid_rights_confirmed",
    "upload_not_found",
    "unsupported_image_type",
    "unreadable_image",
    "image_too_large",
    "image_too_small",
    "image_aspect_ratio",
    "image_url_not_https",
    "image_url_not_public",
    "image_url_unresolvable",
    "unsupported_combination",
    "kind_not_available",
    "scene_not_available",
    "field_not_for_kind",
    "scene_required",
    "invalid_scene",
    "source_required",
    "invalid_source",
    "source_not_ready",
    "source_duration",
    "invalid_orientation",
    "video_too_large",
    "invalid_video",
    "template_kind_mismatch",
    "voice_required",
    "invalid_voice",
    "invalid_audio",
    "audio_duration",
    "audio_too_large",
    "model_not_available",
    "duration_not_supported",
    "audio_not_supported",
    "multi_shot_not_supported",
    "elements_not_supported",
    "camera_control_not_supported",
    "cfg_scale_not_supported",
    "resolution_not_supported",
    "invalid_request",
    "content_policy_violation",
    "idempotency_key_reused",
    "callback_task_mismatch",
    "invalid_limit",
    "concurrency_limit",
    "daily_budget_exceeded",
    "invalid_platform",
    "invalid_device_token",
    "push_not_configured",
    "invalid_stream_token",
    "too_many_streams",
    "task_finished",
    "conflicting_prompt",
    "invalid_prompt_parts",
    "invalid_template",
    "unknown_template",
    "invalid_template_fields",
    "template_setting_not_allowed",
    "invalid_variations",
    "too_many_variations",
    "cannot_upgrade",
    "internal_error",
    "queue_unavailable",
];

/// An error as the app sees it: an HTTP status and a stable machine code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retryable: bool,
    pub retry_after_secs: Option<u64>,
    /// Extra facts for the app (a moderation category, when a suspension ends).
    pub details: Option<Box<serde_json::Value>>,
    /// Extra response headers (rate-limit state on a 429).
    pub headers: Box<[(&'static str, String)]>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(CODES.contains(&code), "error code {code} is not in CODES");
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retryable: false,
            retry_after_secs: None,
            details: None,
            headers: Box::new([]),
        }
    }

    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Self {
        let mut all = self.headers.into_vec();
        all.extend(headers);
        self.headers = all.into_boxed_slice();
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn retryable(mut self, retry_after_secs: Option<u64>) -> Self {
        self.retryable = true;
        self.retry_after_secs = retry_after_secs;
        self
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(400, "malformed_request", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "unauthenticated", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "route_not_found",
            format!("no route for {method} {path}"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "body_too_large",
            format!("request body must be at most {limit} bytes"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
        .retryable(None)
    }
}
