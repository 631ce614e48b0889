//! Time as the store sees it: milliseconds since the Unix epoch, UTC.
//!
//! Answers always carry RFC 3339 UTC with milliseconds; requests may use any RFC 3339 offset or an
//! integer number of milliseconds. This module owns both directions so that every layer agrees.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest time a run may carry: 0000-01-01T00:00:00.000Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest: 9999-12-31T23:59:59.999Z. Beyond these years RFC 3339 has no spelling, so an
    /// answer could not be written back.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// Whether RFC 3339 can spell this time (see [`Timestamp::MIN`], [`Timestamp::MAX`]).
    pub fn is_in_range(self) -> bool {
        (Self::MIN.0..=Self::MAX.0).contains(&self.0)
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any offset) or an integer number of milliseconds since the epoch.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(ms) = text.parse::<i64>() {
            return Ok(Timestamp(ms));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|e| format!("`{text}` is not an RFC 3339 time or epoch milliseconds ({e})"))
    }

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-26T03:31:09.123Z`.
    pub fn to_rfc3339(self) -> String {
        match Utc.timestamp_millis_opt(self.0).single() {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => self.0.to_string(),
        }
    }

    /// The chrono value, for formatting in local time.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        Utc.timestamp_millis_opt(self.0).single()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time or integer milliseconds since the epoch")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v).map(Timestamp).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in the log's history: what `as_of` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// The state right after the event with this sequence number.
    Seq(u64),
    /// The state right after the last event appended at or before this time.
    Time(Timestamp),
}

/// Integers below this are sequence numbers; at or above, epoch milliseconds (year 1973 onwards).
const SEQ_TIME_BOUNDARY: u64 = 100_000_000_000;

impl AsOf {
    /// Parses `as_of`: an integer below 10^11 is a sequence number; a larger integer is epoch
    /// milliseconds; anything else must be an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(n) = text.parse::<u64>() {
            return Ok(if n < SEQ_TIME_BOUNDARY { AsOf::Seq(n) } else { AsOf::Time(Timestamp(n as i64)) });
        }
        Timestamp::parse(text)
            .map(AsOf::Time)
            .map_err(|_| format!("`{text}` is neither a sequence number nor an RFC 3339 time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(Timestamp(1_764_127_869_123).to_rfc3339(), "2025-11-26T03:31:09.123Z");
    }

    #[test]
    fn parses_offsets_and_millis() {
        let a = Timestamp::parse("2026-11-26T04:31:09.123+01:00").unwrap();
        let b = Timestamp::parse("2026-11-26T03:31:09.123Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(Timestamp::parse(&b.0.to_string()).unwrap(), b);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn as_of_tells_seq_from_time() {
        assert_eq!(AsOf::parse("42").unwrap(), AsOf::Seq(42));
        assert_eq!(AsOf::parse("1764127869123").unwrap(), AsOf::Time(Timestamp(1_764_127_869_123)));
        assert!(matches!(AsOf::parse("2026-01-01T00:00:00Z").unwrap(), AsOf::Time(_)));
        assert!(AsOf::parse("soon").is_err());
    }
}
