//! `http-request`: a real HTTP client (ureq) with a timeout, a redirect
//! limit, a response size limit and an egress allowlist per tenant.
//!
//! The allowlist comes from the host configuration of the node type
//! (`config.egress`: tenant id, or `*`, → host patterns such as
//! `api.example.com`, `*.example.com`, `127.0.0.1:8080`). Without an
//! `egress` entry every public host is allowed; with one, a tenant may
//! reach only its hosts. Either way the addresses a name resolves to are
//! checked inside the client's own resolution ([`resolve`]), on every
//! redirect hop: loopback, private, link-local, unique-local, unspecified
//! and cloud-metadata addresses — in every spelling, and names that resolve
//! to them — are refused unless the allowlist names the address literally
//! (or the operator sets `config.allowInternal`). Only `http` and `https`
//! URLs are followed. A redirect to another origin (scheme, host or port)
//! drops `Authorization`, `Cookie`, `Proxy-Authorization` and the headers
//! a bound credential added, as curl and browsers do. A workflow cannot
//! set `Host`.

pub mod resolve;

use std::time::Duration;

use plugin_abi::codes;
use plugin_abi::sdk::value::to_display_string;
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Map, Value};
use url::Url;

type NodeResult = Result<NodeOutput, NodeError>;

const DEFAULT_TIMEOUT_S: f64 = 30.0;
const MAX_TIMEOUT_S: f64 = 300.0;
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    PluginDefinition::new("plugflow-http", env!("CARGO_PKG_VERSION"))
        .description("HTTP requests with timeouts, limits and a per-tenant egress allowlist.")
        .node(
            NodeSpec::new("http-request", "1.0.0", "integration", "Sends an HTTP request: `method` (default GET), `url`, `headers`, `query`, `body` (objects and arrays are sent as JSON, strings as text), `timeout` in seconds (default 30, at most 300), `followRedirects` (default true) up to `maxRedirects` (default 5), `maxResponseBytes` (default 10 MiB). Output: {status, headers, body} with the body parsed when the response is JSON. Status 408, 429 and >= 500 are retryable errors, other >= 400 non-retryable errors; both carry the response in the error details. A bound credential (the node's `credentials`) of type bearer, basic or header adds its header unless the node sets that header itself.")
                .schema(json!({"type": "object", "properties": {
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "post", "put", "patch", "delete", "head", "options"], "default": "GET"},
                    "url": {"type": "string", "minLength": 1},
                    "headers": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    "query": {"type": "object"},
                    "body": {},
                    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_S},
                    "followRedirects": {"type": "boolean", "default": true},
                    "maxRedirects": {"type": "integer", "minimum": 0, "maximum": 20, "default": 5},
                    "maxResponseBytes": {"type": "integer", "minimum": 1}}}))
                .required(["url"])
                .tags(["http", "integration"])
                .icon("globe")
                .blocking()
                .handler(request),
        )
}

plugin_abi::export_plugin!(definition);

/// Whether `url`'s host (and port) matches one of `patterns`.
fn host_allowed(url: &Url, patterns: &[String]) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port_or_known_default();
    patterns.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        let (host_pattern, port_pattern) = match pattern.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => {
                (h.to_owned(), p.parse::<u16>().ok())
            }
            _ => (pattern.clone(), None),
        };
        let host_matches = match host_pattern.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host_pattern == "*" || host == host_pattern,
        };
        host_matches && port_pattern.is_none_or(|p| Some(p) == port)
    })
}

/// The egress patterns for the request's tenant, or `None` when no
/// allowlist is configured (every public host allowed).
fn egress_patterns(request: &NodeRequest) -> Option<Vec<String>> {
    let egress = request.config.get("egress").and_then(Value::as_object)?;
    let tenant = request.context.tenant_id.as_deref().unwrap_or("");
    Some(
        [egress.get(tenant), egress.get("*")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Refuses `url` unless its scheme is http(s) and its host is allowed.
fn check_egress(
    url: &Url,
    request: &NodeRequest,
    patterns: Option<&[String]>,
) -> Result<(), NodeError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NodeError::invalid_parameter(
            "url",
            format!(
                "scheme `{}` is not allowed: only http and https",
                url.scheme()
            ),
        ));
    }
    let Some(patterns) = patterns else {
        return Ok(());
    };
    if host_allowed(url, patterns) {
        Ok(())
    } else {
        let tenant = request.context.tenant_id.as_deref().unwrap_or("");
        Err(NodeError::new(
            codes::EXECUTION_ERROR,
            format!(
                "egress to `{}` is not allowed for tenant `{tenant}`; an operator can add the host to the http-request egress allowlist",
                url.host_str().unwrap_or_default()
            ),
        ))
    }
}

fn transport_error(error: ureq::Error, url: &Url) -> NodeError {
    match error {
        ureq::Error::Timeout(_) => NodeError::new(
            codes::EXECUTION_TIMEOUT,
            format!("request to {url} timed out"),
        )
        .retryable(),
        ureq::Error::BodyExceedsLimit(limit) => NodeError::execution(format!(
            "response from {url} is larger than {limit} bytes (maxResponseBytes)"
        )),
        ureq::Error::Io(e) if e.to_string().starts_with(resolve::REFUSED) => {
            NodeError::execution(format!("request to {url} refused: {e}"))
        }
        ureq::Error::Io(e) => {
            NodeError::execution(format!("request to {url} failed: {e}")).retryable()
        }
        ureq::Error::HostNotFound => {
            NodeError::execution(format!("host of {url} not found")).retryable()
        }
        ureq::Error::ConnectionFailed => {
            NodeError::execution(format!("cannot connect to {url}")).retryable()
        }
        other => NodeError::execution(format!("request to {url} failed: {other}")),
    }
}

/// Headers from the node's bound credentials: a `bearer`, `basic` or
/// `header` credential adds its header unless the node sets that header
/// itself.
fn credential_headers(
    request: &NodeRequest,
    headers: &Map<String, Value>,
) -> Vec<(String, String)> {
    use base64::Engine as _;
    let set = |name: &str| headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    let mut out: Vec<(String, String)> = Vec::new();
    for credential in request.credentials.values().filter_map(Value::as_object) {
        let text = |k: &str| {
            credential
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (name, value) = match text("type") {
            "bearer" => (
                "authorization".to_owned(),
                format!("Bearer {}", text("secret")),
            ),
            "basic" => (
                "authorization".to_owned(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        text("user"),
                        text("secret")
                    ))
                ),
            ),
            "header" if !text("header").is_empty() => (
                text("header").to_ascii_lowercase(),
                text("secret").to_owned(),
            ),
            _ => continue,
        };
        if !set(&name) && !out.iter().any(|(n, _)| *n == name) {
            out.push((name, value));
        }
    }
    out
}

/// Headers that carry credentials: dropped on a redirect to another origin.
const SENSITIVE_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Scheme, host and port: what a redirect must keep for credentials to
/// follow it.
fn origin_of(url: &Url) -> (String, String, Option<u16>) {
    (
        url.scheme().to_owned(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

fn param_f64(request: &NodeRequest, name: &str, default: f64) -> f64 {
    request
        .param(name)
        .and_then(Value::as_f64)
        .unwrap_or(default)
}

fn request(request: &NodeRequest) -> NodeResult {
    let mut method = request
        .param("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let mut url = Url::parse(request.str_param("url")?)
        .map_err(|e| NodeError::invalid_parameter("url", format!("not a valid URL: {e}")))?;
    if let Some(query) = request.param("query") {
        let query = query.as_object().ok_or_else(|| {
            NodeError::invalid_parameter(
                "query",
                format!("expected an object, got {}", kind(query)),
            )
        })?;
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, &to_display_string(v));
        }
    }
    let timeout = Duration::from_secs_f64(
        param_f64(request, "timeout", DEFAULT_TIMEOUT_S).clamp(0.001, MAX_TIMEOUT_S),
    );
    let follow = request
        .param("followRedirects")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let max_redirects = request
        .param("maxRedirects")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .min(20);
    let max_bytes = request
        .param("maxResponseBytes")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_BYTES);
    let empty = Map::new();
    let headers = match request.param("headers") {
        None => &empty,
        Some(h) => h
            .as_object()
            .ok_or_else(|| NodeError::invalid_parameter("headers", "expected an object"))?,
    };
    if headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
        return Err(NodeError::invalid_parameter(
            "headers/Host",
            "a workflow cannot set `Host`; it always names the host of `url`",
        ));
    }
    let from_credentials = credential_headers(request, headers);
    let (mut body, mut content_type): (Option<Vec<u8>>, Option<&str>) = match request.param("body")
    {
        None => (None, None),
        Some(Value::String(s)) => (
            Some(s.clone().into_bytes()),
            Some("text/plain; charset=utf-8"),
        ),
        Some(other) => (
            Some(other.to_string().into_bytes()),
            Some("application/json"),
        ),
    };
    // Redirects are followed here, not by the client, so every hop passes
    // the egress check.
    let patterns = egress_patterns(request);
    let allow_internal = request
        .config
        .get("allowInternal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        resolve::GuardedResolver::new(patterns.as_deref().unwrap_or_default(), allow_internal),
    );
    let origin = origin_of(&url);
    let mut hops = 0;
    loop {
        check_egress(&url, request, patterns.as_deref())?;
        let cross_origin = origin_of(&url) != origin;
        let mut builder = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(url.as_str());
        for (k, v) in headers {
            // Credentials never follow a redirect to another origin.
            if cross_origin && SENSITIVE_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                continue;
            }
            builder = builder.header(k.as_str(), to_display_string(v));
        }
        if !cross_origin {
            for (k, v) in &from_credentials {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        if let (Some(ct), false) = (
            content_type,
            headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type")),
        ) {
            builder = builder.header("content-type", ct);
        }
        let built = builder
            .body(body.clone().unwrap_or_default())
            .map_err(|e| {
                NodeError::invalid_parameter("headers", format!("cannot build the request: {e}"))
            })?;
        let mut response = agent.run(built).map_err(|e| transport_error(e, &url))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        if follow && (300..400).contains(&status) {
            if let Some(location) = location {
                hops += 1;
                if hops > max_redirects {
                    return Err(NodeError::execution(format!(
                        "more than {max_redirects} redirects from {url}"
                    )));
                }
                url = url.join(&location).map_err(|e| {
                    NodeError::execution(format!(
                        "redirect to an invalid location `{location}`: {e}"
                    ))
                })?;
                if status == 303
                    || ((status == 301 || status == 302) && method != "GET" && method != "HEAD")
                {
                    method = "GET".into();
                    body = None;
                    content_type = None;
                }
                continue;
            }
        }
        let mut response_headers = Map::new();
        for (name, value) in response.headers() {
            response_headers.insert(
                name.as_str().to_owned(),
                Value::String(value.to_str().unwrap_or_default().to_owned()),
            );
        }
        let is_json = response_headers
            .get("content-type")
            .and_then(Value::as_str)
            .is_some_and(|ct| ct.contains("json"));
        let text = if method == "HEAD" {
            String::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(max_bytes)
                .read_to_string()
                .map_err(|e| transport_error(e, &url))?
        };
        let body = if is_json && !text.is_empty() {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        let output = json!({"status": status, "headers": response_headers, "body": body});
        if status >= 400 {
            let error = NodeError::execution(format!("{method} {url} answered {status}"))
                .with_details(output);
            return Err(if status >= 500 || status == 408 || status == 429 {
                error.retryable()
            } else {
                error
            });
        }
        return Ok(NodeOutput::new(output));
    }
}
