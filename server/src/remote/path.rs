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

    /// Parses `SECS` or `SECS.FRACTION` (as `stat -c %.9Y` prints it).
    pub(crate) fn parse_decimal(s: &str) -> Option<Mtime> {
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        let secs: i64 = secs.parse().ok()?;
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let nanos = if frac.is_empty() {
            0
        } else {
            frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
        };
        if secs < 0 && nanos > 0 {
            // "-1.5" is 1.5 s before the epoch.
            return Some(Mtime::new(secs - 1, 1_000_000_000 - nanos));
        }
        Some(Mtime::new(secs, nanos))
    }

    /// Parses `YYYY-MM-DD HH:MM:SS.NNNNNNNNN +HHMM` (as busybox `stat -c %y` prints it).
    pub(crate) fn parse_human(date: &str, time: &str, zone: &str) -> Option<Mtime> {
        let mut d = date.splitn(3, '-');
        let (y, m, day): (i64, u32, u32) = (
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
        );
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut t = hms.splitn(3, ':');
        let (h, mi, s): (i64, i64, i64) = (
            t.next()?.parse().ok()?,
            t.next()?.parse().ok()?,
            t.next()?.parse().ok()?,
        );
        if !(1..=12).contains(&m) || !(1..=31).contains(&day) || frac.len() > 9 {
            return None;
        }
        let nanos: u32 = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let z = zone.get(1..)?;
        if z.len() != 4 {
            return None;
        }
        let offset = sign * (z[..2].parse::<i64>().ok()? * 3600 + z[2..].parse::<i64>().ok()? * 60);
        let secs = days_from_civil(y, m, day) * 86_400 + h * 3600 + mi * 60 + s - offset;
        Some(Mtime::new(secs, nanos))
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
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
}
