//! `email-send`: sends mail through SMTP.
//!
//! The server comes from the host configuration of the node type
//! (`config.smtp`: `{host, port, starttls, from}`); the login from the
//! tenant's credential bound to the node's `smtp` slot (`{username,
//! password}`), so a workflow never holds a password. The message is either
//! `subject` + `body`, or a named `template` (a `<name>.txt` file in
//! `config.templateDir`, its first line `Subject: ...`, `{key}` placeholders
//! filled from `data`).

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use plugin_abi::codes;
use plugin_abi::sdk::value::to_display_string;
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Map, Value};

type NodeResult = Result<NodeOutput, NodeError>;

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let addresses = json!({"type": ["string", "array"], "items": {"type": "string"}});
    PluginDefinition::new("plugflow-email", env!("CARGO_PKG_VERSION"))
        .description("Mail through SMTP.")
        .node(
            NodeSpec::new("email-send", "1.0.0", "integration", "Sends an email to `to` (and `cc`, `bcc`; an address or a list), with `subject` and a text `body`, or with a named `template` filled from `data`. `from` defaults to the host's configured sender. The SMTP server is host configuration; the login is the tenant's credential in the node's `smtp` slot. Output: {accepted: [recipients], subject}.")
                .schema(json!({"type": "object", "properties": {
                    "to": addresses, "cc": addresses, "bcc": addresses,
                    "from": {"type": "string"},
                    "subject": {"type": "string"},
                    "body": {"type": "string"},
                    "template": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "data": {"type": "object"}}}))
                .required(["to"])
                .tags(["email", "integration"])
                .icon("mail")
                .blocking()
                .handler(send),
        )
}

plugin_abi::export_plugin!(definition);

fn mailboxes(request: &NodeRequest, name: &str) -> Result<Vec<Mailbox>, NodeError> {
    let list: Vec<&Value> = match request.param(name) {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let text = v.as_str().ok_or_else(|| {
                NodeError::invalid_parameter(
                    &format!("{name}/{i}"),
                    format!("expected an address, got {}", kind(v)),
                )
            })?;
            text.parse::<Mailbox>().map_err(|e| {
                NodeError::invalid_parameter(
                    &format!("{name}/{i}"),
                    format!("`{text}` is not an email address: {e}"),
                )
            })
        })
        .collect()
}

fn fill(template: &str, data: &Map<String, Value>) -> String {
    data.iter().fold(template.to_owned(), |text, (k, v)| {
        text.replace(&format!("{{{k}}}"), &to_display_string(v))
    })
}

/// Subject and body, from the parameters or a named template.
fn content(
    request: &NodeRequest,
    config: &Map<String, Value>,
) -> Result<(String, String), NodeError> {
    let empty = Map::new();
    let data = request
        .param("data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(name) = request.param("template") else {
        let subject = request
            .param("subject")
            .map(to_display_string)
            .unwrap_or_default();
        let body = request
            .param("body")
            .map(to_display_string)
            .ok_or_else(|| NodeError::invalid_parameter("body", "give a `body` or a `template`"))?;
        return Ok((fill(&subject, data), fill(&body, data)));
    };
    let name = name.as_str().filter(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    let name = name.ok_or_else(|| {
        NodeError::invalid_parameter(
            "template",
            "a template name is letters, digits, `_` and `-`",
        )
    })?;
    let dir = config
        .get("templateDir")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            NodeError::invalid_parameter(
                "template",
                "no template directory is configured for email-send",
            )
        })?;
    let path = PathBuf::from(dir).join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        NodeError::invalid_parameter(
            "template",
            format!("template `{name}` cannot be read ({}): {e}", path.display()),
        )
    })?;
    let (subject, body) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("Subject:") => (
            first.trim_start_matches("Subject:").trim().to_owned(),
            rest.to_owned(),
        ),
        _ => (
            request
                .param("subject")
                .map(to_display_string)
                .unwrap_or_default(),
            text,
        ),
    };
    Ok((fill(&subject, data), fill(&body, data)))
}

/// `<plugflow.EXECUTION.NODE@DOMAIN>` for a node of a known execution (the
/// same for every attempt of it), else `None` (a fresh one is made). Bytes
/// of the ids that may not stand in a Message-ID are written `=XX`.
fn idempotent_message_id(execution_id: &str, node_id: &str, domain: &str) -> Option<String> {
    if execution_id.is_empty() {
        return None;
    }
    Some(format!(
        "<plugflow.{}.{}@{}>",
        atom(execution_id, b""),
        atom(node_id, b""),
        atom(domain, b".")
    ))
}

/// `text` with every byte that is not a letter, a digit, `-`, `_` or one
/// of `also` written `=XX`.
fn atom(text: &str, also: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || also.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    out
}

fn send(request: &NodeRequest) -> NodeResult {
    let config = &request.config;
    let empty = Map::new();
    let smtp = config
        .get("smtp")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let host = smtp.get("host").and_then(Value::as_str).ok_or_else(|| {
        NodeError::new(
            codes::INVALID_PARAMETERS,
            "no SMTP server is configured for email-send; an operator sets config.smtp.host",
        )
    })?;
    let port = smtp
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(25);
    let to = mailboxes(request, "to")?;
    if to.is_empty() {
        return Err(NodeError::invalid_parameter(
            "to",
            "at least one recipient is needed",
        ));
    }
    let cc = mailboxes(request, "cc")?;
    let bcc = mailboxes(request, "bcc")?;
    let from_text = request
        .param("from")
        .and_then(Value::as_str)
        .or_else(|| smtp.get("from").and_then(Value::as_str))
        .unwrap_or("plugflow@localhost");
    let from: Mailbox = from_text.parse().map_err(|e| {
        NodeError::invalid_parameter(
            "from",
            format!("`{from_text}` is not an email address: {e}"),
        )
    })?;
    let (subject, body) = content(request, config)?;

    // The idempotency key SMTP has: a retry of this node in the same
    // execution (after a timeout that hid an accepted message, say) sends
    // the same Message-ID, which receivers use to drop the duplicate.
    let message_id = idempotent_message_id(
        &request.context.execution_id,
        &request.node_id,
        from.email.domain(),
    );
    let mut message = Message::builder()
        .from(from)
        .subject(subject.clone())
        .message_id(message_id)
        .header(ContentType::TEXT_PLAIN);
    for m in &to {
        message = message.to(m.clone());
    }
    for m in &cc {
        message = message.cc(m.clone());
    }
    for m in &bcc {
        message = message.bcc(m.clone());
    }
    let message = message
        .body(body)
        .map_err(|e| NodeError::execution(format!("cannot build the message: {e}")))?;

    let starttls = smtp
        .get("starttls")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut transport = if starttls {
        SmtpTransport::starttls_relay(host)
            .map_err(|e| NodeError::execution(format!("cannot set up STARTTLS to {host}: {e}")))?
    } else {
        SmtpTransport::builder_dangerous(host)
    }
    .port(port)
    .timeout(Some(Duration::from_secs(30)));
    // The `smtp` slot, else any bound credential of type smtp.
    let login = request
        .credentials
        .get("smtp")
        .or_else(|| {
            request
                .credentials
                .values()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("smtp"))
        })
        .and_then(Value::as_object);
    if let Some(login) = login {
        let user = login
            .get("username")
            .map(to_display_string)
            .unwrap_or_default();
        let password = login
            .get("password")
            .map(to_display_string)
            .unwrap_or_default();
        transport = transport.credentials(Credentials::new(user, password));
    }
    transport.build().send(&message).map_err(|e| {
        let error = NodeError::execution(format!(
            "SMTP server {host}:{port} refused the message: {e}"
        ));
        if e.is_transient() || e.is_timeout() {
            error.retryable()
        } else {
            error
        }
    })?;
    let accepted: Vec<String> = to
        .iter()
        .chain(&cc)
        .chain(&bcc)
        .map(|m| m.email.to_string())
        .collect();
    Ok(NodeOutput::new(
        json!({"accepted": accepted, "subject": subject}),
    ))
}
