//! Stable error codes and the error values the registry returns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use plugin_abi::codes;

/// The stable error codes (see [`plugin_abi::codes`]), as a closed enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No executor is registered for the node type.
    NodeTypeNotFound,
    /// The tenant's policy does not allow the node type.
    NodeTypeDisabledForTenant,
    /// Parameters fail the schema or the plugin's validation.
    ValidationFailed,
    /// The node did not finish in time.
    ExecutionTimeout,
    /// The node failed while running.
    ExecutionError,
    /// A parameter has a wrong type or an impossible value.
    InvalidParameters,
    /// A needed credential is missing for the tenant.
    CredentialMissing,
    /// A dependency of the node type is not loaded.
    DependencyNotLoaded,
    /// The workflow declares another tenant than the one running it.
    TenantMismatch,
    /// A template expression threw or ran out of time while rendering.
    ExpressionError,
    /// The plugin-host process running the node crashed, aborted, exited
    /// or was killed (the process tier).
    PluginCrashed,
    /// The plugin crashed too often and is quarantined until an operator
    /// clears it.
    PluginQuarantined,
    /// The execution's user may not perform the operation (an entity's
    /// `acl`).
    AccessDenied,
}

impl ErrorCode {
    /// Every code, in a fixed order.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::NodeTypeNotFound,
        ErrorCode::NodeTypeDisabledForTenant,
        ErrorCode::ValidationFailed,
        ErrorCode::ExecutionTimeout,
        ErrorCode::ExecutionError,
        ErrorCode::InvalidParameters,
        ErrorCode::CredentialMissing,
        ErrorCode::DependencyNotLoaded,
        ErrorCode::TenantMismatch,
        ErrorCode::ExpressionError,
        ErrorCode::PluginCrashed,
        ErrorCode::PluginQuarantined,
        ErrorCode::AccessDenied,
    ];

    /// The stable string, such as `"NODE_TYPE_NOT_FOUND"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NodeTypeNotFound => codes::NODE_TYPE_NOT_FOUND,
            ErrorCode::NodeTypeDisabledForTenant => codes::NODE_TYPE_DISABLED_FOR_TENANT,
            ErrorCode::ValidationFailed => codes::VALIDATION_FAILED,
            ErrorCode::ExecutionTimeout => codes::EXECUTION_TIMEOUT,
            ErrorCode::ExecutionError => codes::EXECUTION_ERROR,
            ErrorCode::InvalidParameters => codes::INVALID_PARAMETERS,
            ErrorCode::CredentialMissing => codes::CREDENTIAL_MISSING,
            ErrorCode::DependencyNotLoaded => codes::DEPENDENCY_NOT_LOADED,
            ErrorCode::TenantMismatch => codes::TENANT_MISMATCH,
            ErrorCode::ExpressionError => codes::EXPRESSION_ERROR,
            ErrorCode::PluginCrashed => codes::PLUGIN_CRASHED,
            ErrorCode::PluginQuarantined => codes::PLUGIN_QUARANTINED,
            ErrorCode::AccessDenied => codes::ACCESS_DENIED,
        }
    }

    /// Parses a stable string; an unknown code (from a misbehaving plugin)
    /// is `None`.
    ///
    /// ```
    /// use registry_core::ErrorCode;
    /// assert_eq!(ErrorCode::parse("EXECUTION_TIMEOUT"), Some(ErrorCode::ExecutionTimeout));
    /// assert_eq!(ErrorCode::parse("TEAPOT"), None);
    /// ```
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One schema or rule violation, with the JSON path it was found at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    /// JSON Pointer into the node's parameters (`""` for the whole object).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Why a node did not produce an output.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
#[serde(rename_all = "camelCase")]
pub struct NodeFailure {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, where, and what to do.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// Structured details from the plugin, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Value>>,
    /// Schema and rule violations (for `VALIDATION_FAILED`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<ValidationIssue>,
}

impl NodeFailure {
    /// A plugin's error as the registry reports it: its stable code (a
    /// code the registry does not know becomes `EXECUTION_ERROR`, the
    /// unknown code kept in the message), message, retryable flag, and
    /// details (JSON text; anything else is dropped).
    ///
    /// ```
    /// use registry_core::{ErrorCode, NodeFailure};
    /// let known = NodeFailure::from_plugin("demo.x", "EXECUTION_TIMEOUT", "slow".into(), true, "");
    /// assert_eq!(known.code, ErrorCode::ExecutionTimeout);
    /// let odd = NodeFailure::from_plugin("demo.x", "TEAPOT", "short and stout".into(), false, "");
    /// assert_eq!(odd.code, ErrorCode::ExecutionError);
    /// assert!(odd.message.contains("TEAPOT"));
    /// ```
    pub fn from_plugin(
        node_type: &str,
        code: &str,
        message: String,
        retryable: bool,
        details: &str,
    ) -> Self {
        let details = if details.is_empty() {
            None
        } else {
            serde_json::from_str(details).ok().map(Box::new)
        };
        let (code, message) = match ErrorCode::parse(code) {
            Some(code) => (code, message),
            None => (
                ErrorCode::ExecutionError,
                format!("{message} (plugin of `{node_type}` used unknown error code `{code}`)"),
            ),
        };
        NodeFailure {
            code,
            message,
            retryable,
            details,
            validation_errors: Vec::new(),
        }
    }

    /// A failure with `code` and `message`, not retryable.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: false,
            details: None,
            validation_errors: Vec::new(),
        }
    }

    /// Marks it retryable.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// `NODE_TYPE_NOT_FOUND` for `node_type`.
    pub fn not_found(node_type: &str) -> Self {
        Self::new(
            ErrorCode::NodeTypeNotFound,
            format!(
                "node type `{node_type}` is not registered; check its spelling, or load the plugin that provides it (`plugflow plugins list` shows what is loaded)"
            ),
        )
    }

    /// `VALIDATION_FAILED` listing `issues`.
    pub fn validation(node_type: &str, issues: Vec<ValidationIssue>) -> Self {
        let summary = issues
            .iter()
            .map(|i| {
                if i.path.is_empty() {
                    i.message.clone()
                } else {
                    format!("{}: {}", i.path, i.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            validation_errors: issues,
            ..Self::new(
                ErrorCode::ValidationFailed,
                format!("parameters of `{node_type}` are invalid: {summary}"),
            )
        }
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The metadata is not acceptable (bad semver, ill-formed node type,
    /// schema that does not compile). Its code is `INVALID_PARAMETERS`.
    #[error("invalid metadata for node type `{node_type}`: {}", problems.join("; "))]
    InvalidMetadata {
        /// The node type as given.
        node_type: String,
        /// Every problem found.
        problems: Vec<String>,
    },
}

impl RegistryError {
    /// The stable code of the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::InvalidMetadata { .. } => ErrorCode::InvalidParameters,
        }
    }
}
