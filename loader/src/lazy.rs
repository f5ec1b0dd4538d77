//! Lazy executors: a node type known from the persistent cache is
//! registered with an executor that opens its library only when the node
//! type is first validated or executed. The library's content is hashed
//! again then: a file that changed since start-up is refused, not opened.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use plugin_abi::{
    codes, NodeExecutor, NodeExecutorBox, NodeExecutor_TO, PluginError, PluginModuleRef,
    ValidationReport,
};
use registry_core::{Registry, WireCall};

use crate::open::{self, CreatedExecutor};

/// A library known from the cache, opened at most once, on first use.
pub struct LazyLibrary {
    path: PathBuf,
    root_symbol: String,
    sha256: String,
    module: OnceLock<Result<PluginModuleRef, String>>,
}

impl LazyLibrary {
    /// A library at `path` whose content had `sha256` when it was checked.
    pub fn new(path: PathBuf, root_symbol: String, sha256: String) -> Arc<Self> {
        Arc::new(Self {
            path,
            root_symbol,
            sha256,
            module: OnceLock::new(),
        })
    }

    fn module(&self) -> Result<PluginModuleRef, String> {
        self.module
            .get_or_init(|| {
                let now = crate::digest::sha256_file(&self.path)
                    .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
                if now != self.sha256 {
                    return Err(format!(
                        "{} changed since start-up (its SHA-256 differs from the cached one); restart to check it again",
                        self.path.display()
                    ));
                }
                tracing::info!(component = "loader", event = "lazy_open", path = %self.path.display(), "opening a cached plugin on first use");
                let module = open::open_library(&self.path, &self.root_symbol)
                    .map_err(|r| format!("{}: {}", r.reason, r.message))?;
                // `init` (log forwarding, ABI handshake) as on an eager load.
                let scratch = Registry::new();
                open::read_manifest(module, registry_core::plugin_host::dynamic_plugin_services(), &scratch, open::Schemas::OnFirstUse)
                    .map(|opened| opened.module)
                    .map_err(|r| format!("{}: {}", r.reason, r.message))
            })
            .clone()
    }
}

/// One node type of a [`LazyLibrary`]: its executor, created on first use.
struct LazyNode {
    library: Arc<LazyLibrary>,
    node_type: String,
    executor: OnceLock<Result<NodeExecutorBox, String>>,
}

impl LazyNode {
    fn executor(&self) -> Result<&NodeExecutorBox, PluginError> {
        self.executor
            .get_or_init(|| {
                let module = self.library.module()?;
                match (module.new_executor())(self.node_type.as_str().into()) {
                    RResult::ROk(executor) => Ok(executor),
                    RResult::RErr(e) => Err(e.message.to_string()),
                }
            })
            .as_ref()
            .map_err(|message| {
                PluginError::new(
                    codes::EXECUTION_ERROR,
                    format!(
                        "plugin for `{}` cannot be loaded: {message}",
                        self.node_type
                    ),
                )
            })
    }
}

/// The JSON calls of a [`LazyNode`].
struct LazyExecutor(Arc<LazyNode>);

impl NodeExecutor for LazyExecutor {
    fn validate(&self, node: RStr<'_>) -> RResult<ValidationReport, PluginError> {
        match self.0.executor() {
            Ok(executor) => executor.validate(node),
            Err(e) => RResult::RErr(e),
        }
    }

    fn execute(&self, request: RStr<'_>) -> RResult<RString, PluginError> {
        match self.0.executor() {
            Ok(executor) => executor.execute(request),
            Err(e) => RResult::RErr(e),
        }
    }
}

/// The binary call of a [`LazyNode`]: the library's own once it is open;
/// for a library built before the binary call, the frame is translated to
/// and from the JSON call.
struct LazyWire(Arc<LazyNode>);

impl WireCall for LazyWire {
    fn call(
        &self,
        _registered: &NodeExecutorBox,
        request: &[u8],
        output: &mut RVec<u8>,
    ) -> Result<(), PluginError> {
        let executor = self.0.executor()?;
        let module = self
            .0
            .library
            .module()
            .map_err(|message| PluginError::new(codes::EXECUTION_ERROR, message))?;
        match module.execute_wire() {
            Some(execute_wire) => execute_wire.call(executor, request, output),
            None => plugin_abi::sdk::execute_via_json(executor, request, output),
        }
    }
}

/// A lazy executor for `node_type` of `library`, with its binary call.
pub fn executor(library: &Arc<LazyLibrary>, node_type: &str) -> CreatedExecutor {
    let node = Arc::new(LazyNode {
        library: Arc::clone(library),
        node_type: node_type.to_owned(),
        executor: OnceLock::new(),
    });
    CreatedExecutor {
        node_type: node_type.to_owned(),
        executor: NodeExecutor_TO::from_value(LazyExecutor(Arc::clone(&node)), TD_Opaque),
        wire: Some(Arc::new(LazyWire(node))),
    }
}
