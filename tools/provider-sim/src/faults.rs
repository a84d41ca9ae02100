//! Fault injection. Run-wide faults come from flags or environment variables (and can be
//! replaced at run time with `PUT /_sim/faults`); per-task faults come from markers in the
//! prompt. Every random choice draws from one generator seeded by `seed`.

use serde::{Deserialize, Serialize};

/// Which API calls an injected error applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    #[default]
    Any,
    Create,
    Query,
    List,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextError {
    pub code: i64,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub on: CallKind,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Seed for every random fault decision.
    #[arg(long, env = "KLING_SIM_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Chance (0..1) that an API call answers with one of --error-codes.
    #[arg(long, env = "KLING_SIM_ERROR_RATE", default_value_t = 0.0)]
    pub error_rate: f64,
    /// Codes drawn from for --error-rate (default 5000).
    #[arg(long, env = "KLING_SIM_ERROR_CODES", value_delimiter = ',')]
    pub error_codes: Vec<i64>,
    /// Errors for the next calls, in order (control endpoint only).
    #[arg(skip)]
    pub next_errors: Vec<NextError>,
    /// Added latency on every API call, in milliseconds.
    #[arg(long, env = "KLING_SIM_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// The next N creates make their task, then answer only after --hang-ms.
    #[arg(long, env = "KLING_SIM_HANG_NEXT_CREATES", default_value_t = 0)]
    pub hang_next_creates: u32,
    #[arg(long, env = "KLING_SIM_HANG_MS", default_value_t = 30_000)]
    pub hang_ms: u64,
    /// The next N creates make their task, then answer 500/5000 (an error after storing).
    #[arg(
        long,
        env = "KLING_SIM_FAIL_AFTER_STORING_NEXT_CREATES",
        default_value_t = 0
    )]
    pub fail_after_storing_next_creates: u32,
    /// Account concurrency: creates beyond this many unfinished tasks get 429/1303.
    #[arg(long, env = "KLING_SIM_CONCURRENCY_LIMIT")]
    pub concurrency_limit: Option<usize>,
    /// Chance (0..1) that a task ends `failed` with --fail-message.
    #[arg(long, env = "KLING_SIM_FAIL_RATE", default_value_t = 0.0)]
    pub fail_rate: f64,
    #[arg(long, env = "KLING_SIM_FAIL_MESSAGE", default_value = "")]
    pub fail_message: String,
    /// Chance (0..1) that a callback is never sent.
    #[arg(long, env = "KLING_SIM_CALLBACK_DROP_RATE", default_value_t = 0.0)]
    pub callback_drop_rate: f64,
    /// Chance (0..1) that a callback is sent twice.
    #[arg(long, env = "KLING_SIM_CALLBACK_DUPLICATE_RATE", default_value_t = 0.0)]
    pub callback_duplicate_rate: f64,
    /// Chance (0..1) that a callback is held back and sent after the next one.
    #[arg(long, env = "KLING_SIM_CALLBACK_REORDER_RATE", default_value_t = 0.0)]
    pub callback_reorder_rate: f64,
    /// Delay before each callback, in milliseconds.
    #[arg(long, env = "KLING_SIM_CALLBACK_DELAY_MS", default_value_t = 0)]
    pub callback_delay_ms: u64,
    /// Chance (0..1) that any one video download stops halfway.
    #[arg(long, env = "KLING_SIM_TRUNCATE_DOWNLOAD_RATE", default_value_t = 0.0)]
    pub truncate_download_rate: f64,
    /// Throttle video downloads to this many bytes per second.
    #[arg(long, env = "KLING_SIM_DOWNLOAD_BYTES_PER_SEC")]
    pub download_bytes_per_sec: Option<u64>,
    /// Result URLs stop working this long after the task succeeded.
    #[arg(long, env = "KLING_SIM_URL_TTL_MS")]
    pub url_ttl_ms: Option<u64>,
    /// The simulator's clock runs this far ahead of the machine's (JWT nbf/exp checks).
    #[arg(
        long,
        env = "KLING_SIM_CLOCK_OFFSET_SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub clock_offset_secs: i64,
}

/// Faults for one task, from `[sim:...]` markers in its prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFaults {
    pub fail: Option<String>,
    pub drop_callbacks: bool,
    pub duplicate_callbacks: bool,
    pub reorder_callbacks: bool,
    pub truncate_download: bool,
    pub expire_url: bool,
    pub slow_download: bool,
    /// The bill lists this task even though it failed (`[sim:bill-failed]`).
    pub bill_failed: bool,
    /// The bill lists this task twice (`[sim:bill-twice]`).
    pub bill_twice: bool,
    /// Serve a video padded to this many MiB (`[sim:size-mib=1024]`), for memory benchmarks.
    pub size_mib: Option<u64>,
}

/// Markers: `[sim:fail=<message>]`, `[sim:drop-callbacks]`, `[sim:duplicate-callbacks]`,
/// `[sim:reorder-callbacks]`, `[sim:truncate-download]` (the first download only),
/// `[sim:expire-url]`, `[sim:slow-download]`, `[sim:bill-failed]`, `[sim:bill-twice]`.
pub fn task_faults(prompt: &str) -> TaskFaults {
    let mut faults = TaskFaults::default();
    let mut rest = prompt;
    while let Some(start) = rest.find("[sim:") {
        let after = &rest[start + 5..];
        let Some(end) = after.find(']') else { break };
        let marker = &after[..end];
        match marker.split_once('=') {
            Some(("fail", msg)) => faults.fail = Some(msg.to_string()),
            Some(("size-mib", n)) => faults.size_mib = n.parse().ok(),
            _ => match marker {
                "fail" => faults.fail = Some("Something went wrong".into()),
                "drop-callbacks" => faults.drop_callbacks = true,
                "duplicate-callbacks" => faults.duplicate_callbacks = true,
                "reorder-callbacks" => faults.reorder_callbacks = true,
                "truncate-download" => faults.truncate_download = true,
                "expire-url" => faults.expire_url = true,
                "slow-download" => faults.slow_download = true,
                "bill-failed" => faults.bill_failed = true,
                "bill-twice" => faults.bill_twice = true,
                _ => {}
            },
        }
        rest = &after[end + 1..];
    }
    faults
}

/// HTTP status Kling uses for a business code (`docs/providers.md` §Errors).
pub fn http_status_for(code: i64) -> u16 {
    match code {
        1000..=1004 => 401,
        1100..=1102 | 1302..=1304 => 429,
        1103 => 403,
        1202 | 1203 => 404,
        1200 | 1201 | 1300 | 1301 => 400,
        5000 => 500,
        5001 => 503,
        5002 => 504,
        _ => 400,
    }
}

pub fn message_for(code: i64) -> &'static str {
    match code {
        1000 => "Authentication failed",
        1001 => "Authorization is empty",
        1002 => "Authorization is invalid",
        1003 => "Authorization is not yet valid",
        1004 => "Authorization has expired",
        1100 => "Account exception",
        1101 => "Account in arrears",
        1102 => "Resource pack exhausted or expired",
        1103 => "Unauthorized access to requested resource",
        1200 => "Invalid request parameters",
        1201 => "Invalid parameters",
        1202 => "Invalid request method",
        1203 => "Requested resource does not exist",
        1300 => "Trigger platform strategy",
        1301 => "Trigger content security policy",
        1302 => "API request too fast",
        1303 => "parallel task over resource pack limit",
        1304 => "Trigger IP whitelist policy",
        5000 => "Server internal error",
        5001 => "Server temporarily unavailable",
        5002 => "Server internal timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_markers() {
        let f = task_faults(
            "a fox [sim:fail=Image pixel is invalid] in snow [sim:duplicate-callbacks][sim:expire-url]",
        );
        assert_eq!(f.fail.as_deref(), Some("Image pixel is invalid"));
        assert!(f.duplicate_callbacks && f.expire_url);
        assert!(!f.drop_callbacks);
        assert_eq!(
            task_faults("no markers [sim:unknown"),
            TaskFaults::default()
        );
    }

    #[test]
    fn statuses_follow_the_documented_table() {
        let table = [
            (1001, 401),
            (1102, 429),
            (1103, 403),
            (1201, 400),
            (1203, 404),
            (1303, 429),
            (5001, 503),
            (5002, 504),
        ];
        for (code, status) in table {
            assert_eq!(http_status_for(code), status, "{code}");
        }
    }
}
