//! `plugflow plugins new NAME`: a ready plugin crate — Cargo.toml with the
//! right crate types and dependencies, one node type with a schema and its
//! own check, tests with the plugin test kit, a README and a sample
//! workflow — that builds, tests and loads with no edits.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::CliError;
use crate::output::Output;

const CARGO_TOML: &str = include_str!("../../templates/plugin/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/plugin/lib.rs.tmpl");
const TEST_RS: &str = include_str!("../../templates/plugin/test.rs.tmpl");
const WORKFLOW: &str = include_str!("../../templates/plugin/hello.json.tmpl");
const README: &str = include_str!("../../templates/plugin/README.md.tmpl");
const GITIGNORE: &str = include_str!("../../templates/plugin/gitignore.tmpl");

/// The plugflow checkout this binary was built from: its `plugin-abi` and
/// `plugin-test` are what a new plugin builds against when no other is
/// named (until they are published, a path is the form that builds).
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The version of plugin-abi (and the test kit) this binary speaks.
const ABI_CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the new crate's plugflow dependencies come from.
pub enum Source {
    /// A plugflow checkout (path dependencies).
    Checkout(PathBuf),
    /// Published crates (version requirements).
    Published,
}

impl Source {
    /// `--plugflow-path`, else the checkout this binary was built from when
    /// it is still there, else the published crates.
    pub fn choose(path: Option<&Path>, published: bool) -> Result<Self, CliError> {
        if published {
            return Ok(Self::Published);
        }
        let checkout = match path {
            Some(path) => path.to_owned(),
            None => PathBuf::from(BUILT_FROM),
        };
        if checkout.join("plugin-abi/Cargo.toml").is_file() {
            return std::fs::canonicalize(&checkout)
                .map(Self::Checkout)
                .map_err(|e| CliError::input(format!("{}: {e}", checkout.display())));
        }
        match path {
            Some(path) => Err(CliError::input(format!(
                "{} is not a plugflow checkout (no plugin-abi/Cargo.toml); give the directory holding plugflow's sources, or --published"
                , path.display()
            ))),
            None => Ok(Self::Published),
        }
    }

    fn dependency(&self, name: &str, dir: &str) -> String {
        match self {
            Self::Checkout(root) => {
                format!(
                    "{name} = {{ path = {:?} }}",
                    root.join(dir).display().to_string()
                )
            }
            Self::Published => format!("{name} = \"{ABI_CRATE_VERSION}\""),
        }
    }
}

/// Writes the crate `name` into `dir` (default `./name`).
pub fn new_plugin(name: &str, dir: Option<&Path>, source: &Source) -> Result<Output, CliError> {
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_owned);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(CliError::input(format!(
            "{} exists and is not empty; choose another name or --dir",
            dir.display()
        )));
    }
    let crate_ident = name.replace('-', "_");
    let node_type = format!("{name}.hello");
    let library = format!(
        "{}{crate_ident}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_ident}}", &crate_ident)
            .replace("{{node_type}}", &node_type)
            .replace("{{library}}", &library)
            .replace(
                "{{abi_dependency}}",
                &source.dependency("plugin-abi", "plugin-abi"),
            )
            .replace(
                "{{kit_dependency}}",
                &source.dependency("plugflow-plugin-test", "plugin-test"),
            )
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("tests/hello.rs", fill(TEST_RS)),
        ("workflows/hello.json", fill(WORKFLOW)),
        ("README.md", fill(README)),
        (".gitignore", fill(GITIGNORE)),
    ];
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::failed(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
    }
    let written: Vec<String> = files.iter().map(|(f, _)| (*f).to_owned()).collect();
    let pretty = format!(
        "wrote plugin crate `{name}` in {} (node type `{node_type}`)\n\nnext:\n  cd {}\n  cargo test\n  cargo build --release\n  mkdir -p plugins && cp target/release/{library} plugins/\n  plugflow run workflows/hello.json --plugins plugins --input '{{\"name\": \"Ada\"}}'\n",
        dir.display(),
        dir.display()
    );
    Ok(Output {
        json: json!({"name": name, "directory": dir, "nodeType": node_type, "library": library, "files": written}).into(),
        pretty,
    })
}

/// A crate name cargo accepts and a node-type prefix: ASCII lowercase
/// letters, digits, `-` and `_`, starting with a letter.
fn check_name(name: &str) -> Result<(), CliError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(CliError::input(format!(
            "`{name}` cannot name a plugin crate: use lowercase letters, digits, `-` and `_`, starting with a letter (e.g. `acme-text`)"
        )))
    }
}
