//! Timestamps: RFC 3339 (UTC, millisecond precision) in records and responses.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 with milliseconds, so that strings sort in time order.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt)
        .unwrap_or_else(|_| t.format(&Rfc3339).unwrap_or_default())
}

/// RFC 3339 for a Unix timestamp in seconds.
pub fn rfc3339_secs(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(rfc3339)
        .unwrap_or_default()
}

/// The UTC day (`YYYY-MM-DD`) of an RFC 3339 timestamp or of now: daily budgets roll over there.
pub fn utc_day(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

pub fn unix_seconds(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sortable_utc_with_millis() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_722_769_557_708_123_456).unwrap();
        assert_eq!(rfc3339(t), "2024-08-04T11:05:57.708Z");
        assert_eq!(
            parse_rfc3339(&rfc3339(t)).unwrap().unix_timestamp(),
            1_722_769_557
        );
    }
}
