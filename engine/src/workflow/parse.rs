//! Reading workflow files: one verdict for every file. A JSON syntax error
//! names its line and column; a file in another MetaBuilder format is named
//! as such; a field of the wrong type becomes a problem with its JSON
//! Pointer while the rest of the file is still read and checked.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::model::Workflow;
use super::problem::Problem;
use registry_core::ErrorCode;

/// Fields of the wrong type fixed up per file before giving up: each one is
/// reported and dropped (its default is used) so the rest can be checked.
const MAX_FIELD_PROBLEMS: usize = 64;

/// A workflow file that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        message: String,
    },
    /// Not JSON.
    #[error("{file}: not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// The file (or `<input>`).
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// JSON, but not a v3 workflow: another MetaBuilder format, or not an
    /// object at all.
    #[error("{file}: {message}")]
    Format {
        /// The file.
        file: String,
        /// Which format was recognised and what to do.
        message: String,
    },
    /// Fields of the wrong type (only from [`Workflow::from_json_str`], the
    /// strict reader; [`Workflow::parse`] keeps them as problems).
    #[error("{file}: at `{}`: {}{}", problems[0].path, problems[0].message, more(problems.len()))]
    Invalid {
        /// The file.
        file: String,
        /// Every problem, with its JSON Pointer.
        problems: Vec<Problem>,
    },
}

fn more(count: usize) -> String {
    match count {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    }
}

impl ParseError {
    /// The stable code a CLI reports the error with.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Read { .. } => "FILE_UNREADABLE",
            ParseError::Syntax { .. } => "JSON_SYNTAX",
            ParseError::Format { .. } => "UNSUPPORTED_FORMAT",
            ParseError::Invalid { .. } => "VALIDATION_FAILED",
        }
    }
}

/// A `serde_path_to_error` path as JSON Pointer segments.
fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    path.iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                None
            }
        })
        .collect()
}

enum Segment {
    Index(usize),
    Key(String),
}

fn pointer(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Index(i) => format!("/{i}"),
            Segment::Key(k) => format!("/{}", super::read::escape(k)),
        })
        .collect()
}

/// Removes the value at `segments` so its default is used; `false` when
/// there is nothing left to remove.
fn remove_at(value: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut at = value;
    for s in parents {
        at = match (s, at) {
            (Segment::Key(k), Value::Object(o)) => match o.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, at) {
        (Segment::Key(k), Value::Object(o)) => o.remove(k).is_some(),
        (Segment::Index(i), Value::Array(a)) if *i < a.len() => {
            a[*i] = Value::Null;
            true
        }
        _ => false,
    }
}

/// Pointers of the node fields that mark MetaBuilder's 2.x format, for a
/// document that could not be read typed.
fn v2_node_fields(value: &Value) -> Vec<String> {
    let nodes = value.get("nodes").and_then(Value::as_array);
    nodes
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, node)| {
            ["op", "onSuccess", "nextNode"]
                .into_iter()
                .filter(move |key| node.get(key).is_some())
                .map(move |key| format!("/nodes/{i}/{key}"))
        })
        .collect()
}

/// MetaBuilder's other formats, recognised so the message can name them.
fn other_format(value: &Value, unknown: &[String]) -> Option<String> {
    let Value::Object(doc) = value else {
        return Some("a workflow is a JSON object with `nodes` and `connections`".to_owned());
    };
    let version = doc.get("version").and_then(Value::as_str).unwrap_or("");
    let v2_marker = unknown.iter().any(|p| {
        p == "/startNode"
            || p.ends_with("/op")
            || p.ends_with("/onSuccess")
            || p.ends_with("/nextNode")
    });
    if version.starts_with("2.") || v2_marker || doc.contains_key("startNode") {
        return Some(format!(
            "MetaBuilder workflow format 2.x is not supported: this file has {} ; rewrite it as v3 (`nodes` with `id`, `type`/`nodeType` and `parameters`, and `connections` keyed by source node id, as in metabuilder-workflow-v3.schema.json)",
            if doc.contains_key("startNode") { "`startNode`".to_owned() } else if version.starts_with("2.") { format!("version `{version}`") } else { "nodes with `op` / `onSuccess.nextNode`".to_owned() }
        ));
    }
    if doc.get("connections").is_some_and(Value::is_array) {
        return Some("MetaBuilder's editor format (connections as an array of edges) is not supported: export the workflow as v3, whose `connections` is an object keyed by source node id: {\"a\": {\"main\": [[{\"node\": \"b\", \"type\": \"main\", \"index\": 0}]]}}".to_owned());
    }
    None
}

impl Workflow {
    /// Reads workflow JSON; `source` names it in errors. Fields of the
    /// wrong type are kept in [`Workflow::problems`] (the workflow then
    /// cannot run) and the rest of the file is read; unknown fields are
    /// listed in [`Workflow::unknown_fields`].
    ///
    /// ```
    /// use plugflow_engine::workflow::Workflow;
    /// let w = Workflow::parse(r#"{"nodes": [{"id": 5}, {"id": "b", "timeout": "soon"}]}"#, "w.json").unwrap();
    /// let paths: Vec<&str> = w.problems.iter().map(|p| p.path.as_str()).collect();
    /// assert_eq!(paths, ["/nodes/0/id", "/nodes/1/timeout"]);
    /// let err = Workflow::parse("{\"nodes\": [", "w.json").unwrap_err();
    /// assert_eq!(err.to_string(), "w.json: not valid JSON at line 1, column 11: EOF while parsing a list");
    /// ```
    pub fn parse(text: &str, source: &str) -> Result<Self, ParseError> {
        // The happy path: typed, straight from the text.
        let mut de = serde_json::Deserializer::from_str(text);
        let typed = Workflow::deserialize(&mut de).and_then(|w| de.end().map(|()| w));
        match typed {
            Ok(workflow) => {
                let unknown = &workflow.unknown_fields;
                if unknown
                    .iter()
                    .any(|p| p == "/startNode" || p.ends_with("/op") || p.ends_with("/onSuccess"))
                    || workflow
                        .version
                        .as_deref()
                        .is_some_and(|v| v.starts_with("2."))
                {
                    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                    if let Some(message) = other_format(&value, unknown) {
                        return Err(ParseError::Format {
                            file: source.to_owned(),
                            message,
                        });
                    }
                }
                Ok(workflow)
            }
            Err(e) if e.is_syntax() || e.is_eof() => Err(ParseError::Syntax {
                file: source.to_owned(),
                line: e.line(),
                column: e.column(),
                message: syntax_message(&e),
            }),
            Err(_) => {
                let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Syntax {
                    file: source.to_owned(),
                    line: e.line(),
                    column: e.column(),
                    message: syntax_message(&e),
                })?;
                Self::from_value(value, source)
            }
        }
    }

    /// [`Workflow::parse`] of a JSON value already read.
    pub fn from_value(mut value: Value, source: &str) -> Result<Self, ParseError> {
        let mut problems = Vec::new();
        // The pointer of the value last removed for a problem.
        let mut removed: Option<String> = None;
        loop {
            match serde_path_to_error::deserialize::<_, Workflow>(&value) {
                Ok(mut workflow) => {
                    if let Some(message) = other_format(&value, &workflow.unknown_fields) {
                        return Err(ParseError::Format {
                            file: source.to_owned(),
                            message,
                        });
                    }
                    workflow.problems = problems;
                    return Ok(workflow);
                }
                Err(e) => {
                    if let Some(message) = other_format(&value, &v2_node_fields(&value)) {
                        return Err(ParseError::Format {
                            file: source.to_owned(),
                            message,
                        });
                    }
                    let at = segments(e.path());
                    let message = field_message(&e.into_inner().to_string());
                    // A tagged block whose tag was just removed now misses
                    // it: the same mistake, reported once; the block goes.
                    let follows_removal = message.starts_with("missing field")
                        && removed
                            .as_deref()
                            .is_some_and(|r| pointer(&at) == parent_pointer(r));
                    if follows_removal {
                        removed = None;
                    } else {
                        problems.push(Problem::new(
                            node_at(&value, &at).as_deref(),
                            ErrorCode::ValidationFailed,
                            if at.is_empty() {
                                "/".to_owned()
                            } else {
                                pointer(&at)
                            },
                            message,
                        ));
                        removed = Some(pointer(&at));
                    }
                    if problems.len() >= MAX_FIELD_PROBLEMS || !remove_at(&mut value, &at) {
                        let mut workflow = Workflow {
                            problems,
                            ..Workflow::default()
                        };
                        workflow.nodes.clear();
                        return Ok(workflow);
                    }
                }
            }
        }
    }

    /// Strict reading: like [`Workflow::parse`], but fields of the wrong
    /// type are an error.
    ///
    /// ```
    /// use plugflow_engine::workflow::Workflow;
    /// let err = Workflow::from_json_str(r#"{"nodes": [{"id": 5}]}"#, "w.json").unwrap_err();
    /// assert_eq!(err.to_string(), "w.json: at `/nodes/0/id`: invalid type: integer `5`, expected a string");
    /// ```
    pub fn from_json_str(text: &str, source: &str) -> Result<Self, ParseError> {
        let workflow = Self::parse(text, source)?;
        if workflow.problems.is_empty() {
            Ok(workflow)
        } else {
            Err(ParseError::Invalid {
                file: source.to_owned(),
                problems: workflow.problems,
            })
        }
    }

    /// Reads and parses a workflow file ([`Workflow::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, ParseError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ParseError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &file)
    }
}

/// The pointer of `pointer`'s parent.
fn parent_pointer(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |at| &pointer[..at])
}

/// The id of the node `segments` lead into, if they do.
fn node_at(value: &Value, segments: &[Segment]) -> Option<String> {
    match segments {
        [Segment::Key(nodes), Segment::Index(i), ..] if nodes == "nodes" => {
            value["nodes"][*i]["id"].as_str().map(str::to_owned)
        }
        _ => None,
    }
}

/// serde's message for a field, in plugflow's words: an unknown variant
/// names every allowed value and the one probably meant.
fn field_message(serde: &str) -> String {
    let Some(rest) = serde.strip_prefix("unknown variant `") else {
        return serde.to_owned();
    };
    let Some((given, expected)) = rest.split_once("`, expected ") else {
        return serde.to_owned();
    };
    let allowed: Vec<&str> = expected
        .trim_start_matches("one of ")
        .split(['`', ','])
        .map(str::trim)
        .filter(|w| !w.is_empty() && *w != "or")
        .collect();
    let hint = plugin_abi::sdk::suggest::did_you_mean(given, allowed.iter().copied());
    format!("`{given}` is not one of {}{hint}", allowed.join(", "))
}

/// serde_json's message without its " at line L column C" suffix (the
/// error carries those separately).
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
