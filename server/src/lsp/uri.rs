//! `file://` URIs ↔ local paths (percent-encoding of everything but unreserved bytes and
//! `/`), without touching the filesystem (a deleted file still has a URI).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tower_lsp_server::ls_types::Uri;

/// The `file://` URI of an absolute path.
pub fn file_uri(path: &Path) -> Option<Uri> {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

/// The local path of a `file://` URI (`None` for other schemes).
pub fn uri_path(uri: &Uri) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // An authority (`file://host/path`): only `localhost` or empty is local.
    let rest = match rest.find('/') {
        Some(0) => rest,
        Some(i) if &rest[..i] == "localhost" => &rest[i..],
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for p in ["/a/b c/ü.txt", "/x/$(y)/'q'", "/plain/path.rs", "/%41"] {
            let u = file_uri(Path::new(p)).unwrap();
            assert_eq!(uri_path(&u).unwrap(), PathBuf::from(p), "{u:?}");
        }
        let u = Uri::from_str("file:///home/me/a%20b.txt").unwrap();
        assert_eq!(uri_path(&u).unwrap(), PathBuf::from("/home/me/a b.txt"));
        let u = Uri::from_str("untitled:Untitled-1").unwrap();
        assert!(uri_path(&u).is_none());
    }
}
