//! Human-readable output shared by the commands: UTC dates (ISO 8601) and the time left until
//! a date. JSON output (`--json`) keeps the numbers; only the text a person reads uses these.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
const DAY_S: u64 = 86_400;

/// Certificates that expire within this many days are flagged by default (`fdl member list`).
pub const DEFAULT_EXPIRY_WARNING_DAYS: u64 = 30;

/// The current time, seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The civil (proleptic Gregorian) date of `days` since 1970-01-01: (year, month 1..=12,
/// day 1..=31). Howard Hinnant's `civil_from_days`, for non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so leap days fall at the end of a 400-year era's years.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = era * 400 + yoe + u64::from(m <= 2);
    (y, m, d)
}

/// `secs` since the Unix epoch as a UTC ISO 8601 date and time, e.g. `2036-11-23T10:11:52Z`.
pub fn utc(secs: u64) -> String {
    let (y, mo, d) = civil_from_days(secs / DAY_S);
    let s = secs % DAY_S;
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3_600, s / 60 % 60, s % 60)
}

/// `ms` since the Unix epoch as a UTC ISO 8601 date and time with milliseconds, e.g.
/// `2026-11-30T12:31:56.108Z`.
pub fn utc_ms(ms: u64) -> String {
    let base = utc(ms / 1_000);
    format!("{}.{:03}Z", &base[..base.len() - 1], ms % 1_000)
}

/// A duration in words, rounded down to the largest unit that fits: `29 days`, `5 hours`,
/// `1 minute`, `0 seconds`.
pub fn span(secs: u64) -> String {
    let (n, unit) = if secs >= DAY_S {
        (secs / DAY_S, "day")
    } else if secs >= 3_600 {
        (secs / 3_600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// How long until `not_after` (seconds since the epoch) from `now`: `expires in 29 days`, or
/// `EXPIRED 3 days ago`.
pub fn expiry(not_after: u64, now: u64) -> String {
    if not_after > now {
        format!("expires in {}", span(not_after - now))
    } else {
        format!("EXPIRED {} ago", span(now - not_after))
    }
}

/// Whether a certificate valid until `not_after` expires within `days` of `now` (or has expired).
pub fn expires_within(not_after: u64, now: u64, days: u64) -> bool {
    not_after <= now.saturating_add(days.saturating_mul(DAY_S))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z"); // a leap day of a 400-year leap year
        assert_eq!(utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(utc(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not a leap year
        assert_eq!(utc(2_111_657_512), "2036-11-30T11:31:52Z");
        assert_eq!(utc_ms(1_796_297_516_108), "2026-12-03T11:31:56.108Z");
        assert_eq!(utc(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walks 1970..2400 day by day: the date advances by exactly one day each time.
        let mut prev = civil_from_days(0);
        for day in 1..157_000u64 {
            let cur = civil_from_days(day);
            let next_in_month = (prev.0, prev.1, prev.2 + 1);
            let next_month = if prev.1 == 12 { (prev.0 + 1, 1, 1) } else { (prev.0, prev.1 + 1, 1) };
            assert!(cur == next_in_month || cur == next_month, "day {day}: {prev:?} -> {cur:?}");
            prev = cur;
        }
    }

    #[test]
    fn time_left_reads_as_words() {
        assert_eq!(expiry(100 + 29 * DAY_S + 5, 100), "expires in 29 days");
        assert_eq!(expiry(100 + 3_600, 100), "expires in 1 hour");
        assert_eq!(expiry(100, 100 + 3 * DAY_S), "EXPIRED 3 days ago");
        assert!(expires_within(100 + 29 * DAY_S, 100, 30));
        assert!(!expires_within(100 + 31 * DAY_S, 100, 30));
        assert!(expires_within(50, 100, 0));
    }
}
