//! A small HTTP/1.1 server on 127.0.0.1 for tests: one thread per
//! connection, `Connection: close`, answers from a routing function.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use serde_json::{json, Map, Value};

/// A request as the routing function sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The path without the query.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Map<String, Value>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The request as JSON (method, target, headers, body as text).
    pub fn to_json(&self) -> Value {
        json!({"method": self.method, "target": self.target, "headers": self.headers, "body": String::from_utf8_lossy(&self.body)})
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Further header lines, each ending in `\r\n`.
    pub extra_headers: String,
    /// The body.
    pub body: String,
}

impl Response {
    /// A response with a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            extra_headers: String::new(),
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self {
            extra_headers: format!("Location: {location}\r\n"),
            ..Self::new(status, "text/plain", "")
        }
    }
}

/// Starts a server answering with `route(request, port)`; returns its port.
/// It lives as long as the test process.
pub fn serve<F>(route: F) -> u16
where
    F: Fn(&Request, u16) -> Response + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().map_or(0, |a| a.port());
    let route = Arc::new(route);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let route = route.clone();
            std::thread::spawn(move || handle(stream, port, &*route));
        }
    });
    port
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Map::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim().split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.insert(k.trim().to_ascii_lowercase(), json!(v.trim()));
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = target.split('?').next().unwrap_or("").to_owned();
    Some(Request {
        method,
        target,
        path,
        headers,
        body,
    })
}

fn handle(mut stream: TcpStream, port: u16, route: &(dyn Fn(&Request, u16) -> Response + Sync)) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let r = route(&request, port);
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{}",
        r.status,
        r.content_type,
        r.body.len(),
        r.extra_headers,
        r.body
    );
}
