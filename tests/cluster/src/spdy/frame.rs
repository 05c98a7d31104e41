//! SPDY/3.1 framing: the 8-byte frame headers, the control frames Kubernetes' spdystream
//! speaks, and name/value header blocks compressed with zlib and the SPDY/3 dictionary.
//!
//! Header compression keeps a single zlib stream per direction for the whole connection:
//! every header block is one `Z_SYNC_FLUSH`ed piece of that stream, so the [`Encoder`] and
//! [`Decoder`] must see every header-carrying frame of their direction, in order.

use std::sync::OnceLock;

use anyhow::{bail, ensure, Context, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version carried in every control frame.
pub const VERSION: u16 = 3;

pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_SYN_REPLY: u16 = 2;
pub const TYPE_RST_STREAM: u16 = 3;
pub const TYPE_SETTINGS: u16 = 4;
pub const TYPE_PING: u16 = 6;
pub const TYPE_GOAWAY: u16 = 7;
pub const TYPE_HEADERS: u16 = 8;
pub const TYPE_WINDOW_UPDATE: u16 = 9;

/// FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS frames.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// SETTINGS id for the initial per-stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;

/// RST_STREAM status codes (SPDY/3.1 §2.4.2).
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_INVALID_STREAM: u32 = 2;
pub const RST_CANCEL: u32 = 5;

/// GOAWAY status codes.
pub const GOAWAY_OK: u32 = 0;
pub const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// The largest payload one frame can carry (24-bit length).
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;
/// Upper bound for a decompressed header block; Kubernetes' blocks are a few bytes.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// Name/value pairs of a header block, names lowercase. A value holding several values
/// keeps SPDY's NUL separators.
pub type Headers = Vec<(String, String)>;

/// One SPDY frame, unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        slot: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        /// (flags, id, value)
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame of a type this implementation does not know (NOOP, CREDENTIAL…):
    /// receivers ignore it.
    Unknown {
        frame_type: u16,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// Look up a header (names are lowercase on the wire).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The SPDY/3 header compression dictionary (SPDY Protocol Draft 3, §2.6.10.1): a run of
/// length-prefixed header names and common values, followed by a block of raw text.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &[&str] = &[
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505",
            "203 Non-Authoritative Information",
            "204 No Content",
            "301 Moved Permanently",
            "400 Bad Request",
            "401 Unauthorized",
            "403 Forbidden",
            "404 Not Found",
            "500 Internal Server Error",
            "501 Not Implemented",
            "503 Service Unavailable",
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec",
            " 00:00:00",
            " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,",
            "application/xhtml+xml,text/plain,text/javascript,public",
            "privatemax-age=gzip,deflate,sdch",
            "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
        ];
        let mut dict = Vec::with_capacity(1423);
        for word in WORDS {
            dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
            dict.extend_from_slice(word.as_bytes());
        }
        for piece in TAIL {
            dict.extend_from_slice(piece.as_bytes());
        }
        dict
    })
}

/// Compresses outgoing header blocks: one zlib stream for the connection's direction.
pub struct Encoder {
    z: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(dictionary())
            .expect("setting the SPDY dictionary on a fresh zlib stream");
        Encoder { z }
    }

    /// Serialize and compress a header block (sync-flushed so it stands on its own).
    pub fn header_block(&mut self, headers: &Headers) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before_in = self.z.total_in();
            self.z
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .context("compressing a SPDY header block")?;
            consumed += (self.z.total_in() - before_in) as usize;
            // Done once all input is in and zlib left spare room (the flush completed).
            if consumed == raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Encode one frame onto `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<()> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                ensure!(data.len() <= MAX_FRAME_PAYLOAD, "DATA frame too large");
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                push_flags_len(out, *flags, data.len());
                out.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                slot,
                flags,
                headers,
            } => {
                let block = self.header_block(headers)?;
                let mut p = Vec::with_capacity(10 + block.len());
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                p.push((priority & 0x7) << 5);
                p.push(*slot);
                p.extend_from_slice(&block);
                control(out, TYPE_SYN_STREAM, *flags, &p)?;
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                let block = self.header_block(headers)?;
                let mut p = Vec::with_capacity(4 + block.len());
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&block);
                control(out, TYPE_SYN_REPLY, *flags, &p)?;
            }
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let block = self.header_block(headers)?;
                let mut p = Vec::with_capacity(4 + block.len());
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&block);
                control(out, TYPE_HEADERS, *flags, &p)?;
            }
            Frame::RstStream { stream_id, status } => {
                control(
                    out,
                    TYPE_RST_STREAM,
                    0,
                    &two_words(stream_id & 0x7fff_ffff, *status),
                )?;
            }
            Frame::Settings { flags, entries } => {
                let mut p = Vec::with_capacity(4 + 8 * entries.len());
                p.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for (flag, id, value) in entries {
                    p.extend_from_slice(
                        &((u32::from(*flag) << 24) | (id & 0xff_ffff)).to_be_bytes(),
                    );
                    p.extend_from_slice(&value.to_be_bytes());
                }
                control(out, TYPE_SETTINGS, *flags, &p)?;
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes())?,
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => control(
                out,
                TYPE_GOAWAY,
                0,
                &two_words(last_good_stream_id & 0x7fff_ffff, *status),
            )?,
            Frame::WindowUpdate { stream_id, delta } => control(
                out,
                TYPE_WINDOW_UPDATE,
                0,
                &two_words(stream_id & 0x7fff_ffff, delta & 0x7fff_ffff),
            )?,
            Frame::Unknown {
                frame_type,
                flags,
                payload,
            } => control(out, *frame_type, *flags, payload)?,
        }
        Ok(())
    }
}

fn two_words(a: u32, b: u32) -> [u8; 8] {
    let mut w = [0u8; 8];
    w[..4].copy_from_slice(&a.to_be_bytes());
    w[4..].copy_from_slice(&b.to_be_bytes());
    w
}

fn push_flags_len(out: &mut Vec<u8>, flags: u8, len: usize) {
    out.extend_from_slice(&((u32::from(flags) << 24) | (len as u32 & 0xff_ffff)).to_be_bytes());
}

fn control(out: &mut Vec<u8>, frame_type: u16, flags: u8, payload: &[u8]) -> Result<()> {
    ensure!(
        payload.len() <= MAX_FRAME_PAYLOAD,
        "control frame too large"
    );
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    push_flags_len(out, flags, payload.len());
    out.extend_from_slice(payload);
    Ok(())
}

/// Decompresses incoming header blocks: one zlib stream for the connection's direction.
pub struct Decoder {
    z: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            z: Decompress::new(true),
        }
    }

    /// Decompress one frame's header block and parse its name/value pairs.
    pub fn header_block(&mut self, compressed: &[u8]) -> Result<Headers> {
        let mut out = Vec::with_capacity(256);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                ensure!(out.len() < MAX_HEADER_BLOCK, "SPDY header block too large");
                out.reserve(out.capacity().max(256));
            }
            let before_in = self.z.total_in();
            let result =
                self.z
                    .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.z.total_in() - before_in) as usize;
            match result {
                Ok(Status::StreamEnd) => bail!("peer ended its SPDY header zlib stream"),
                Ok(_) => {
                    if consumed == compressed.len() && out.len() < out.capacity() {
                        break;
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(id) => {
                        let ours = self
                            .z
                            .set_dictionary(dictionary())
                            .context("setting the SPDY header dictionary")?;
                        ensure!(
                            ours == id,
                            "peer uses header dictionary {id:#010x}, ours is {ours:#010x}"
                        );
                    }
                    None => return Err(e).context("decompressing a SPDY header block"),
                },
            }
        }
        parse_header_block(&out)
    }
}

fn parse_header_block(mut raw: &[u8]) -> Result<Headers> {
    fn word(raw: &mut &[u8]) -> Result<u32> {
        ensure!(raw.len() >= 4, "truncated SPDY header block");
        let v = u32::from_be_bytes(raw[..4].try_into().unwrap());
        *raw = &raw[4..];
        Ok(v)
    }
    fn string(raw: &mut &[u8]) -> Result<String> {
        let len = word(raw)? as usize;
        ensure!(raw.len() >= len, "truncated SPDY header block");
        let s = String::from_utf8_lossy(&raw[..len]).into_owned();
        *raw = &raw[len..];
        Ok(s)
    }
    let count = word(&mut raw)? as usize;
    ensure!(count <= raw.len() / 8, "bad SPDY header count {count}");
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = string(&mut raw)?.to_ascii_lowercase();
        let value = string(&mut raw)?;
        headers.push((name, value));
    }
    ensure!(raw.is_empty(), "trailing bytes after SPDY header block");
    Ok(headers)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

/// Read one frame. `Ok(None)` on a clean end of stream at a frame boundary.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    dec: &mut Decoder,
) -> Result<Option<Frame>> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        let n = r.read(&mut head[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            bail!("connection closed inside a SPDY frame header");
        }
        got += n;
    }
    let flags = head[4];
    let len = (be32(&head[4..]) & 0xff_ffff) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)
        .await
        .context("connection closed inside a SPDY frame")?;
    if head[0] & 0x80 == 0 {
        return Ok(Some(Frame::Data {
            stream_id: be32(&head) & 0x7fff_ffff,
            flags,
            data: payload,
        }));
    }
    let version = u16::from_be_bytes([head[0], head[1]]) & 0x7fff;
    let frame_type = u16::from_be_bytes([head[2], head[3]]);
    ensure!(version == VERSION, "unsupported SPDY version {version}");
    parse_control(frame_type, flags, payload, dec).map(Some)
}

fn parse_control(frame_type: u16, flags: u8, p: Vec<u8>, dec: &mut Decoder) -> Result<Frame> {
    let need = |n: usize| -> Result<()> {
        ensure!(
            p.len() >= n,
            "SPDY control frame type {frame_type} too short"
        );
        Ok(())
    };
    Ok(match frame_type {
        TYPE_SYN_STREAM => {
            need(10)?;
            Frame::SynStream {
                stream_id: be32(&p) & 0x7fff_ffff,
                associated_to: be32(&p[4..]) & 0x7fff_ffff,
                priority: p[8] >> 5,
                slot: p[9],
                flags,
                headers: dec.header_block(&p[10..])?,
            }
        }
        TYPE_SYN_REPLY => {
            need(4)?;
            Frame::SynReply {
                stream_id: be32(&p) & 0x7fff_ffff,
                flags,
                headers: dec.header_block(&p[4..])?,
            }
        }
        TYPE_HEADERS => {
            need(4)?;
            Frame::Headers {
                stream_id: be32(&p) & 0x7fff_ffff,
                flags,
                headers: dec.header_block(&p[4..])?,
            }
        }
        TYPE_RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream_id: be32(&p) & 0x7fff_ffff,
                status: be32(&p[4..]),
            }
        }
        TYPE_SETTINGS => {
            need(4)?;
            let count = be32(&p) as usize;
            ensure!(
                p.len() >= 4 + count.saturating_mul(8),
                "SETTINGS frame too short"
            );
            let entries = (0..count)
                .map(|i| {
                    let e = &p[4 + 8 * i..];
                    let id = be32(e);
                    ((id >> 24) as u8, id & 0xff_ffff, be32(&e[4..]))
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        TYPE_PING => {
            need(4)?;
            Frame::Ping { id: be32(&p) }
        }
        TYPE_GOAWAY => {
            need(4)?;
            Frame::GoAway {
                last_good_stream_id: be32(&p) & 0x7fff_ffff,
                // SPDY/3 added the status word; tolerate its absence.
                status: if p.len() >= 8 {
                    be32(&p[4..])
                } else {
                    GOAWAY_OK
                },
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(8)?;
            Frame::WindowUpdate {
                stream_id: be32(&p) & 0x7fff_ffff,
                delta: be32(&p[4..]) & 0x7fff_ffff,
            }
        }
        _ => Frame::Unknown {
            frame_type,
            flags,
            payload: p,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    async fn decode_all(bytes: &[u8], dec: &mut Decoder) -> Vec<Frame> {
        let mut r = bytes;
        let mut frames = Vec::new();
        while let Some(f) = read_frame(&mut r, dec).await.unwrap() {
            frames.push(f);
        }
        frames
    }

    #[test]
    fn dictionary_has_the_spdy3_shape() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",*,enq=0."));
        // The zlib dictionary id (Adler-32) that Go's SPDY framer — and so kubectl —
        // announces in its first header block.
        let mut z = Compress::new(Compression::default(), true);
        assert_eq!(z.set_dictionary(d).unwrap(), SPDY3_DICTIONARY_ADLER32);
    }

    /// Observed in the zlib header of kubectl's first SYN_STREAM (see the kubectl tests).
    const SPDY3_DICTIONARY_ADLER32: u32 = 0xe3c6_a7c2;

    #[tokio::test]
    async fn frames_round_trip_with_a_shared_zlib_context() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: 0,
                headers: hdrs(&[("streamtype", "error")]),
            },
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: vec![],
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 0,
                priority: 7,
                slot: 0,
                flags: FLAG_FIN | FLAG_UNIDIRECTIONAL,
                headers: hdrs(&[("streamtype", "stdin"), ("multi", "a\0b"), ("empty", "")]),
            },
            Frame::Data {
                stream_id: 3,
                flags: 0,
                data: b"hello".to_vec(),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: vec![],
            },
            Frame::Headers {
                stream_id: 3,
                flags: FLAG_FIN,
                headers: hdrs(&[("streamtype", "stdin"), ("x", "y")]),
            },
            Frame::RstStream {
                stream_id: 5,
                status: RST_CANCEL,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20), (1, 4, 100)],
            },
            Frame::Ping { id: 1 },
            Frame::GoAway {
                last_good_stream_id: 7,
                status: GOAWAY_OK,
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 65536,
            },
            Frame::WindowUpdate {
                stream_id: 3,
                delta: 1,
            },
            Frame::Unknown {
                frame_type: 10,
                flags: 0,
                payload: vec![1, 2, 3],
            },
        ];
        let mut enc = Encoder::new();
        let mut wire = Vec::new();
        for f in &frames {
            enc.encode(f, &mut wire).unwrap();
        }
        let mut dec = Decoder::new();
        assert_eq!(decode_all(&wire, &mut dec).await, frames);
    }

    #[tokio::test]
    async fn header_blocks_reuse_the_stream_across_frames() {
        // Many blocks through one context: later identical blocks get much smaller, and
        // a decoder that starts mid-stream cannot read them (proves the context is shared).
        let mut enc = Encoder::new();
        let h = hdrs(&[("streamtype", "stdout"), ("requestid", "0")]);
        let first = enc.header_block(&h).unwrap();
        let second = enc.header_block(&h).unwrap();
        assert!(
            second.len() < first.len(),
            "{} !< {}",
            second.len(),
            first.len()
        );
        // The first block starts with a zlib header that announces a preset dictionary.
        assert_eq!(first[0] & 0x0f, 8);
        assert_ne!(first[1] & 0x20, 0);
        assert_eq!(be32(&first[2..]), SPDY3_DICTIONARY_ADLER32);

        let mut dec = Decoder::new();
        assert_eq!(dec.header_block(&first).unwrap(), h);
        assert_eq!(dec.header_block(&second).unwrap(), h);
        let mut fresh = Decoder::new();
        assert!(fresh.header_block(&second).is_err());
    }

    #[tokio::test]
    async fn large_header_blocks_and_truncation() {
        let mut enc = Encoder::new();
        let big: String = (0..50_000)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let h = hdrs(&[("x-big", &big)]);
        let mut wire = Vec::new();
        enc.encode(
            &Frame::SynReply {
                stream_id: 9,
                flags: 0,
                headers: h.clone(),
            },
            &mut wire,
        )
        .unwrap();
        let mut dec = Decoder::new();
        let got = decode_all(&wire, &mut dec).await;
        assert_eq!(
            got,
            vec![Frame::SynReply {
                stream_id: 9,
                flags: 0,
                headers: h
            }]
        );
        // A frame cut short is an error, not a clean end.
        let mut r = &wire[..wire.len() - 1];
        assert!(read_frame(&mut r, &mut Decoder::new()).await.is_err());
        let mut r = &wire[..3];
        assert!(read_frame(&mut r, &mut Decoder::new()).await.is_err());
    }

    #[test]
    fn wire_layout_matches_the_spec() {
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        enc.encode(
            &Frame::WindowUpdate {
                stream_id: 3,
                delta: 0x1234,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            [0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0x12, 0x34]
        );
        out.clear();
        enc.encode(
            &Frame::Data {
                stream_id: 5,
                flags: FLAG_FIN,
                data: b"ab".to_vec(),
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0, 0, 0, 5, 1, 0, 0, 2, b'a', b'b']);
        out.clear();
        enc.encode(&Frame::Ping { id: 7 }, &mut out).unwrap();
        assert_eq!(out, [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
        out.clear();
        enc.encode(
            &Frame::Settings {
                flags: 0,
                entries: vec![(1, SETTINGS_INITIAL_WINDOW_SIZE, 2)],
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            [0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 0, 0, 2]
        );
    }
}
