//! The stable error codes carried by every error result.
//!
//! These strings are part of the public contract: scripts, dashboards and
//! plugins match on them. Never rename one; add new ones instead.

/// No executor is registered for the node type.
pub const NODE_TYPE_NOT_FOUND: &str = "NODE_TYPE_NOT_FOUND";
/// The tenant's policy does not allow the node type.
pub const NODE_TYPE_DISABLED_FOR_TENANT: &str = "NODE_TYPE_DISABLED_FOR_TENANT";
/// The node's parameters fail its schema or the plugin's own validation.
pub const VALIDATION_FAILED: &str = "VALIDATION_FAILED";
/// The node did not finish within its timeout.
pub const EXECUTION_TIMEOUT: &str = "EXECUTION_TIMEOUT";
/// The node failed while running (including a panic inside the plugin).
pub const EXECUTION_ERROR: &str = "EXECUTION_ERROR";
/// A parameter has the wrong type or an impossible value.
pub const INVALID_PARAMETERS: &str = "INVALID_PARAMETERS";
/// The node needs a credential its tenant does not have.
pub const CREDENTIAL_MISSING: &str = "CREDENTIAL_MISSING";
/// The node type depends on a node type that is not loaded.
pub const DEPENDENCY_NOT_LOADED: &str = "DEPENDENCY_NOT_LOADED";

/// A workflow that declares its tenant was run as another tenant.
pub const TENANT_MISMATCH: &str = "TENANT_MISMATCH";
/// A template expression threw, or ran past its time limit, while the
/// node's parameters were rendered.
pub const EXPRESSION_ERROR: &str = "EXPRESSION_ERROR";
/// The plugin-host process running the node crashed, aborted or exited
/// (the process tier); the message names the signal or exit code.
pub const PLUGIN_CRASHED: &str = "PLUGIN_CRASHED";
/// The plugin crashed too often and is quarantined until an operator
/// clears it.
pub const PLUGIN_QUARANTINED: &str = "PLUGIN_QUARANTINED";
/// The execution's user may not perform this operation on this entity
/// (the entity schema's `acl`).
pub const ACCESS_DENIED: &str = "ACCESS_DENIED";

/// Every stable error code, for documentation and exhaustive tests.
pub const ALL: [&str; 13] = [
    NODE_TYPE_NOT_FOUND,
    NODE_TYPE_DISABLED_FOR_TENANT,
    VALIDATION_FAILED,
    EXECUTION_TIMEOUT,
    EXECUTION_ERROR,
    INVALID_PARAMETERS,
    CREDENTIAL_MISSING,
    DEPENDENCY_NOT_LOADED,
    TENANT_MISMATCH,
    EXPRESSION_ERROR,
    PLUGIN_CRASHED,
    PLUGIN_QUARANTINED,
    ACCESS_DENIED,
];
