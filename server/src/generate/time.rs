//! Calendar arithmetic on day numbers (days since 1970-01-01) and FHIR date formatting,
//! independent of the clock so that the output is reproducible.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub const fn days(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The fixed "today" of every generated record: 2026-01-01.
pub const REFERENCE: i64 = days(2026, 1, 1);

/// The year, month and day of a day number.
pub const fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The year of a day number.
pub const fn year(days: i64) -> i64 {
    civil(days).0
}

/// Whole years from `birth` to `day` (both day numbers).
pub const fn age(birth: i64, day: i64) -> i64 {
    let (by, bm, bd) = civil(birth);
    let (y, m, d) = civil(day);
    let years = y - by;
    if m < bm || (m == bm && d < bd) {
        years - 1
    } else {
        years
    }
}

/// A FHIR `date`: `YYYY-MM-DD`.
pub fn date(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A FHIR `dateTime`/`instant` in UTC from seconds since 1970-01-01T00:00:00Z.
pub fn date_time(seconds: i64) -> String {
    let (y, m, d) = civil(seconds.div_euclid(DAY));
    let s = seconds.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dates() {
        assert_eq!(days(1970, 1, 1), 0);
        assert_eq!(date(REFERENCE), "2026-01-01");
        assert_eq!(date(days(2000, 2, 29)), "2000-02-29");
        assert_eq!(date(days(1930, 12, 31)), "1930-12-31");
        for d in days(1900, 1, 1)..days(2030, 1, 1) {
            let (y, m, dd) = civil(d);
            assert_eq!(days(y, m, dd), d);
        }
        assert_eq!(date_time(DAY + 3661), "1970-01-02T01:01:01Z");
        assert_eq!(age(days(2000, 6, 15), days(2010, 6, 14)), 9);
        assert_eq!(age(days(2000, 6, 15), days(2010, 6, 15)), 10);
    }
}
