//! A minimal HTTP/1.1 keep-alive client for the load generator, blocking ([`Conn`]) and async
//! ([`AsyncConn`]), over one answer parser.
//!
//! Why not ureq: with 64 connections on 2 cores, the load generator shares the CPU with the server
//! it measures, so the client must cost as little as possible per request. A request goes out with
//! one `write`; the answer is read into a buffer and parsed from it, understanding exactly what the
//! server sends (a `Content-Length` body or a chunked one). The ingest drives its connections with
//! [`AsyncConn`] on one thread: 64 blocking connections meant 64 threads, each put to sleep and woken
//! again by the kernel for every answer, which cost the client about twice the CPU per request and
//! the server the wake-ups of those threads. Both refuse anything but loopback addresses: the load
//! generator never sends traffic anywhere else.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much is read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// One blocking keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

fn loopback_only(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is not a loopback address")))
    }
}

/// The bytes of one request into `req` (cleared first).
fn encode_request(req: &mut Vec<u8>, addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) {
    req.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(req, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some(b) = body {
        let _ = write!(req, "Content-Type: application/json\r\nContent-Length: {}\r\n", b.len());
    }
    req.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
}

impl Conn {
    /// A connection to `addr` (opened on first use); only loopback is allowed.
    pub fn new(addr: SocketAddr) -> io::Result<Self> {
        loopback_only(addr)?;
        Ok(Conn { addr, stream: None, request: Vec::with_capacity(4096), buf: Vec::with_capacity(READ_CHUNK) })
    }

    fn connect(&mut self) -> io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            self.buf.clear();
            self.stream = Some(s);
        }
        self.stream.as_mut().ok_or_else(|| io::Error::other("no connection"))
    }

    /// GET `path` (already percent-encoded).
    pub fn get(&mut self, path: &str) -> io::Result<Answer> {
        self.send("GET", path, None)
    }

    /// POST a JSON body.
    pub fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<Answer> {
        self.send("POST", path, Some(body))
    }

    /// Sends a request, reconnecting once if the server had closed an idle connection.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Answer> {
        let fresh = self.stream.is_none();
        match self.try_send(method, path, body) {
            Ok(a) => Ok(a),
            Err(_) if !fresh => {
                self.stream = None;
                self.try_send(method, path, body)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    fn try_send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Answer> {
        let mut req = std::mem::take(&mut self.request);
        encode_request(&mut req, self.addr, method, path, body);
        let result = (|| {
            self.connect()?.write_all(&req)?;
            self.read_answer()
        })();
        self.request = req;
        match result {
            Ok((answer, close)) => {
                if close {
                    self.stream = None;
                }
                Ok(answer)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    fn read_answer(&mut self) -> io::Result<(Answer, bool)> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some((answer, close, used)) = parse_answer(&self.buf, false)? {
                self.buf.drain(..used);
                return Ok((answer, close));
            }
            let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("no connection"))?;
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                let parsed = parse_answer(&self.buf, true)?;
                self.buf.clear();
                return parsed.map(|(a, _, _)| (a, true)).ok_or_else(|| closed(true));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One keep-alive connection for a tokio runtime; unlike [`Conn`] it does not reconnect (the
/// ingest opens its connections once and sends on them until done).
pub struct AsyncConn {
    addr: SocketAddr,
    stream: Option<tokio::net::TcpStream>,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl AsyncConn {
    /// A connection to `addr` (opened on first use); only loopback is allowed.
    pub fn new(addr: SocketAddr) -> io::Result<Self> {
        loopback_only(addr)?;
        Ok(AsyncConn { addr, stream: None, request: Vec::with_capacity(4096), buf: Vec::with_capacity(READ_CHUNK) })
    }

    /// POST a JSON body.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<Answer> {
        let result = self.try_post(path, body).await;
        if result.as_ref().map_or(true, |(_, close)| *close) {
            self.stream = None;
            self.buf.clear();
        }
        result.map(|(answer, _)| answer)
    }

    async fn try_post(&mut self, path: &str, body: &[u8]) -> io::Result<(Answer, bool)> {
        encode_request(&mut self.request, self.addr, "POST", path, Some(body));
        if self.stream.is_none() {
            let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(self.addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {}", self.addr)))??;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::other("no connection"))?;
        stream.write_all(&self.request).await?;
        loop {
            if let Some((answer, close, used)) = parse_answer(&self.buf, false)? {
                self.buf.drain(..used);
                return Ok((answer, close));
            }
            self.buf.reserve(READ_CHUNK);
            let read = tokio::time::timeout(Duration::from_secs(120), stream.read_buf(&mut self.buf));
            let n = read.await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 120 s"))??;
            if n == 0 {
                return parse_answer(&self.buf, true)?.map(|(a, _, _)| (a, true)).ok_or_else(|| closed(true));
            }
        }
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn closed(inside: bool) -> io::Error {
    let what = if inside { "connection closed inside the answer" } else { "connection closed" };
    io::Error::new(io::ErrorKind::UnexpectedEof, what)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the answer at the start of `buf`: the answer, whether the server will close the
/// connection, and how many bytes it took; `None` while it is incomplete. `eof`: no more bytes
/// will come (an answer without a length then ends here; an incomplete one is an error).
pub fn parse_answer(buf: &[u8], eof: bool) -> io::Result<Option<(Answer, bool, usize)>> {
    let incomplete = || if eof { Err(closed(!buf.is_empty())) } else { Ok(None) };
    let Some(head_end) = find(buf, b"\r\n\r\n") else { return incomplete() };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("the answer's head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    for h in lines {
        let Some((k, v)) = h.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse().map_err(|_| bad("bad content-length"))?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    let mut at = head_end + 4;
    if chunked {
        let mut body = Vec::new();
        loop {
            let Some(end) = find(&buf[at..], b"\r\n") else { return incomplete() };
            let line = std::str::from_utf8(&buf[at..at + end]).map_err(|_| bad("bad chunk size"))?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            at += end + 2;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    let Some(end) = find(&buf[at..], b"\r\n") else { return incomplete() };
                    at += end + 2;
                    if end == 0 {
                        break;
                    }
                }
                return Ok(Some((Answer { status, body }, close, at)));
            }
            if buf.len() < at + size + 2 {
                return incomplete();
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    match length {
        Some(n) if buf.len() < at + n => incomplete(),
        Some(n) => Ok(Some((Answer { status, body: buf[at..at + n].to_vec() }, close, at + n))),
        // No length: the body runs to the end of the connection.
        None if eof => Ok(Some((Answer { status, body: buf[at..].to_vec() }, true, buf.len()))),
        None => Ok(None),
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("s3://a/b=1.csv"), "s3%3A%2F%2Fa%2Fb%3D1.csv");
    }

    #[test]
    fn other_addresses_than_loopback_are_refused() {
        assert!(Conn::new("10.0.0.1:80".parse().unwrap()).is_err());
        assert!(Conn::new("127.0.0.1:80".parse().unwrap()).is_ok());
    }

    /// Reads one request (head, then a `Content-Length` body) as the test servers see it: the body.
    fn read_request(r: &mut BufReader<std::net::TcpStream>) -> Vec<u8> {
        let mut len = 0;
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if let Some(v) = l.strip_prefix("Content-Length: ") {
                len = v.trim().parse().unwrap();
            }
            if l == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        body
    }

    #[test]
    fn reads_length_and_chunked_bodies_over_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            for answer in [
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    .to_string(),
            ] {
                read_request(&mut r);
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let mut c = Conn::new(addr).unwrap();
        let a = c.get("/x").unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]));
        let b = c.post_json("/y", b"{}").unwrap();
        assert_eq!((b.status, b.body.as_slice()), (201, &b"abcde"[..]));
        server.join().unwrap();
    }

    #[test]
    fn an_answer_is_parsed_only_once_whole_and_leaves_what_follows() {
        let two = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let first_len = two.len() - "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".len();
        for cut in 0..first_len {
            assert!(parse_answer(&two[..cut], false).unwrap().is_none(), "cut at {cut}");
        }
        let (a, close, used) = parse_answer(two, false).unwrap().unwrap();
        assert_eq!((a.status, a.body.as_slice(), close, used), (201, &b"hello"[..], false, first_len));
        let (b, _, used) = parse_answer(&two[first_len..], false).unwrap().unwrap();
        assert_eq!((b.status, b.body.len(), used), (200, 0, two.len() - first_len));
        // Cut short by the end of the connection: an error, not an answer.
        assert!(parse_answer(&two[..first_len - 1], true).is_err());
        let unbounded = b"HTTP/1.1 200 OK\r\n\r\nto the end";
        assert!(parse_answer(unbounded, false).unwrap().is_none());
        let (c, close, _) = parse_answer(unbounded, true).unwrap().unwrap();
        assert_eq!((c.body.as_slice(), close), (&b"to the end"[..], true));
    }

    #[test]
    fn the_async_connection_posts_over_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut bodies = Vec::new();
            for answer in [
                "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n",
            ] {
                let body = read_request(&mut r);
                bodies.push(body);
                s.write_all(answer.as_bytes()).unwrap();
            }
            bodies
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (a, b) = runtime.block_on(async {
            let mut c = AsyncConn::new(addr).unwrap();
            (c.post_json("/x", b"{\"a\":1}").await.unwrap(), c.post_json("/y", b"[]").await.unwrap())
        });
        assert_eq!((a.status, a.body.as_slice()), (201, &b"ok"[..]));
        assert_eq!((b.status, b.body.as_slice()), (400, &b"no"[..]));
        assert_eq!(server.join().unwrap(), vec![b"{\"a\":1}".to_vec(), b"[]".to_vec()]);
        assert!(AsyncConn::new("10.0.0.1:80".parse().unwrap()).is_err());
    }
}
