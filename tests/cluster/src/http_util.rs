//! Request and response plumbing shared by the API and the control interface.

use std::convert::Infallible;

use http::{HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;

use crate::status::ApiError;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed()
}

pub fn json_response(code: u16, value: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(value).unwrap()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

pub fn text_response(code: u16, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(text));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set).
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The query string as ordered (name, value) pairs; names may repeat (`command=`).
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1" | "True"))
    }
}

/// Reads a request body of at most `limit` bytes.
pub async fn read_body(body: hyper::body::Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let collected = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
    Ok(collected.to_bytes())
}

/// Parses a request body as JSON, or as YAML or protobuf when the content type says so.
pub fn parse_object(body: &[u8], content_type: Option<&str>) -> Result<Value, ApiError> {
    if content_type.is_some_and(|c| c.contains("protobuf")) {
        crate::protobuf::decode(body)
    } else if content_type.is_some_and(|c| c.contains("yaml")) {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeated_names_and_decodes() {
        let q = Query(parse_query(Some(
            "command=sh&command=-c&command=echo%20hi%3Bexit+3&stdin=true&container=main",
        )));
        assert_eq!(q.all("command"), ["sh", "-c", "echo hi;exit 3"]);
        assert!(q.flag("stdin"));
        assert_eq!(q.get("container"), Some("main"));
        assert_eq!(percent_decode("a%2", false), "a%2");
    }
}
