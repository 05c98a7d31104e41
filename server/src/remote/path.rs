//! [`RelPath`]: a path below the sync root as it travels to and from the container, and
//! [`Mtime`], a modification time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::core::path::{PathError, RelPath};

/// A modification time: seconds since the Unix epoch plus nanoseconds (0 when the
/// container's `stat` only reports whole seconds, see
/// [`crate::remote::Capabilities::mtime_nanos`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mtime {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Mtime {
    /// `secs` seconds and `nanos` nanoseconds after the epoch.
    pub fn new(secs: i64, nanos: u32) -> Mtime {
        Mtime {
            secs,
            nanos: nanos.min(999_999_999),
        }
    }

    /// The time `t` (as precise as it is).
    pub fn from_system_time(t: SystemTime) -> Mtime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Mtime::new(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                if d.subsec_nanos() == 0 {
                    Mtime::new(-(d.as_secs() as i64), 0)
                } else {
                    Mtime::new(-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
                }
            }
        }
    }

    /// This time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs as u64, self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
                + Duration::from_nanos(self.nanos as u64)
        }
    }

    /// Parses `SECS` or `SECS.FRACTION` (as `stat -c %.9Y` prints it). Total: `None`
    /// for anything that is not such a number (more than 9 fraction digits, seconds
    /// beyond `i64`); a negative time is `-SECS.FRACTION` before the epoch, clamped to
    /// the earliest [`Mtime`].
    pub(crate) fn parse_decimal(s: &str) -> Option<Mtime> {
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        let negative = secs.starts_with('-');
        let digits = secs.strip_prefix('-').unwrap_or(secs);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: i64 = secs.parse().ok()?;
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let nanos = if frac.is_empty() {
            0
        } else {
            frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
        };
        if negative && nanos > 0 {
            // "-1.5" is 1.5 s before the epoch, "-0.5" half a second.
            return Some(match secs.checked_sub(1) {
                Some(s) => Mtime::new(s, 1_000_000_000 - nanos),
                None => Mtime::new(i64::MIN, 0),
            });
        }
        Some(Mtime::new(secs, nanos))
    }

    /// Parses `YYYY-MM-DD HH:MM:SS.NNNNNNNNN +HHMM` (as busybox `stat -c %y` prints it).
    /// Total: `None` for anything malformed (fields out of range, non-digits, a zone
    /// that is not `±HHMM`); a well-formed date beyond what `i64` seconds hold is
    /// clamped to the latest or earliest [`Mtime`].
    pub(crate) fn parse_human(date: &str, time: &str, zone: &str) -> Option<Mtime> {
        fn num(s: &str, max_len: usize) -> Option<i64> {
            if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        let mut d = date.splitn(3, '-');
        let (y, m, day) = (num(d.next()?, 18)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut t = hms.splitn(3, ':');
        let (h, mi, s) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
        if !(1..=12).contains(&m)
            || !(1..=31).contains(&day)
            || h > 23
            || mi > 59
            || s > 60
            || frac.len() > 9
        {
            return None;
        }
        let nanos = num(frac, 9)? as u32 * 10u32.pow(9 - frac.len() as u32);
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let z = zone.get(1..)?;
        if z.len() != 4 {
            return None;
        }
        let (zh, zm) = (num(z.get(..2)?, 2)?, num(z.get(2..)?, 2)?);
        if zm > 59 {
            return None;
        }
        let offset = sign * (zh * 3600 + zm * 60);
        let secs = days_from_civil(y, m as u32, day as u32) * 86_400
            + i128::from(h * 3600 + mi * 60 + s - offset);
        let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
        Some(Mtime::new(secs, nanos))
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's
/// algorithm), for `y` in `0..10^18`, `m` in `1..=12`, `d` in `1..=31` (no overflow:
/// the result stays below 4 · 10^20 in magnitude, computed in `i128`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i128 {
    let y = i128::from(y);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i128::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i128::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtimes_parse() {
        assert_eq!(
            Mtime::parse_decimal("1700000000.123456789"),
            Some(Mtime::new(1_700_000_000, 123_456_789))
        );
        assert_eq!(
            Mtime::parse_decimal("1700000000"),
            Some(Mtime::new(1_700_000_000, 0))
        );
        assert_eq!(
            Mtime::parse_decimal("-1.5"),
            Some(Mtime::new(-2, 500_000_000))
        );
        assert_eq!(
            Mtime::parse_human("2023-11-14", "22:13:20.000000123", "+0000"),
            Some(Mtime::new(1_700_000_000, 123))
        );
        assert_eq!(
            Mtime::parse_human("2023-11-15", "00:13:20.5", "+0200"),
            Some(Mtime::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            Mtime::parse_human("1969-12-31", "23:59:59.000000000", "+0000"),
            Some(Mtime::new(-1, 0))
        );
        let t = Mtime::new(-5, 250);
        assert_eq!(Mtime::from_system_time(t.to_system_time()), t);
    }

    #[test]
    fn hostile_time_zones_are_rejected_without_panic() {
        // "+aéb" is 4 bytes with a character across byte 2 (the old `z[..2]` panicked).
        for zone in [
            "+aéb", "+éé", "-é", "+12é", "+1234é", "+-123", "+ 123", "+12:3", "+0060",
        ] {
            assert_eq!(
                Mtime::parse_human("2023-11-14", "22:13:20.0", zone),
                None,
                "{zone}"
            );
        }
    }

    #[test]
    fn huge_and_odd_decimal_times() {
        assert_eq!(
            Mtime::parse_decimal("9223372036854775807.999999999"),
            Some(Mtime::new(i64::MAX, 999_999_999))
        );
        // One nanosecond before the earliest second: clamped (the old `secs - 1`
        // overflowed).
        assert_eq!(
            Mtime::parse_decimal("-9223372036854775808.5"),
            Some(Mtime::new(i64::MIN, 0))
        );
        assert_eq!(
            Mtime::parse_decimal("-9223372036854775808"),
            Some(Mtime::new(i64::MIN, 0))
        );
        // Beyond i64: not something a `stat` prints.
        assert_eq!(Mtime::parse_decimal("99999999999999999999"), None);
        // Half a second before the epoch (the old parser read "-0" as 0, giving +0.5).
        assert_eq!(
            Mtime::parse_decimal("-0.5"),
            Some(Mtime::new(-1, 500_000_000))
        );
        for bad in [
            "",
            "-",
            ".5",
            "+5",
            "1.+5",
            "1.1234567890",
            "1e9",
            " 1",
            "1 ",
        ] {
            assert_eq!(Mtime::parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn huge_and_odd_human_times() {
        // Years far beyond i64 seconds: clamped (the old day arithmetic overflowed).
        assert_eq!(
            Mtime::parse_human("999999999999999999-12-31", "23:59:59.999999999", "-2359"),
            Some(Mtime::new(i64::MAX, 999_999_999))
        );
        assert_eq!(
            Mtime::parse_human("0-01-01", "00:00:00.0", "+0000"),
            Some(Mtime::new(-62_167_219_200, 0))
        );
        assert_eq!(
            Mtime::parse_human("10000-01-01", "00:00:00.000000000", "+0000"),
            Some(Mtime::new(253_402_300_800, 0))
        );
        for (d, t) in [
            ("9999999999999999999-01-01", "00:00:00.0"),
            ("2023-00-01", "00:00:00.0"),
            ("2023-13-01", "00:00:00.0"),
            ("2023-01-32", "00:00:00.0"),
            ("2023-01-01", "24:00:00.0"),
            ("2023-01-01", "99999999999999999:00:00.0"),
            ("2023-01-01", "-1:00:00.0"),
            ("2023-01-01", "+1:00:00.0"),
            ("2023-01-01", "00:00:00."),
            ("2023-01-01", "00:00:00.+1"),
            ("2023-01-01", "00:00:00.1234567890"),
            ("-2023-01-01", "00:00:00.0"),
        ] {
            assert_eq!(Mtime::parse_human(d, t, "+0000"), None, "{d} {t}");
        }
    }

    #[test]
    fn extreme_times_convert_to_system_time() {
        for m in [
            Mtime::new(i64::MAX, 999_999_999),
            Mtime::new(i64::MIN, 0),
            Mtime::new(i64::MIN, 999_999_999),
        ] {
            let _ = m.to_system_time();
        }
        let t = Mtime::new(1_700_000_000, 5);
        assert_eq!(Mtime::from_system_time(t.to_system_time()), t);
    }

    /// How GNU `stat -c %.9Y` prints a time.
    fn gnu_decimal(m: Mtime) -> String {
        if m.secs < 0 && m.nanos > 0 {
            format!("-{}.{:09}", -(m.secs + 1), 1_000_000_000 - m.nanos)
        } else {
            format!("{}.{:09}", m.secs, m.nanos)
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_decimal_is_total(s in ".*") {
            let _ = Mtime::parse_decimal(&s);
        }

        #[test]
        fn parse_decimal_is_total_on_numbers(s in "-?[0-9]{0,25}(\\.[0-9]{0,12})?") {
            let _ = Mtime::parse_decimal(&s);
        }

        #[test]
        fn parse_decimal_reads_what_stat_prints(secs in (i64::MIN + 1).., nanos in 0u32..1_000_000_000) {
            let m = Mtime::new(secs, nanos);
            proptest::prop_assert_eq!(Mtime::parse_decimal(&gnu_decimal(m)), Some(m));
        }

        #[test]
        fn parse_human_is_total(d in ".*", t in ".*", z in ".*") {
            let _ = Mtime::parse_human(&d, &t, &z);
        }

        #[test]
        fn parse_human_is_total_on_numbers(
            d in "[0-9]{1,19}-(0?[1-9]|1[0-2])-(0?[1-9]|[12][0-9]|3[01])",
            t in "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?",
            z in "[+-]([0-9]|é|a){2,4}",
        ) {
            let _ = Mtime::parse_human(&d, &t, &z);
        }

        #[test]
        fn parse_human_agrees_with_decimal(secs in -62_167_219_200i64..253_402_300_800, nanos in 0u32..1_000_000_000) {
            // Days and time of day of `secs` in UTC, formatted as busybox does.
            let days = secs.div_euclid(86_400);
            let tod = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            let date = format!("{y}-{m:02}-{d:02}");
            let time = format!("{:02}:{:02}:{:02}.{nanos:09}", tod / 3600, tod / 60 % 60, tod % 60);
            proptest::prop_assert_eq!(Mtime::parse_human(&date, &time, "+0000"), Some(Mtime::new(secs, nanos)));
        }
    }

    /// The inverse of `days_from_civil` (H. Hinnant), for the property above.
    fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}
