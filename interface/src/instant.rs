//! Points in time as FHIR writes them: `instant` values for `meta.lastUpdated`, and the
//! partial `date`/`dateTime` forms (`2024`, `2024-05`, `2024-05-01`, `2024-05-01T10:00:00Z`)
//! that history and search parameters accept, read as the range of time they cover.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Microseconds since the Unix epoch, UTC: the server's clock unit for versions and history.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub i64);

impl Instant {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// As a chrono UTC date-time (the Unix epoch if out of range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// Formats as a FHIR `instant` with microseconds: `2024-05-01T10:00:00.123456Z`.
    pub fn to_fhir(self) -> String {
        self.to_datetime()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }

    /// Formats as an HTTP date (`Last-Modified`): `Wed, 01 May 2024 10:00:00 GMT`.
    pub fn to_http_date(self) -> String {
        self.to_datetime()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    /// Parses an HTTP date (`If-Modified-Since`), RFC 1123 form.
    pub fn parse_http_date(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc2822(s.trim())
            .ok()
            .map(|d| Self(d.timestamp_micros()))
    }
}

/// Parses a FHIR `date`, `dateTime` or `instant`, possibly partial, into the inclusive range
/// of microseconds it covers. A dateTime without a time zone is read as UTC.
///
/// Returns `None` for anything that is not one of those forms (this is user input: the
/// caller turns `None` into a 400 naming the parameter).
pub fn parse_range(s: &str) -> Option<(Instant, Instant)> {
    let s = s.trim();
    if s.len() < 4 || !s.is_ascii() {
        return None;
    }
    let year: i32 = digits(&s[..4])?;
    let rest = &s[4..];
    if rest.is_empty() {
        return day_range(
            NaiveDate::from_ymd_opt(year, 1, 1)?,
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
        );
    }
    let rest = rest.strip_prefix('-')?;
    if rest.len() == 2 {
        let month: u32 = digits(rest)?;
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        return day_range(start, next);
    }
    if rest.len() == 5 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return day_range(date, date.succ_opt()?);
    }
    parse_date_time(s)
}

/// Parses a full FHIR instant (time zone required by FHIR, but a missing one is read as UTC).
pub fn parse_instant(s: &str) -> Option<Instant> {
    parse_date_time(s.trim()).map(|(start, _)| start)
}

fn parse_date_time(s: &str) -> Option<(Instant, Instant)> {
    let (start, precision_us) = if let Ok(dt) = DateTime::<FixedOffset>::parse_from_rfc3339(s) {
        (dt.timestamp_micros(), fraction_precision_us(s))
    } else {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
            .ok()?;
        (
            Utc.from_utc_datetime(&naive).timestamp_micros(),
            fraction_precision_us(s),
        )
    };
    Some((Instant(start), Instant(start + precision_us - 1)))
}

/// How many microseconds the written precision spans: seconds without a fraction
/// cover a whole second, `.1` a tenth, and so on.
fn fraction_precision_us(s: &str) -> i64 {
    let Some(time) = s.split_once('T').map(|(_, t)| t) else {
        return 1_000_000;
    };
    if time.len() == 5 || (time.len() > 5 && !time[5..].starts_with(':')) {
        return 60_000_000;
    }
    match time.split_once('.') {
        None => 1_000_000,
        Some((_, frac)) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count().min(6) as u32;
            10_i64.pow(6 - n)
        }
    }
}

fn day_range(start: NaiveDate, next: NaiveDate) -> Option<(Instant, Instant)> {
    let start_us = Utc
        .from_utc_datetime(&start.and_hms_opt(0, 0, 0)?)
        .timestamp_micros();
    let end_us = Utc
        .from_utc_datetime(&next.and_hms_opt(0, 0, 0)?)
        .timestamp_micros()
        - 1;
    debug_assert!(start.year() <= next.year());
    Some((Instant(start_us), Instant(end_us)))
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> (String, String) {
        let (a, b) = parse_range(s).unwrap();
        (a.to_fhir(), b.to_fhir())
    }

    #[test]
    fn partial_dates_cover_their_span() {
        assert_eq!(
            range("2024"),
            (
                "2024-01-01T00:00:00.000000Z".into(),
                "2024-12-31T23:59:59.999999Z".into()
            )
        );
        assert_eq!(range("2024-02").1, "2024-02-29T23:59:59.999999Z");
        assert_eq!(range("2024-12").1, "2024-12-31T23:59:59.999999Z");
        assert_eq!(range("2024-05-01").0, "2024-05-01T00:00:00.000000Z");
        assert_eq!(
            range("2024-05-01T10:00:00+02:00").0,
            "2024-05-01T08:00:00.000000Z"
        );
        assert_eq!(
            range("2024-05-01T10:00:00.5Z").1,
            "2024-05-01T10:00:00.599999Z"
        );
        assert_eq!(
            range("2024-05-01T10:00:00").1,
            "2024-05-01T10:00:00.999999Z"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "20",
            "2024-13",
            "2024-02-30",
            "yesterday",
            "2024-05-01T25:00:00Z",
            "２０２４",
        ] {
            assert!(parse_range(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn roundtrips_instants_and_http_dates() {
        let t = Instant(1_714_557_600_123_456);
        assert_eq!(parse_instant(&t.to_fhir()), Some(t));
        let http = t.to_http_date();
        assert_eq!(
            Instant::parse_http_date(&http),
            Some(Instant(1_714_557_600_000_000))
        );
    }
}
