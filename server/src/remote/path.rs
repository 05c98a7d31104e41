//! [`RelPath`]: a path below the sync root as it travels to and from the container, and
//! [`Mtime`], a modification time.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A path relative to the sync root, `/`-separated, valid UTF-8, e.g. `src/main.rs`.
///
/// Guaranteed non-empty, not absolute, without `.`, `..` or empty components, and
/// without newline or NUL bytes: what the protocol can carry as one line of data and
/// what can never point outside the root. Any other byte is fine (spaces, quotes,
/// `$(…)`, backticks, backslashes, a leading dash, unicode): names are never part of
/// shell text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

/// Why a string is not a [`RelPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty (the root itself is not a `RelPath`).
    #[error("the path is empty")]
    Empty,
    /// The path starts with `/`.
    #[error("{0:?} is absolute; paths must be relative to the sync folder")]
    Absolute(String),
    /// A component is `.`, `..` or empty (`a//b`, a trailing `/`).
    #[error("{0:?} has a `.`, `..` or empty component; paths must be plain relative paths")]
    BadComponent(String),
    /// The path holds a newline, which ferry's line-based lists cannot carry.
    #[error("{0:?} contains a newline; ferry cannot sync such names: rename the file")]
    Newline(String),
    /// The path holds a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
}

impl RelPath {
    /// Checks `path` (see the type's guarantees).
    pub fn new(path: impl Into<String>) -> Result<RelPath, PathError> {
        let path = path.into();
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.starts_with('/') {
            return Err(PathError::Absolute(path));
        }
        if path.contains('\n') {
            return Err(PathError::Newline(path));
        }
        if path.contains('\0') {
            return Err(PathError::Nul(path));
        }
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(PathError::BadComponent(path));
        }
        Ok(RelPath(path))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path with `name` (one or more components) appended.
    pub fn join(&self, name: &str) -> Result<RelPath, PathError> {
        RelPath::new(format!("{}/{}", self.0, name))
    }

    /// The parent folder, or `None` for a top-level entry.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_string()))
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, n)| n)
    }

    /// Whether `self` is `other` or lies below it (component-wise: `ab` is not below
    /// `a`).
    pub fn starts_with(&self, other: &RelPath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RelPath {
    type Error = PathError;
    fn try_from(s: &str) -> Result<RelPath, PathError> {
        RelPath::new(s)
    }
}

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
    fn rel_paths_are_checked() {
        for ok in [
            "a",
            "a/b",
            "-x",
            "a b/ c ",
            "$(touch x)",
            "é/`x`",
            "a\\b",
            ".hidden",
            "..a",
        ] {
            assert_eq!(RelPath::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "", "/a", "a//b", "a/", "./a", "a/../b", "..", "a\nb", "a\0b",
        ] {
            assert!(RelPath::new(bad).is_err(), "{bad:?}");
        }
        let p = RelPath::new("a/b/c").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(p.file_name(), "c");
        assert!(p.starts_with(&RelPath::new("a/b").unwrap()));
        assert!(!RelPath::new("ab")
            .unwrap()
            .starts_with(&RelPath::new("a").unwrap()));
    }

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
