//! The schema's `timestamp` and `duration`, and their one wire encoding (the same
//! string in JSON and in MessagePack, pinned by `tests/vectors/everything.json`):
//!
//! - a **timestamp** is RFC 3339 in UTC: `2026-11-28T07:03:53.5Z` — seconds always,
//!   a fraction only when not zero, without trailing zeros (at most 9 digits),
//!   always `Z`. Decoding also takes an offset (`+01:00`, `-05:30`) or a
//!   lower-case `t`/`z`, and converts to UTC. Years 0001 to 9999.
//! - a **duration** is non-negative seconds with an `s`: `90s`, `1.5s`,
//!   `0.000000001s` — the fraction likewise only when not zero, at most 9 digits.
//!
//! ```
//! use std::time::{Duration as StdDuration, UNIX_EPOCH};
//! use acton_reactive::ipc::wire::{Duration, Timestamp};
//!
//! let at = Timestamp::from(UNIX_EPOCH + StdDuration::from_millis(1_500));
//! assert_eq!(at.to_string(), "1970-01-01T00:00:01.5Z");
//! assert_eq!("1970-01-01T01:00:01.5+01:00".parse::<Timestamp>(), Ok(at));
//!
//! let timeout = Duration::from(StdDuration::from_millis(2_250));
//! assert_eq!(serde_json::to_string(&timeout).unwrap(), r#""2.25s""#);
//! ```

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A point in time (the schema's `timestamp`): a [`SystemTime`] on the wire as
/// an RFC 3339 string in UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

/// A length of time (the schema's `duration`): a [`std::time::Duration`] on the
/// wire as seconds with an `s` (`1.5s`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration(pub StdDuration);

/// Why a text is not a timestamp or a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeParseError(String);

impl TimeParseError {
    fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(SystemTime::now())
    }

    /// Seconds and nanoseconds since the Unix epoch (negative seconds before it;
    /// the nanoseconds always count forward).
    fn to_unix(self) -> (i64, u32) {
        match self.0.duration_since(UNIX_EPOCH) {
            Ok(after) => (
                i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                after.subsec_nanos(),
            ),
            Err(error) => {
                let before = error.duration();
                let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                match before.subsec_nanos() {
                    0 => (-secs, 0),
                    nanos => (-secs - 1, 1_000_000_000 - nanos),
                }
            }
        }
    }

    fn from_unix(secs: i64, nanos: u32) -> Option<Self> {
        let nanos = StdDuration::from_nanos(u64::from(nanos));
        let time = if secs >= 0 {
            UNIX_EPOCH.checked_add(StdDuration::from_secs(secs.unsigned_abs()))?
        } else {
            UNIX_EPOCH.checked_sub(StdDuration::from_secs(secs.unsigned_abs()))?
        };
        time.checked_add(nanos).map(Self)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Self(time)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        time.0
    }
}

impl Deref for Timestamp {
    type Target = SystemTime;
    fn deref(&self) -> &SystemTime {
        &self.0
    }
}

impl From<StdDuration> for Duration {
    fn from(duration: StdDuration) -> Self {
        Self(duration)
    }
}

impl From<Duration> for StdDuration {
    fn from(duration: Duration) -> Self {
        duration.0
    }
}

impl Deref for Duration {
    type Target = StdDuration;
    fn deref(&self) -> &StdDuration {
        &self.0
    }
}

/// `.5`, `.25`, `.000000001`: the fraction without trailing zeros; nothing for 0.
fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    let digits = format!(".{nanos:09}");
    digits.trim_end_matches('0').to_owned()
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, nanos) = self.to_unix();
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60,
            fraction(nanos)
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}s",
            self.0.as_secs(),
            fraction(self.0.subsec_nanos())
        )
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duration({self})")
    }
}

/// A cursor over ASCII text, for the two small grammars here.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, count: usize, what: &str) -> Result<u32, TimeParseError> {
        let end = self.at + count;
        let slice = self
            .text
            .get(self.at..end)
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| TimeParseError::new(format!("expected {count} digits of {what}")))?;
        self.at = end;
        Ok(slice.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    fn expect(&mut self, accepted: &[u8], what: &str) -> Result<u8, TimeParseError> {
        match self.text.get(self.at) {
            Some(c) if accepted.contains(c) => {
                self.at += 1;
                Ok(*c)
            }
            _ => Err(TimeParseError::new(format!("expected {what}"))),
        }
    }

    /// `.ddd` (1 to 9 digits) as nanoseconds, or 0 when there is no `.`.
    fn fraction(&mut self) -> Result<u32, TimeParseError> {
        if self.text.get(self.at) != Some(&b'.') {
            return Ok(0);
        }
        self.at += 1;
        let start = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = &self.text[start..self.at];
        if digits.is_empty() || digits.len() > 9 {
            return Err(TimeParseError::new(
                "a fraction of a second has 1 to 9 digits",
            ));
        }
        let value = digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        Ok(value * 10u32.pow(9 - u32::try_from(digits.len()).unwrap_or(9)))
    }
}

impl FromStr for Timestamp {
    type Err = TimeParseError;

    fn from_str(text: &str) -> Result<Self, TimeParseError> {
        let wrap = |e: TimeParseError| {
            TimeParseError::new(format!(
                "`{}` is not an RFC 3339 timestamp ({e}); write it as 2026-11-28T07:03:53Z",
                text.chars().take(64).collect::<String>()
            ))
        };
        let mut c = Cursor {
            text: text.as_bytes(),
            at: 0,
        };
        let parsed = (|| {
            let year = c.digits(4, "the year")?;
            c.expect(b"-", "`-`")?;
            let month = c.digits(2, "the month")?;
            c.expect(b"-", "`-`")?;
            let day = c.digits(2, "the day")?;
            c.expect(b"Tt", "`T`")?;
            let hour = c.digits(2, "the hour")?;
            c.expect(b":", "`:`")?;
            let minute = c.digits(2, "the minute")?;
            c.expect(b":", "`:`")?;
            let second = c.digits(2, "the second")?;
            let nanos = c.fraction()?;
            let offset = match c.expect(b"Zz+-", "`Z` or an offset such as `+01:00`")? {
                b'+' | b'-' => {
                    let sign: i64 = if c.text[c.at - 1] == b'-' { -1 } else { 1 };
                    let hours = c.digits(2, "the offset's hours")?;
                    c.expect(b":", "`:` in the offset")?;
                    let minutes = c.digits(2, "the offset's minutes")?;
                    if hours > 23 || minutes > 59 {
                        return Err(TimeParseError::new("the offset is out of range"));
                    }
                    sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60)
                }
                _ => 0,
            };
            if c.at != c.text.len() {
                return Err(TimeParseError::new("unexpected text after it"));
            }
            if year == 0
                || !(1..=12).contains(&month)
                || day == 0
                || day > days_in_month(year, month)
            {
                return Err(TimeParseError::new("no such date"));
            }
            if hour > 23 || minute > 59 || second > 59 {
                return Err(TimeParseError::new(
                    "no such time of day (leap seconds are not represented)",
                ));
            }
            let days = days_from_civil(i64::from(year), month, day);
            let secs =
                days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
                    - offset;
            Timestamp::from_unix(secs, nanos)
                .ok_or_else(|| TimeParseError::new("out of this system's range of times"))
        })();
        parsed.map_err(wrap)
    }
}

impl FromStr for Duration {
    type Err = TimeParseError;

    fn from_str(text: &str) -> Result<Self, TimeParseError> {
        let wrap = |e: &str| {
            TimeParseError::new(format!(
                "`{}` is not a duration ({e}); write seconds with an `s`, such as `1.5s`",
                text.chars().take(64).collect::<String>()
            ))
        };
        let Some(body) = text.strip_suffix('s') else {
            return Err(wrap("it does not end with `s`"));
        };
        let (secs, rest) = body.split_at(body.find('.').unwrap_or(body.len()));
        if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return Err(wrap(
                "expected whole seconds, such as `90s`; a duration is never negative",
            ));
        }
        let secs: u64 = secs.parse().map_err(|_| wrap("too many seconds"))?;
        let mut c = Cursor {
            text: rest.as_bytes(),
            at: 0,
        };
        let nanos = c.fraction().map_err(|e| wrap(&e.0))?;
        if c.at != rest.len() {
            return Err(wrap("unexpected text"));
        }
        Ok(Self(StdDuration::new(secs, nanos)))
    }
}

fn is_leap(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads a string and parses it with `T::from_str`.
struct Parsed<T>(std::marker::PhantomData<T>, &'static str);

impl<T: FromStr<Err = TimeParseError>> Visitor<'_> for Parsed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Parsed(
            std::marker::PhantomData,
            "an RFC 3339 timestamp string",
        ))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Parsed(
            std::marker::PhantomData,
            "a duration string such as \"1.5s\"",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> Timestamp {
        Timestamp::from_unix(secs, nanos).unwrap_or_else(|| panic!("{secs} in range"))
    }

    #[test]
    fn timestamps_format_in_utc_with_the_shortest_fraction() {
        assert_eq!(at(0, 0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_500_000_000, 0).to_string(), "2017-07-14T02:40:00Z");
        assert_eq!(at(0, 500_000_000).to_string(), "1970-01-01T00:00:00.5Z");
        assert_eq!(at(0, 1).to_string(), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(at(-1, 0).to_string(), "1969-12-31T23:59:59Z");
        assert_eq!(at(-1, 250_000_000).to_string(), "1969-12-31T23:59:59.25Z");
        assert_eq!(at(951_782_400, 0).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(at(253_402_300_799, 0).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(at(-62_135_596_800, 0).to_string(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn timestamps_parse_back_and_with_offsets() {
        for (secs, nanos) in [
            (0, 0),
            (1_700_000_000, 123_456_789),
            (-86_401, 1),
            (951_782_400, 0),
        ] {
            let value = at(secs, nanos);
            assert_eq!(value.to_string().parse::<Timestamp>(), Ok(value));
        }
        assert_eq!(
            "1970-01-01T01:00:00+01:00".parse::<Timestamp>(),
            Ok(at(0, 0))
        );
        assert_eq!(
            "1969-12-31t19:00:00-05:00".parse::<Timestamp>(),
            Ok(at(0, 0))
        );
        assert_eq!(
            "1970-01-01T00:00:00.1z".parse::<Timestamp>(),
            Ok(at(0, 100_000_000))
        );
    }

    #[test]
    fn bad_timestamps_say_why() {
        for (text, why) in [
            ("2026-02-29T00:00:00Z", "no such date"),
            ("2026-13-01T00:00:00Z", "no such date"),
            ("2026-01-01T24:00:00Z", "no such time"),
            ("2026-01-01T23:59:60Z", "leap seconds"),
            ("2026-01-01T00:00:00", "`Z` or an offset"),
            ("2026-01-01 00:00:00Z", "`T`"),
            ("2026-01-01T00:00:00.Z", "1 to 9 digits"),
            ("2026-01-01T00:00:00.1234567891Z", "1 to 9 digits"),
            ("2026-01-01T00:00:00Zjunk", "unexpected text"),
            ("0000-01-01T00:00:00Z", "no such date"),
            ("", "4 digits of the year"),
            ("２０２６-01-01T00:00:00Z", "4 digits of the year"),
        ] {
            let error = text
                .parse::<Timestamp>()
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"));
            assert!(error.to_string().contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn durations_format_and_parse() {
        let d = |secs, nanos| Duration(StdDuration::new(secs, nanos));
        for (value, text) in [
            (d(0, 0), "0s"),
            (d(90, 0), "90s"),
            (d(1, 500_000_000), "1.5s"),
            (d(0, 1), "0.000000001s"),
            (d(u64::MAX, 999_999_999), "18446744073709551615.999999999s"),
        ] {
            assert_eq!(value.to_string(), text);
            assert_eq!(text.parse::<Duration>(), Ok(value));
        }
        for bad in [
            "",
            "s",
            "1",
            "-1s",
            "1.s",
            "1.0000000001s",
            "1.5ms",
            "18446744073709551616s",
            " 1s",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn both_travel_as_strings_in_both_formats() {
        let value = at(1_700_000_000, 250_000_000);
        let json = serde_json::to_string(&value).unwrap_or_default();
        assert_eq!(json, r#""2023-11-14T22:13:20.25Z""#);
        assert_eq!(serde_json::from_str::<Timestamp>(&json).ok(), Some(value));
        let duration = Duration(StdDuration::from_millis(1500));
        assert_eq!(
            serde_json::to_string(&duration).unwrap_or_default(),
            r#""1.5s""#
        );
        assert!(serde_json::from_str::<Duration>("1.5").is_err());
    }
}
