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

/// A moment in a task's life, ordered by time (never by its text), stored and shown as RFC
/// 3339 UTC with milliseconds (which also sorts as text, for the table's index keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Now, at millisecond precision (what is stored, so a round trip compares equal).
    pub fn now() -> Self {
        Self::from(now())
    }

    pub fn parse(s: &str) -> Option<Self> {
        parse_rfc3339(s).map(Self::from)
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        let utc = t.to_offset(time::UtcOffset::UTC);
        Self(
            utc.replace_nanosecond(utc.millisecond() as u32 * 1_000_000)
                .unwrap_or(utc),
        )
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

impl std::ops::Sub<time::Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: time::Duration) -> Timestamp {
        Timestamp(self.0 - d)
    }
}

impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: std::time::Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl std::ops::Add<time::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: time::Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl std::ops::Sub<std::time::Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: std::time::Duration) -> Timestamp {
        Timestamp(self.0 - d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = time::Duration;
    fn sub(self, other: Timestamp) -> time::Duration {
        self.0 - other.0
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_by_time_and_round_trip_as_text() {
        let a = Timestamp::parse("2026-11-26T09:59:59.999Z").unwrap();
        let b = Timestamp::parse("2026-11-26T10:00:00+01:00").unwrap();
        let c = Timestamp::parse("2026-11-26T09:00:00.5Z").unwrap();
        // As text, b would sort after a; in time it is an hour before.
        assert!(b < a && b < c);
        assert_eq!(c.to_string(), "2026-11-26T09:00:00.500Z");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"2026-11-26T09:59:59.999Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert_eq!(a - c, time::Duration::milliseconds(3_599_499));
    }

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

/// One UTC day: the unit a provider's bill is read and reported in (`domain::bill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(time::Date);

impl Day {
    pub fn of(t: OffsetDateTime) -> Self {
        Self(t.date())
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &fmt).ok().map(Self)
    }

    /// The day before `now`'s: the last one whose bill is complete.
    pub fn yesterday(now: OffsetDateTime) -> Self {
        Self(now.date() - time::Duration::days(1))
    }

    pub fn neighbours(self) -> [Day; 3] {
        [
            Self(self.0 - time::Duration::days(1)),
            self,
            Self(self.0 + time::Duration::days(1)),
        ]
    }

    /// The day as a half-open range of Unix milliseconds, as Kling's bill filters take it.
    pub fn unix_ms(self) -> (i64, i64) {
        let start = self.0.midnight().assume_utc().unix_timestamp() * 1000;
        (start, start + 86_400_000)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
