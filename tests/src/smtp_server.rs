//! A small SMTP responder on 127.0.0.1 for tests: it accepts every message
//! and keeps it, so a test can check exactly what was sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One message the server accepted.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// The `AUTH PLAIN` token, if the client logged in.
    pub auth: Option<String>,
    /// The `MAIL FROM` line.
    pub from: String,
    /// The `RCPT TO` lines.
    pub recipients: Vec<String>,
    /// The message as sent after `DATA`.
    pub data: String,
}

impl Received {
    /// The value of header `name` in the message (first line only).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The message body, quoted-printable soft line breaks and `=XX`
    /// escapes decoded.
    pub fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(_, b)| b);
        let joined = raw.replace("=\r\n", "");
        let mut out = Vec::with_capacity(joined.len());
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }

    /// Whether a recipient line names `address`.
    pub fn to(&self, address: &str) -> bool {
        self.recipients.iter().any(|r| r.contains(address))
    }
}

/// Speaks just enough SMTP: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
/// Returns its port and the messages it accepted.
pub fn smtp_server() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let store = inbox.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut mail = Received::default();
                let _ = write!(out, "220 localhost ready\r\n");
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    let cmd = line.trim_end().to_owned();
                    line.clear();
                    let upper = cmd.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        "250-localhost\r\n250 AUTH PLAIN LOGIN\r\n".to_owned()
                    } else if upper.starts_with("AUTH PLAIN") {
                        mail.auth = cmd.split_whitespace().nth(2).map(str::to_owned);
                        "235 ok\r\n".to_owned()
                    } else if upper.starts_with("MAIL FROM") {
                        mail.from = cmd.clone();
                        "250 ok\r\n".to_owned()
                    } else if upper.starts_with("RCPT TO") {
                        mail.recipients.push(cmd.clone());
                        "250 ok\r\n".to_owned()
                    } else if upper == "DATA" {
                        let _ = write!(out, "354 go\r\n");
                        let mut data = String::new();
                        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                            line.clear();
                        }
                        line.clear();
                        mail.data = data;
                        store.lock().unwrap().push(mail.clone());
                        "250 queued\r\n".to_owned()
                    } else if upper == "QUIT" {
                        let _ = write!(out, "221 bye\r\n");
                        break;
                    } else {
                        "250 ok\r\n".to_owned()
                    };
                    let _ = out.write_all(reply.as_bytes());
                }
            });
        }
    });
    (port, inbox)
}
