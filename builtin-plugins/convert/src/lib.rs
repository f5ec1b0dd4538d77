//! The `convert.*` node family: 15 type conversions with JavaScript-like
//! rules, dates (RFC 3339 / ISO 8601, epoch milliseconds, strftime formats),
//! base64 and URL encoding.
//!
//! Every node returns `{ "result": <value> }`. A value that cannot be
//! converted is an `INVALID_PARAMETERS` error naming `value`, never NaN.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use plugin_abi::sdk::value::{number, to_display_string, to_number, truthy};
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Value};

type NodeResult = Result<NodeOutput, NodeError>;

/// What `encodeURIComponent` leaves alone: letters, digits, `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

fn value(request: &NodeRequest) -> &Value {
    request.parameters.get("value").unwrap_or(&Value::Null)
}

fn ok(v: Value) -> NodeResult {
    Ok(NodeOutput::result(v))
}

fn bad(message: impl std::fmt::Display) -> NodeError {
    NodeError::invalid_parameter("value", message)
}

fn text(request: &NodeRequest) -> Result<&str, NodeError> {
    value(request)
        .as_str()
        .ok_or_else(|| bad(format!("expected a string, got {}", kind(value(request)))))
}

fn spec(
    node_type: &str,
    description: &str,
    extra: Value,
    handler: fn(&NodeRequest) -> NodeResult,
) -> NodeSpec {
    let mut properties = json!({"value": {}});
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    NodeSpec::function("convert", node_type, description, properties, &[]).handler(handler)
}

/// Parses a date: RFC 3339 / ISO 8601 text (a date alone is midnight UTC),
/// epoch milliseconds as a number, or text in `format` (strftime).
fn parse_date(value: &Value, format: Option<&str>) -> Result<DateTime<Utc>, NodeError> {
    match value {
        Value::Number(n) => {
            let ms = n
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad("expected epoch milliseconds"))?;
            Utc.timestamp_millis_opt(ms as i64)
                .single()
                .ok_or_else(|| bad(format!("{ms} ms is out of the date range")))
        }
        Value::String(s) => {
            let s = s.trim();
            if let Some(format) = format {
                return NaiveDateTime::parse_from_str(s, format)
                    .map(|d| d.and_utc())
                    .or_else(|_| {
                        NaiveDate::parse_from_str(s, format)
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                    })
                    .map_err(|e| bad(format!("`{s}` does not match format `{format}`: {e}")));
            }
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|d| d.and_utc())
                })
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|d| d.and_utc())
                })
                .or_else(|_| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                })
                .map_err(|_| {
                    bad(format!(
                        "`{s}` is not an ISO 8601 date; give `format` for other layouts"
                    ))
                })
        }
        other => Err(bad(format!(
            "expected a date string or epoch milliseconds, got {}",
            kind(other)
        ))),
    }
}

fn integer(request: &NodeRequest, name: &str) -> NodeResult {
    let v = value(request);
    let n = match v {
        Value::String(s) => s.trim().parse::<f64>().ok().or_else(|| {
            // parseInt-like: leading digits of the text.
            let digits: String = s
                .trim()
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(_, c)| c)
                .collect();
            digits.parse::<f64>().ok()
        }),
        other => to_number(other),
    };
    let n = n.ok_or_else(|| bad(format!("`{}` is not a number", to_display_string(v))))?;
    let _ = name;
    number(n.trunc())
        .map(NodeOutput::result)
        .ok_or_else(|| bad("the number is out of range"))
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    PluginDefinition::new("plugflow-convert", env!("CARGO_PKG_VERSION"))
        .description("Type conversions, dates, base64 and URL encoding.")
        .node(spec("convert.toString", "The text of `value` (objects and arrays as JSON, null as \"\"). Output: {result: string}.", json!({}), |r| ok(json!(to_display_string(value(r))))))
        .node(spec("convert.toNumber", "`value` as a number (numeric text, booleans as 0/1). Output: {result: number}.", json!({}), |r| {
            let n = to_number(value(r)).ok_or_else(|| bad(format!("`{}` is not a number", to_display_string(value(r)))))?;
            number(n).map(NodeOutput::result).ok_or_else(|| bad("not a finite number"))
        }))
        .node(spec("convert.toFloat", "`value` as a floating-point number (same rules as toNumber). Output: {result: number}.", json!({}), |r| {
            let n = to_number(value(r)).ok_or_else(|| bad(format!("`{}` is not a number", to_display_string(value(r)))))?;
            serde_json::Number::from_f64(n).map(|n| NodeOutput::result(Value::Number(n))).ok_or_else(|| bad("not a finite number"))
        }))
        .node(spec("convert.toInteger", "`value` truncated to an integer (text: its leading digits, like parseInt). Output: {result: integer}.", json!({}), |r| integer(r, "value")))
        .node(spec("convert.toBoolean", "JavaScript truthiness of `value`; the strings \"false\", \"0\", \"no\", \"off\" are false too. Output: {result: boolean}.", json!({}), |r| {
            let v = value(r);
            let b = match v {
                Value::String(s) => !matches!(s.trim().to_ascii_lowercase().as_str(), "" | "false" | "0" | "no" | "off"),
                other => truthy(other),
            };
            ok(json!(b))
        }))
        .node(spec("convert.toArray", "`value` as an array: arrays as they are, null as [], anything else wrapped. Output: {result: array}.", json!({}), |r| {
            ok(match value(r) {
                Value::Array(a) => Value::Array(a.clone()),
                Value::Null => json!([]),
                other => json!([other]),
            })
        }))
        .node(spec("convert.toObject", "`value` as an object: objects as they are, JSON object text parsed, arrays of [key, value] pairs collected. Output: {result: object}.", json!({}), |r| {
            match value(r) {
                Value::Object(o) => ok(Value::Object(o.clone())),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(o)) => ok(Value::Object(o)),
                    _ => Err(bad("text is not a JSON object")),
                },
                Value::Array(pairs) => {
                    let mut object = serde_json::Map::new();
                    for (i, pair) in pairs.iter().enumerate() {
                        match pair.as_array().map(Vec::as_slice) {
                            Some([k, v]) => {
                                object.insert(to_display_string(k), v.clone());
                            }
                            _ => return Err(NodeError::invalid_parameter(&format!("value/{i}"), "expected a [key, value] pair")),
                        }
                    }
                    ok(Value::Object(object))
                }
                other => Err(bad(format!("cannot make an object of {}", kind(other)))),
            }
        }))
        .node(spec("convert.parseJson", "Parses the JSON text `value`. Output: {result: any}.", json!({"value": {"type": "string"}}), |r| {
            serde_json::from_str(text(r)?).map(NodeOutput::result).map_err(|e| bad(format!("not valid JSON: {e}")))
        }))
        .node(spec("convert.toJson", "`value` as JSON text; `pretty` indents it. Output: {result: string}.", json!({"pretty": {"type": "boolean", "default": false}}), |r| {
            let pretty = r.param("pretty").and_then(Value::as_bool).unwrap_or(false);
            let text = if pretty { serde_json::to_string_pretty(value(r)) } else { serde_json::to_string(value(r)) };
            text.map(|t| NodeOutput::result(json!(t))).map_err(|e| NodeError::execution(e.to_string()))
        }))
        .node(spec("convert.parseDate", "Parses `value` (ISO 8601 text, epoch milliseconds, or text in strftime `format`) into {iso, epochMs}. Output: {result: {iso: string, epochMs: integer}}.", json!({"format": {"type": "string"}}), |r| {
            let date = parse_date(value(r), r.param("format").and_then(Value::as_str))?;
            ok(json!({"iso": date.to_rfc3339_opts(SecondsFormat::Millis, true), "epochMs": date.timestamp_millis()}))
        }))
        .node(spec("convert.formatDate", "Formats the date `value` (as parseDate reads it) with strftime `format` (default ISO 8601 with milliseconds, UTC). Output: {result: string}.", json!({"format": {"type": "string"}, "inputFormat": {"type": "string"}}), |r| {
            let date = parse_date(value(r), r.param("inputFormat").and_then(Value::as_str))?;
            match r.param("format").and_then(Value::as_str) {
                None => ok(json!(date.to_rfc3339_opts(SecondsFormat::Millis, true))),
                Some(format) => {
                    use std::fmt::Write as _;
                    let mut out = String::new();
                    write!(out, "{}", date.format(format)).map_err(|_| NodeError::invalid_parameter("format", format!("`{format}` is not a valid strftime format")))?;
                    ok(json!(out))
                }
            }
        }))
        .node(spec("convert.base64Encode", "Base64 (standard alphabet, padded) of the UTF-8 text of `value`. Output: {result: string}.", json!({}), |r| {
            ok(json!(base64::engine::general_purpose::STANDARD.encode(to_display_string(value(r)))))
        }))
        .node(spec("convert.base64Decode", "Decodes base64 `value` (standard or URL-safe, padding optional) to UTF-8 text. Output: {result: string}.", json!({"value": {"type": "string"}}), |r| {
            let input = text(r)?.trim();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(input)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(input))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(input))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(input))
                .map_err(|e| bad(format!("not base64: {e}")))?;
            String::from_utf8(bytes).map(|s| NodeOutput::result(json!(s))).map_err(|_| bad("decodes to bytes that are not UTF-8 text"))
        }))
        .node(spec("convert.urlEncode", "Percent-encodes the text of `value` as JavaScript's encodeURIComponent does. Output: {result: string}.", json!({}), |r| {
            ok(json!(utf8_percent_encode(&to_display_string(value(r)), URI_COMPONENT).to_string()))
        }))
        .node(spec("convert.urlDecode", "Decodes percent-encoding (and `+` as a space) in `value`. Output: {result: string}.", json!({"value": {"type": "string"}}), |r| {
            let plus = text(r)?.replace('+', " ");
            percent_decode_str(&plus).decode_utf8().map(|s| NodeOutput::result(json!(s))).map_err(|_| bad("decodes to bytes that are not UTF-8 text"))
        }))
}

plugin_abi::export_plugin!(definition);
