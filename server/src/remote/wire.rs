//! Framing on the session's streams.
//!
//! Container → ferry: every reply is a header line `STATUS LEN` (`ok`, `err` or `ack`,
//! then a decimal byte count) followed by exactly LEN bytes of body. File content only
//! ever travels inside a body, so it can never be taken for a reply.
//!
//! Ferry → container: a header line `COMMAND ARGS…` (no file names: those travel in
//! payloads), and, for each payload, only after the container's `ack`: exactly the
//! announced number of bytes (or, with [`PayloadReader::ShellLines`], escaped lines and
//! an empty line). Ferry sends the next header only after the final reply. Because
//! nothing else waits in the pipe while the container reads, a reader that reads ahead
//! (busybox `head -c N`, busybox ash) cannot take bytes that belong to the next message.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::caps::PayloadReader;

/// Longest header line accepted from the container.
const MAX_HEADER: usize = 256;

/// Input bytes per escaped line for [`PayloadReader::ShellLines`].
const ESC_LINE: usize = 4096;

/// A reply's status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Done.
    Ok,
    /// Failed as a whole; the body is the reason.
    Err,
    /// Send the payload now.
    Ack,
}

/// One reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: Status,
    pub body: Vec<u8>,
}

/// Why reading a reply failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The stream ended.
    Eof,
    /// An I/O error.
    Io(std::io::Error),
    /// Not a valid header line.
    Garbage(String),
    /// The body is larger than allowed.
    TooLarge(u64),
}

/// Reads one reply, allowing a body of at most `max` bytes.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: u64,
) -> Result<Reply, ReadError> {
    let (status, len) = read_header(r).await?;
    let body = read_body(r, len, max).await?;
    Ok(Reply { status, body })
}

/// Reads a reply's header line: its status and body length (the body follows).
pub(crate) async fn read_header<R: AsyncBufRead + Unpin>(
    r: &mut R,
) -> Result<(Status, u64), ReadError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await.map_err(ReadError::Io)?;
        if buf.is_empty() {
            return Err(if line.is_empty() {
                ReadError::Eof
            } else {
                ReadError::Garbage(format!(
                    "stream ended inside a header: {:?}",
                    String::from_utf8_lossy(&line)
                ))
            });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if line.len() > MAX_HEADER {
            return Err(ReadError::Garbage(format!(
                "expected a reply header, got {:?}…",
                String::from_utf8_lossy(&line[..64])
            )));
        }
        if done {
            break;
        }
    }
    line.pop();
    let text = std::str::from_utf8(&line).unwrap_or("");
    text.split_once(' ')
        .and_then(|(s, n)| {
            let st = match s {
                "ok" => Status::Ok,
                "err" => Status::Err,
                "ack" => Status::Ack,
                _ => return None,
            };
            Some((st, n.parse::<u64>().ok()?))
        })
        .ok_or_else(|| {
            ReadError::Garbage(format!(
                "expected a reply header, got {:?}",
                String::from_utf8_lossy(&line)
            ))
        })
}

/// Reads a body of `len` bytes into memory, refusing one over `max` (before reading
/// any of it).
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    len: u64,
    max: u64,
) -> Result<Vec<u8>, ReadError> {
    if len > max {
        return Err(ReadError::TooLarge(len));
    }
    let mut body = Vec::with_capacity(len.min(1 << 20) as usize);
    let n = r
        .take(len)
        .read_to_end(&mut body)
        .await
        .map_err(ReadError::Io)?;
    if (n as u64) < len {
        return Err(ReadError::Eof);
    }
    Ok(body)
}

/// Writes a header line.
pub(crate) async fn write_header<W: AsyncWrite + Unpin>(
    w: &mut W,
    line: &str,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    w.write_all(&buf).await?;
    w.flush().await
}

/// Writes one payload as `reader` expects it.
pub(crate) async fn write_payload<W: AsyncWrite + Unpin>(
    w: &mut W,
    reader: PayloadReader,
    data: &[u8],
) -> std::io::Result<()> {
    match reader {
        PayloadReader::ShellLines => {
            for chunk in data.chunks(ESC_LINE) {
                w.write_all(&escape_line(chunk)).await?;
            }
            w.write_all(b"\n").await?;
        }
        _ => w.write_all(data).await?,
    }
    w.flush().await
}

/// `chunk` as one line of a `printf` format that prints exactly `chunk`: printable ASCII
/// as itself, except `\`, `%` and `-` (a leading `-` could read as an option); every
/// other byte as a three-digit octal escape. Never empty, so it cannot end the payload.
pub(crate) fn escape_line(chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() * 2 + 1);
    for &b in chunk {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'%' | b'-') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_are_framed() {
        let data = b"ok 5\nhello\nack 0\nerr 3\nbad".to_vec();
        let mut r = tokio::io::BufReader::new(&data[..]);
        let a = read_reply(&mut r, 100).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (Status::Ok, &b"hello"[..]));
        // The body was 5 bytes: the "\n" after it begins the next header, which is garbage.
        assert!(matches!(
            read_reply(&mut r, 100).await,
            Err(ReadError::Garbage(_))
        ));
        let data = b"ok 3\nabcack 0\nerr 1\nx".to_vec();
        let mut r = tokio::io::BufReader::new(&data[..]);
        assert_eq!(read_reply(&mut r, 100).await.unwrap().body, b"abc");
        assert_eq!(read_reply(&mut r, 100).await.unwrap().status, Status::Ack);
        assert_eq!(read_reply(&mut r, 100).await.unwrap().status, Status::Err);
        assert!(matches!(read_reply(&mut r, 100).await, Err(ReadError::Eof)));
        let data = b"ok 300\n".to_vec();
        assert!(matches!(
            read_reply(&mut tokio::io::BufReader::new(&data[..]), 100).await,
            Err(ReadError::TooLarge(300))
        ));
    }

    #[test]
    fn escaping_covers_every_byte() {
        assert_eq!(
            escape_line(b"a-b%\\\n\0\xff"),
            b"a\\055b\\045\\134\\012\\000\\377\n"
        );
    }
}
