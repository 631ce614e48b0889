//! A minimal HTTP/1.1 keep-alive client for the load generator.
//!
//! Why not ureq: with 64 connections on 2 cores, the load generator shares the CPU with the server
//! it measures, so the client must cost as little as possible per request. This one writes a request
//! with one `write`, reads the answer through a buffer, and understands exactly what the server
//! sends (a `Content-Length` body or a chunked one). It refuses anything but loopback addresses: the
//! load generator never sends traffic anywhere else.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<(TcpStream, BufReader<TcpStream>)>,
    request: Vec<u8>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Conn {
    /// A connection to `addr` (opened on first use); only loopback is allowed.
    pub fn new(addr: SocketAddr) -> io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is not a loopback address")));
        }
        Ok(Conn { addr, stream: None, request: Vec::with_capacity(4096) })
    }

    fn connect(&mut self) -> io::Result<&mut (TcpStream, BufReader<TcpStream>)> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            let r = BufReader::with_capacity(64 * 1024, s.try_clone()?);
            self.stream = Some((s, r));
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
        req.clear();
        write!(req, "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n", self.addr)?;
        if let Some(b) = body {
            write!(req, "Content-Type: application/json\r\nContent-Length: {}\r\n", b.len())?;
        }
        req.extend_from_slice(b"\r\n");
        if let Some(b) = body {
            req.extend_from_slice(b);
        }
        let result = (|| {
            let (stream, reader) = self.connect()?;
            stream.write_all(&req)?;
            read_answer(reader)
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
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one answer; the flag says the server will close the connection.
fn read_answer(r: &mut BufReader<TcpStream>) -> io::Result<(Answer, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed inside the headers"));
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
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
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
        close = true;
    }
    Ok((Answer { status, body }, close))
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
}
