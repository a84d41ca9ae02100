//! Kling's business codes (`docs/providers.md` §Errors) as types. Whether to retry is decided by the code,
//! never by the HTTP status: 429 carries both retryable (1302, 1303) and final (1100–1102,
//! 1304) codes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AuthenticationFailed,
    AuthorizationEmpty,
    AuthorizationInvalid,
    TokenNotYetValid,
    TokenExpired,
    AccountAbnormal,
    AccountInArrears,
    ResourcePackExhausted,
    Forbidden,
    InvalidRequest,
    InvalidParameters,
    InvalidMethod,
    ResourceNotFound,
    PlatformPolicy,
    ContentPolicy,
    RateLimited,
    ConcurrencyLimited,
    IpWhitelist,
    ServerError,
    Unavailable,
    InternalTimeout,
    Unknown,
}

impl ErrorKind {
    pub fn from_code(code: i64) -> Self {
        match code {
            1000 => ErrorKind::AuthenticationFailed,
            1001 => ErrorKind::AuthorizationEmpty,
            1002 => ErrorKind::AuthorizationInvalid,
            1003 => ErrorKind::TokenNotYetValid,
            1004 => ErrorKind::TokenExpired,
            1100 => ErrorKind::AccountAbnormal,
            1101 => ErrorKind::AccountInArrears,
            1102 => ErrorKind::ResourcePackExhausted,
            1103 => ErrorKind::Forbidden,
            1200 => ErrorKind::InvalidRequest,
            1201 => ErrorKind::InvalidParameters,
            1202 => ErrorKind::InvalidMethod,
            1203 => ErrorKind::ResourceNotFound,
            1300 => ErrorKind::PlatformPolicy,
            1301 => ErrorKind::ContentPolicy,
            1302 => ErrorKind::RateLimited,
            1303 => ErrorKind::ConcurrencyLimited,
            1304 => ErrorKind::IpWhitelist,
            5000 => ErrorKind::ServerError,
            5001 => ErrorKind::Unavailable,
            5002 => ErrorKind::InternalTimeout,
            _ => ErrorKind::Unknown,
        }
    }

    /// Transient: trying again later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::ConcurrencyLimited
                | ErrorKind::ServerError
                | ErrorKind::Unavailable
                | ErrorKind::InternalTimeout
        )
    }
}

/// A failed call to Kling.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KlingError {
    #[error("Kling answered HTTP {http_status} with code {code}: {message} (request {})", request_id.as_deref().unwrap_or("-"))]
    Api {
        http_status: u16,
        code: i64,
        kind: ErrorKind,
        message: String,
        /// Kling's id for the request, for its support.
        request_id: Option<String>,
    },
    #[error("Kling did not answer in time")]
    Timeout,
    #[error("could not reach Kling: {0}")]
    Transport(String),
    #[error("unexpected answer from Kling: {0}")]
    Decode(String),
    #[error("could not sign the Kling token: {0}")]
    Signing(String),
    /// Refused before any request: Kling does not support this combination.
    #[error("not supported by Kling: {1}")]
    Unsupported(crate::domain::catalogue::Feature, String),
    /// A lookup found no such task (the standard API's empty answer).
    #[error("Kling has no such task: {0}")]
    TaskNotFound(String),
    /// Refused before any request: a value Kling would reject.
    #[error("invalid request for Kling: {0}")]
    InvalidInput(String),
    /// A create whose outcome stayed unknown: an earlier attempt may have made the task and no
    /// lookup settled it before this error ended the call (`docs/providers.md` §Unknown
    /// outcomes). Never a failure: the task is looked up again.
    #[error("create outcome unknown, last error: {0}")]
    Unsettled(Box<KlingError>),
    /// A call a create depends on failed (lip-sync's face identification): no task was made.
    #[error("before the create: {0}")]
    BeforeCreate(Box<KlingError>),
}

impl From<crate::domain::catalogue::Refusal> for KlingError {
    fn from(r: crate::domain::catalogue::Refusal) -> Self {
        use crate::domain::catalogue::Refusal;
        match r {
            Refusal::Unsupported(feature, reason) => KlingError::Unsupported(feature, reason),
            Refusal::Invalid(reason) => KlingError::InvalidInput(reason),
        }
    }
}

impl KlingError {
    pub fn api(http_status: u16, code: i64, message: impl Into<String>) -> Self {
        KlingError::Api {
            http_status,
            code,
            kind: ErrorKind::from_code(code),
            message: message.into(),
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        if let KlingError::Api { request_id, .. } = &mut self {
            *request_id = id;
        }
        self
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            KlingError::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            KlingError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            KlingError::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Transient: rate limit, concurrency, server errors, timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            KlingError::Api { kind, .. } => kind.is_retryable(),
            KlingError::Timeout | KlingError::Transport(_) => true,
            _ => false,
        }
    }

    /// A lookup of a task Kling does not have: 1203, or what the live API answers, 400/1201
    /// "Task not found by id/external id" (`docs/providers.md` §Legacy API).
    pub fn is_task_not_found(&self) -> bool {
        match self {
            KlingError::TaskNotFound(_) => true,
            KlingError::Api { kind, message, .. } => {
                *kind == ErrorKind::ResourceNotFound
                    || (*kind == ErrorKind::InvalidParameters
                        && message.to_ascii_lowercase().contains("not found"))
            }
            _ => false,
        }
    }

    /// A create answered this way may have made the task (`docs/providers.md` §Unknown outcomes): 5000, 5002,
    /// a 5xx without Kling's body, an unreadable answer, a timeout or a lost connection. 4xx
    /// answers and the other business codes made nothing.
    pub fn may_have_created(&self) -> bool {
        match self {
            KlingError::Api { kind, .. } => {
                matches!(kind, ErrorKind::ServerError | ErrorKind::InternalTimeout)
            }
            KlingError::Timeout
            | KlingError::Transport(_)
            | KlingError::Decode(_)
            | KlingError::Unsettled(_) => true,
            _ => false,
        }
    }

    /// A create refused as invalid (400/1201): after an earlier create of the same external id,
    /// that is Kling refusing a duplicate, and the task is ours to look up.
    pub fn is_invalid_parameters(&self) -> bool {
        self.kind() == Some(ErrorKind::InvalidParameters) && !self.is_task_not_found()
    }

    /// What a create call ends with: once an attempt may have made the task, whatever ends the
    /// call is an unknown outcome, not the last answer (a busy lookup is not "nothing made").
    pub fn settled(self, outcome_unknown: bool) -> Self {
        match (outcome_unknown, self) {
            (true, e @ KlingError::Unsettled(_)) | (false, e) => e,
            (true, e) => KlingError::Unsettled(Box::new(e)),
        }
    }

    /// 1003 (not yet valid) and 1004 (expired): re-mint the token and try once more (after a
    /// 1003 with `nbf` further back: the two clocks disagree).
    pub fn is_token_timing(&self) -> bool {
        matches!(
            self.kind(),
            Some(ErrorKind::TokenNotYetValid | ErrorKind::TokenExpired)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification_follows_the_code() {
        let table = [
            (401, 1000, false),
            (401, 1001, false),
            (401, 1002, false),
            (401, 1003, false),
            (401, 1004, false),
            (429, 1100, false),
            (429, 1101, false),
            (429, 1102, false),
            (403, 1103, false),
            (400, 1200, false),
            (400, 1201, false),
            (404, 1202, false),
            (404, 1203, false),
            (400, 1300, false),
            (400, 1301, false),
            (429, 1302, true),
            (429, 1303, true),
            (429, 1304, false),
            (500, 5000, true),
            (503, 5001, true),
            (504, 5002, true),
            (400, 9999, false),
        ];
        for (status, code, retryable) in table {
            assert_eq!(
                KlingError::api(status, code, "").is_retryable(),
                retryable,
                "code {code}"
            );
        }
        assert!(KlingError::Timeout.is_retryable());
        let not_found = [
            (
                KlingError::api(404, 1203, "requested resource does not exist"),
                true,
            ),
            (
                KlingError::api(400, 1201, "Task not found by id/external id: t-1"),
                true,
            ),
            (
                KlingError::api(400, 1201, "duration must be 5 or 10"),
                false,
            ),
            (KlingError::Timeout, false),
        ];
        for (e, want) in not_found {
            assert_eq!(e.is_task_not_found(), want, "{e}");
        }
        let unknown = [
            (KlingError::api(500, 5000, ""), true),
            (KlingError::api(504, 5002, ""), true),
            (KlingError::Timeout, true),
            (
                KlingError::Transport("HTTP 502 without a Kling body".into()),
                true,
            ),
            (KlingError::Decode("HTTP 200: eof".into()), true),
            (KlingError::api(503, 5001, ""), false),
            (KlingError::api(429, 1303, ""), false),
            (KlingError::api(400, 1201, ""), false),
        ];
        for (e, want) in unknown {
            assert_eq!(e.may_have_created(), want, "{e}");
        }
        assert!(KlingError::api(401, 1004, "").is_token_timing());
        assert!(
            !KlingError::Unsupported(crate::provider::Feature::Model, "x".into()).is_retryable()
        );
    }
}
