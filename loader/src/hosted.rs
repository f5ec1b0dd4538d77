//! The process tier from the loader's side: stand-in executors for node
//! types whose library is never opened here (their calls go to a
//! plugin-host process), and the child's side of a plugin-host process,
//! which opens the library as the host would.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use plugin_abi::manifest::PluginManifest;
use plugin_abi::{
    codes, NodeExecutor, NodeExecutorBox, NodeExecutor_TO, PluginError, PluginModuleRef,
    ValidationReport,
};
use plugin_host::child::{self, Channel, ChildSettings, HostedLibrary};
use plugin_host::protocol::{Ready, Validated, PROTOCOL};
use plugin_host::LibraryHandle;
use registry_core::Registry;

use crate::open::{self, CreatedExecutor};
use crate::reason::Rejection;

/// How long a node type's own parameter check may take in its host.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The executor registered for a process-tier node type: its checks go to
/// the plugin host; its calls never come here (the registry routes them
/// through the [`registry_core::ProcessTier`] registered beside it).
struct HostedExecutor {
    handle: Arc<LibraryHandle>,
    node_type: String,
}

impl NodeExecutor for HostedExecutor {
    fn validate(&self, node: RStr<'_>) -> RResult<ValidationReport, PluginError> {
        match self
            .handle
            .validate(&self.node_type, node.as_str(), VALIDATE_TIMEOUT)
        {
            Ok(report) => RResult::ROk(ValidationReport {
                valid: report.errors.is_empty(),
                errors: report.errors.into_iter().map(RString::from).collect(),
                warnings: report.warnings.into_iter().map(RString::from).collect(),
            }),
            Err(failure) => RResult::RErr(PluginError::new(failure.code.as_str(), failure.message)),
        }
    }

    fn execute(&self, _request: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::new(
            codes::EXECUTION_ERROR,
            format!(
                "`{}` runs in a plugin-host process; call it through the registry",
                self.node_type
            ),
        ))
    }
}

/// Stand-in executors for every node type of a process-tier plugin.
pub(crate) fn executors(
    handle: &Arc<LibraryHandle>,
    manifest: &PluginManifest,
) -> Vec<CreatedExecutor> {
    manifest
        .node_types
        .iter()
        .map(|node| CreatedExecutor {
            node_type: node.node_type.clone(),
            executor: NodeExecutor_TO::from_value(
                HostedExecutor {
                    handle: Arc::clone(handle),
                    node_type: node.node_type.clone(),
                },
                TD_Opaque,
            ),
            wire: None,
        })
        .collect()
}

/// The library as a plugin-host child holds it.
struct OpenedLibrary {
    module: PluginModuleRef,
    executors: HashMap<String, NodeExecutorBox>,
}

impl OpenedLibrary {
    fn executor(&self, node_type: &str) -> Result<&NodeExecutorBox, PluginError> {
        self.executors.get(node_type).ok_or_else(|| {
            PluginError::new(
                codes::NODE_TYPE_NOT_FOUND,
                format!("this plugin has no node type `{node_type}`"),
            )
        })
    }
}

impl HostedLibrary for OpenedLibrary {
    fn execute(
        &self,
        node_type: &str,
        request: &[u8],
        output: &mut RVec<u8>,
    ) -> Result<(), PluginError> {
        let executor = self.executor(node_type)?;
        match self.module.execute_wire() {
            Some(execute_wire) => match execute_wire(executor, request.into(), output) {
                RResult::ROk(()) => Ok(()),
                RResult::RErr(e) => Err(e),
            },
            None => plugin_abi::sdk::execute_via_json(executor, request, output),
        }
    }

    fn validate(&self, node_type: &str, node: &str) -> Result<Validated, PluginError> {
        match self.executor(node_type)?.validate(node.into()) {
            RResult::ROk(report) => Ok(Validated {
                errors: report.errors.iter().map(ToString::to_string).collect(),
                warnings: report.warnings.iter().map(ToString::to_string).collect(),
            }),
            RResult::RErr(e) => Err(e),
        }
    }
}

/// Plugin-host mode: `settings_json` is the [`ChildSettings`] the
/// supervisor passed. Takes stdin and stdout for the protocol, applies the
/// limits and (for untrusted plugins) the sandbox, opens the library,
/// then answers calls until the host closes the pipe. Returns the exit
/// code. The host binary must call this when started with
/// [`plugin_host::HOST_ARG`].
pub fn child_main(settings_json: &str) -> i32 {
    let Ok(settings) = serde_json::from_str::<ChildSettings>(settings_json) else {
        return 2;
    };
    let Ok(channel) = Channel::take_stdio() else {
        return 3;
    };
    if settings.protocol != PROTOCOL {
        channel.failed(
            codes::EXECUTION_ERROR,
            format!(
                "the host speaks plugin-host protocol {}, this binary {PROTOCOL}",
                settings.protocol
            ),
        );
        return 4;
    }
    if let Err(why) = settings.limits.apply() {
        channel.failed(codes::EXECUTION_ERROR, why);
        return 5;
    }
    if let Some(scratch) = &settings.sandbox {
        if let Err(why) = plugin_host::sandbox::apply(scratch) {
            channel.failed(
                codes::EXECUTION_ERROR,
                format!("the sandbox could not be set up: {why}"),
            );
            return 6;
        }
    }
    let library = match open_here(&settings) {
        Ok(library) => library,
        Err(rejection) => {
            channel.failed(
                codes::EXECUTION_ERROR,
                format!("{}: {}", rejection.reason, rejection.message),
            );
            return 7;
        }
    };
    let ready = Ready {
        protocol: PROTOCOL,
        pid: std::process::id(),
        plugin: library.1,
        node_types: library.0.executors.keys().cloned().collect(),
        sandbox: settings
            .sandbox
            .as_ref()
            .map(|_| plugin_host::sandbox::DESCRIPTION.to_owned()),
    };
    if channel.ready(&ready).is_err() {
        return 8;
    }
    child::serve(
        channel,
        Arc::new(library.0),
        settings.threads,
        settings.max_frame_bytes,
    )
}

fn open_here(settings: &ChildSettings) -> Result<(OpenedLibrary, String), Rejection> {
    check_unchanged(&settings.path, &settings.sha256)?;
    let module = open::open_library(&settings.path, &settings.root_symbol)?;
    let scratch = Registry::new();
    let opened = open::read_manifest(
        module,
        child::services(&settings.max_log_level),
        &scratch,
        open::Schemas::OnFirstUse,
    )?;
    let created = open::create_executors(&opened, false)?;
    let executors = created
        .into_iter()
        .map(|c| (c.node_type, c.executor))
        .collect();
    Ok((
        OpenedLibrary {
            module: opened.module,
            executors,
        },
        opened.manifest.name,
    ))
}

/// A file that changed since the host checked it is refused.
fn check_unchanged(path: &Path, sha256: &str) -> Result<(), Rejection> {
    if sha256.is_empty() {
        return Ok(());
    }
    let now = crate::digest::sha256_file(path).map_err(|e| {
        Rejection::new(
            crate::reason::RejectReason::ReadFailed,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if now == sha256 {
        Ok(())
    } else {
        Err(Rejection::new(
            crate::reason::RejectReason::ReadFailed,
            format!(
                "{} changed since the host checked it (its SHA-256 differs); restart to check it again",
                path.display()
            ),
        ))
    }
}
