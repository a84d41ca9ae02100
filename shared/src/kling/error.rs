/// A failed call to Kling. Whether to retry is decided by `code`, never by the HTTP status:
/// 429 carries both retryable (1302, 1303) and final (1100–1102, 1304) codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KlingError {
    #[error("Kling answered HTTP {http_status} with code {code}: {message}")]
    Api {
        http_status: u16,
        code: i64,
        message: String,
    },
    #[error("Kling did not answer in time")]
    Timeout,
    #[error("could not reach Kling: {0}")]
    Transport(String),
    #[error("unexpected answer from Kling: {0}")]
    Decode(String),
    #[error("could not sign the Kling token: {0}")]
    Signing(String),
}

impl KlingError {
    pub fn code(&self) -> Option<i64> {
        match self {
            KlingError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Transient: rate limit, concurrency, server errors, timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            KlingError::Api { code, .. } => matches!(code, 1302 | 1303 | 5000..=5002),
            KlingError::Timeout | KlingError::Transport(_) => true,
            KlingError::Decode(_) | KlingError::Signing(_) => false,
        }
    }

    /// 1003 (not yet valid) and 1004 (expired): re-mint the token and try once more.
    pub fn is_token_timing(&self) -> bool {
        matches!(self.code(), Some(1003 | 1004))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(http_status: u16, code: i64) -> KlingError {
        KlingError::Api {
            http_status,
            code,
            message: String::new(),
        }
    }

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
        ];
        for (status, code, retryable) in table {
            assert_eq!(api(status, code).is_retryable(), retryable, "code {code}");
        }
        assert!(KlingError::Timeout.is_retryable());
        assert!(api(401, 1004).is_token_timing());
    }
}
