//! Reading workflow files, with errors that name the file, the JSON path
//! and what was expected.

use std::path::Path;

use super::model::Workflow;

/// A workflow that could not be read or parsed.
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
    /// Malformed JSON or a value of the wrong shape.
    #[error("{file}: at `{path}`: {message}")]
    Invalid {
        /// The file (or `<input>`).
        file: String,
        /// The JSON path of the problem (`.` for the document).
        path: String,
        /// What was found and what was expected.
        message: String,
    },
}

impl Workflow {
    /// Parses workflow JSON; `source` names it in errors.
    ///
    /// ```
    /// use registry_core::workflow::Workflow;
    /// let err = Workflow::from_json_str(r#"{"nodes": [{"id": 5}]}"#, "w.json").unwrap_err();
    /// assert_eq!(err.to_string(), "w.json: at `nodes[0].id`: invalid type: integer `5`, expected a string at line 1 column 19");
    /// ```
    pub fn from_json_str(text: &str, source: &str) -> Result<Self, ParseError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ParseError::Invalid {
                file: source.to_owned(),
                path,
                message: e.into_inner().to_string(),
            }
        })
    }

    /// Reads and parses a workflow file.
    pub fn from_file(path: &Path) -> Result<Self, ParseError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ParseError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_json_str(&text, &file)
    }
}
