//! Structured JSON logs for CloudWatch. Handlers open a span carrying `request_id` and
//! `task_id`, so every line inside it carries them too.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// `RUST_LOG` as `Targets` directives (`info`, `shared=debug,info`): levels per target,
/// without env-filter's regex engine in every binary. Unreadable or unset means `info`.
pub fn filter(value: Option<&str>) -> Targets {
    value
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(format.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn rust_log_reads_as_targets() {
        // (RUST_LOG, target, a level it lets through, a level it holds back)
        let cases = [
            (None, "shared", Level::INFO, Level::DEBUG),
            (Some("debug"), "shared", Level::DEBUG, Level::TRACE),
            (
                Some("warn,shared=trace"),
                "shared::kling",
                Level::TRACE,
                Level::TRACE,
            ),
            (
                Some("warn,shared=trace"),
                "aws_smithy_runtime",
                Level::WARN,
                Level::INFO,
            ),
            (Some("a=b=c"), "shared", Level::INFO, Level::DEBUG),
        ];
        for (value, target, on, off) in cases {
            let f = filter(value);
            assert!(f.would_enable(target, &on), "{value:?} {target} {on}");
            if on != off {
                assert!(!f.would_enable(target, &off), "{value:?} {target} {off}");
            }
        }
    }
}
