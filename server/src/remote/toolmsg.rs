//! Reading the paths out of `find`'s and `stat`'s error messages (their stderr while a
//! `list` runs, relayed as `W` lines), so that a listing knows exactly which folder it
//! could not see.
//!
//! Formats, under `LC_ALL=C` (checked against the busybox and debian images):
//!
//! | tool | message |
//! |---|---|
//! | GNU find | `find: './x': Permission denied` — single quotes, C escapes inside (`\'`, `\\`, `\n`, `\303` for every byte that is not printable ASCII) |
//! | busybox find | `find: ./x: Permission denied` — the name as it is |
//! | GNU stat | `stat: cannot stat './x': …` or `stat: cannot statx …` — shell quoting (`'…'`, `"…"` when the name holds `'`, `$'\n'`, `\'`) |
//! | busybox stat | `stat: can't stat './x': …` — the name as it is, in single quotes |
//!
//! Anything else does not parse ([`parse`] returns `None`); the caller then treats the
//! whole listed path as unknown. A name holding a newline breaks a busybox message in
//! two lines: neither parses, which is again the safe answer.

/// What one error line says: the path (as the tool printed it, `.` or `./…`) and the
/// reason (`Permission denied`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolMessage {
    /// The path's bytes, unquoted.
    pub path: Vec<u8>,
    /// The reason, e.g. `Permission denied`.
    pub reason: String,
}

impl ToolMessage {
    /// Whether the reason says the path does not exist (it vanished while being
    /// listed, or was never there): `ENOENT` or `ENOTDIR`.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.reason.as_str(),
            "No such file or directory" | "Not a directory"
        )
    }
}

/// Parses one stderr line of `find` or `stat` (without its newline).
pub(crate) fn parse(line: &[u8]) -> Option<ToolMessage> {
    let (path, rest) = if let Some(rest) = line.strip_prefix(b"find: ") {
        match rest.first() {
            // GNU find: locale quoting (C escapes inside single quotes).
            Some(b'\'') => unquote_c(rest)?,
            // busybox find: the raw name, then ": REASON" (no reason holds ": ").
            _ => {
                let at = rfind(rest, b": ")?;
                (rest[..at].to_vec(), &rest[at..])
            }
        }
    } else if let Some(rest) = line.strip_prefix(b"stat: can't stat '") {
        // busybox stat: the raw name in single quotes.
        let at = rfind(rest, b"': ")?;
        (rest[..at].to_vec(), &rest[at + 1..])
    } else if let Some(rest) = line
        .strip_prefix(b"stat: cannot statx ")
        .or_else(|| line.strip_prefix(b"stat: cannot stat "))
    {
        unquote_shell(rest)?
    } else {
        return None;
    };
    let reason = rest.strip_prefix(b": ")?;
    let reason = std::str::from_utf8(reason).ok()?.trim().to_string();
    if reason.is_empty() || !(path == b"." || path.starts_with(b"./")) {
        return None;
    }
    Some(ToolMessage { path, reason })
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// One C escape after a backslash at `s[0]`: the bytes it stands for and how many input
/// bytes it took.
fn c_escape(s: &[u8]) -> Option<(u8, usize)> {
    let c = *s.first()?;
    let simple = match c {
        b'n' => Some(b'\n'),
        b't' => Some(b'\t'),
        b'r' => Some(b'\r'),
        b'a' => Some(7),
        b'b' => Some(8),
        b'f' => Some(12),
        b'v' => Some(11),
        b'e' => Some(27),
        b'\\' | b'\'' | b'"' | b'?' | b'$' | b'`' => Some(c),
        _ => None,
    };
    if let Some(b) = simple {
        return Some((b, 1));
    }
    if (b'0'..=b'7').contains(&c) {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < 3 && s.get(n).is_some_and(|d| (b'0'..=b'7').contains(d)) {
            v = v * 8 + u32::from(s[n] - b'0');
            n += 1;
        }
        return u8::try_from(v).ok().map(|b| (b, n));
    }
    None
}

/// `'…'` with C escapes inside (GNU find): the bytes and what follows the closing quote.
fn unquote_c(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let q = *s.first()?;
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match *s.get(i)? {
            b'\\' => {
                let (b, n) = c_escape(&s[i + 1..])?;
                out.push(b);
                i += 1 + n;
            }
            c if c == q => return Some((out, &s[i + 1..])),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// A shell-quoted word (GNU coreutils' `shell-escape-always` style): a run of `'…'`
/// (literal), `"…"` and `$'…'` (C escapes) and `\X` segments; the bytes and what
/// follows the word.
fn unquote_shell(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut any = false;
    loop {
        match rest {
            [b'\'', tail @ ..] => {
                let end = tail.iter().position(|&b| b == b'\'')?;
                out.extend_from_slice(&tail[..end]);
                rest = &tail[end + 1..];
            }
            [b'$', b'\'', ..] => {
                let (bytes, tail) = unquote_c(&rest[1..])?;
                out.extend(bytes);
                rest = tail;
            }
            [b'"', ..] => {
                let (bytes, tail) = unquote_c(rest)?;
                out.extend(bytes);
                rest = tail;
            }
            [b'\\', c, tail @ ..] => {
                out.push(*c);
                rest = tail;
            }
            _ => return any.then_some((out, rest)),
        }
        any = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &[u8]) -> Option<(Vec<u8>, String)> {
        parse(line).map(|m| (m.path, m.reason))
    }

    fn ok(path: &[u8], reason: &str) -> Option<(Vec<u8>, String)> {
        Some((path.to_vec(), reason.to_string()))
    }

    #[test]
    fn gnu_find_messages() {
        // As printed by debian's find 4.9 under LC_ALL=C.
        assert_eq!(
            p(b"find: './secret': Permission denied"),
            ok(b"./secret", "Permission denied")
        );
        assert_eq!(
            p(b"find: './q\\'uo te': Permission denied"),
            ok(b"./q'uo te", "Permission denied")
        );
        assert_eq!(
            p(b"find: './tab\\tx': Permission denied"),
            ok(b"./tab\tx", "Permission denied")
        );
        assert_eq!(
            p(b"find: './s/\\303\\274 \\303\\251': Permission denied"),
            ok("./s/ü é".as_bytes(), "Permission denied")
        );
        assert_eq!(
            p(b"find: './s/b\\\\s': Permission denied"),
            ok(b"./s/b\\s", "Permission denied")
        );
        assert_eq!(
            p(b"find: './s/a: b': Permission denied"),
            ok(b"./s/a: b", "Permission denied")
        );
        assert_eq!(
            p(b"find: './s/d q\"x': Permission denied"),
            ok(b"./s/d q\"x", "Permission denied")
        );
        assert_eq!(
            p(b"find: './s/u\\377v': Permission denied"),
            ok(b"./s/u\xffv", "Permission denied")
        );
        let gone = parse(b"find: './nope': No such file or directory").unwrap();
        assert!(gone.is_gone());
    }

    #[test]
    fn busybox_find_messages() {
        assert_eq!(
            p(b"find: ./secret: Permission denied"),
            ok(b"./secret", "Permission denied")
        );
        assert_eq!(
            p(b"find: ./s/a: b: Permission denied"),
            ok(b"./s/a: b", "Permission denied")
        );
        assert_eq!(
            p(b"find: ./s/u\xffv: Permission denied"),
            ok(b"./s/u\xffv", "Permission denied")
        );
        assert_eq!(p(b"find: ."), None);
        // The first half of a name with a newline.
        assert_eq!(p(b"find: ./s/nl"), None);
    }

    #[test]
    fn stat_messages() {
        assert_eq!(
            p(b"stat: can't stat './secret/inner': Permission denied"),
            ok(b"./secret/inner", "Permission denied")
        );
        assert_eq!(
            p(b"stat: can't stat './q'uo te': Permission denied"),
            ok(b"./q'uo te", "Permission denied")
        );
        assert_eq!(
            p(b"stat: cannot statx './s/*/nope': No such file or directory"),
            ok(b"./s/*/nope", "No such file or directory")
        );
        assert_eq!(
            p(b"stat: cannot statx \"./q'uo te/x\": Permission denied"),
            ok(b"./q'uo te/x", "Permission denied")
        );
        assert_eq!(
            p(b"stat: cannot stat './a'$'\\n''b': Permission denied"),
            ok(b"./a\nb", "Permission denied")
        );
        assert_eq!(
            p(b"stat: cannot stat './it'\\''s': Permission denied"),
            ok(b"./it's", "Permission denied")
        );
    }

    #[test]
    fn other_lines_do_not_parse() {
        for line in [
            &b"find: stat terminated by signal 9"[..],
            b"stat: write error: No space left on device",
            b"Killed",
            b"find: '/etc': Permission denied",
            b"find: './x':",
            b"",
        ] {
            assert_eq!(p(line), None, "{:?}", String::from_utf8_lossy(line));
        }
    }
}
