//! What a plugin author does, done for real in empty directories: the
//! author guide followed verbatim (its files written from its code blocks,
//! its commands run), and `plugflow plugins new` output built, tested,
//! checked, inspected and run with no edits. Each crate is built with
//! cargo in a target directory of its own (never this workspace's: the
//! outer cargo holds that one's lock while tests run), pinned to this
//! workspace's lock file so the builds are reproducible.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The target directory the author crates share (their dependencies are
/// the same, so the second build reuses the first's).
fn author_target() -> PathBuf {
    root().join("target/plugin-authors")
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", author_target())
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

fn plugflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .current_dir(dir)
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_CONFIG")
        .output()
        .expect("plugflow runs")
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn library(crate_ident: &str) -> String {
    format!(
        "{}{crate_ident}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Runs the shell commands of a guide or README block in `dir`: `cargo`
/// with the shared target directory, `plugflow` as this build, the rest
/// as written. Returns each command's output.
fn follow(dir: &Path, commands: &str) -> Vec<(String, Output)> {
    let mut outputs = Vec::new();
    for line in commands.lines() {
        let line = line.split("   #").next().unwrap_or("").trim();
        let line = line.split("  #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for command in line.split("&&").map(str::trim) {
            let words = shell_words(command);
            let (program, args) = words.split_first().expect("a command");
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = match program.as_str() {
                "cargo" => cargo(dir, &args),
                "plugflow" => plugflow(dir, &args),
                "mkdir" | "cp" => Command::new(program)
                    .args(&args)
                    .current_dir(dir)
                    .output()
                    .expect("runs"),
                other => panic!("the test does not know how to run `{other}`"),
            };
            // `cargo build --release` writes into the shared target
            // directory: the library is copied from there.
            outputs.push((command.to_owned(), out));
        }
    }
    outputs
}

/// Words of a command: whitespace-separated, single quotes grouping.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Fenced code blocks of a Markdown text: (info string, body).
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => current = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Pins a crate in `dir` to this workspace's dependency versions, and
/// points it at this checkout instead of the published crates.
fn pin(dir: &Path) {
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

/// The guide's crate, written from its `file=` blocks into an empty
/// directory; its published dependencies pointed at this checkout.
fn guide_crate() -> &'static (tempfile::TempDir, Vec<(String, String)>) {
    static CRATE: OnceLock<(tempfile::TempDir, Vec<(String, String)>)> = OnceLock::new();
    CRATE.get_or_init(|| {
        let guide = std::fs::read_to_string(root().join("docs/PLUGIN_AUTHOR_GUIDE.md")).unwrap();
        let blocks = code_blocks(&guide);
        let dir = tempfile::tempdir().unwrap();
        let checkout = std::fs::canonicalize(root()).unwrap();
        for (info, body) in &blocks {
            let Some(file) = info
                .split_whitespace()
                .find_map(|w| w.strip_prefix("file="))
            else {
                continue;
            };
            let mut text = body.clone();
            if file == "Cargo.toml" {
                for (line, dir_name) in [
                    ("plugin-abi = \"0.1\"", "plugin-abi"),
                    ("plugflow-plugin-test = \"0.1\"", "plugin-test"),
                ] {
                    assert!(text.contains(line), "the guide's Cargo.toml names `{line}`");
                    let name = line.split(' ').next().unwrap();
                    text = text.replace(
                        line,
                        &format!("{name} = {{ path = {:?} }}", checkout.join(dir_name)),
                    );
                }
            }
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        pin(dir.path());
        (dir, blocks)
    })
}

/// The guide's crate after its §4 commands ran: their outputs by command.
fn guide_followed() -> &'static Vec<(String, Output)> {
    static FOLLOWED: OnceLock<Vec<(String, Output)>> = OnceLock::new();
    FOLLOWED.get_or_init(|| {
        let (dir, blocks) = guide_crate();
        let commands = blocks
            .iter()
            .find(|(info, body)| info == "sh" && body.contains("cargo build --release"))
            .map(|(_, body)| {
                body.replace(
                    "cp target/release/",
                    &format!("cp {}/release/", author_target().display()),
                )
            })
            .expect("the guide has its build-and-run commands");
        follow(dir.path(), &commands)
    })
}

fn guide_step(prefix: &str) -> &'static Output {
    guide_followed()
        .iter()
        .find(|(command, _)| command.starts_with(prefix))
        .map(|(_, out)| out)
        .unwrap_or_else(|| panic!("the guide runs `{prefix}`"))
}

#[test]
fn every_toml_block_of_the_guide_parses() {
    let (_, blocks) = guide_crate();
    for (info, body) in blocks.iter().filter(|(info, _)| info.starts_with("toml")) {
        assert!(
            body.parse::<toml::Table>().is_ok(),
            "```{info} does not parse:\n{body}"
        );
    }
}

#[test]
fn the_guides_crate_passes_its_own_tests_with_the_test_kit() {
    succeeded("cargo test", guide_step("cargo test"));
}

#[test]
fn the_guides_plugin_loads() {
    succeeded("cargo build", guide_step("cargo build --release"));
    let check = guide_step("plugflow plugins check");
    succeeded("plugins check", check);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("loaded") && text.contains("acme-greet 1.0.0"),
        "{text}"
    );
}

#[test]
fn the_guides_workflow_runs_with_the_plugin() {
    let run = guide_step("plugflow run greet.json");
    succeeded("plugflow run", run);
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("Hello, Ada!"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

#[test]
fn the_guides_join_example_gives_what_the_guide_says() {
    guide_step("plugflow plugins check");
    let (dir, _) = guide_crate();
    let out = plugflow(
        dir.path(),
        &[
            "run",
            "join.json",
            "--plugins",
            "plugins",
            "--output",
            "json",
        ],
    );
    succeeded("plugflow run join.json", &out);
    assert_eq!(
        json_of(&out)["nodes"]["both"]["output"],
        json!({"result": "Hello, Hello, Ada! and Hello, Grace!!"})
    );
}

#[test]
fn inspect_shows_a_librarys_manifest_without_registering_it() {
    let inspect = guide_step("plugflow plugins inspect");
    succeeded("plugins inspect", inspect);
    let (dir, _) = guide_crate();
    let path = dir.path().join("plugins").join(library("acme_greet"));
    let out = plugflow(
        dir.path(),
        &[
            "plugins",
            "inspect",
            path.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    succeeded("plugins inspect --output json", &out);
    let shown = json_of(&out);
    assert_eq!(shown["manifest"]["name"], "acme-greet");
    assert_eq!(shown["manifest"]["abiVersion"], shown["hostAbiVersion"]);
    assert_eq!(shown["manifest"]["nodeTypes"][0]["nodeType"], "acme.greet");
    assert_eq!(shown["sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn inspect_of_a_file_that_is_no_plugin_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"not a library").unwrap();
    let out = plugflow(
        dir.path(),
        &[
            "plugins",
            "inspect",
            fake.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(!out.status.success());
    let error = json_of(&out);
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not a loadable plugin")),
        "{error}"
    );
}

/// `plugflow plugins new acme-hello` in an empty directory.
fn scaffold() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = plugflow(dir.path(), &["plugins", "new", "acme-hello"]);
        succeeded("plugins new", &out);
        pin(&dir.path().join("acme-hello"));
        dir
    })
}

#[test]
fn plugins_new_output_passes_its_own_tests_with_no_edits() {
    let crate_dir = scaffold().path().join("acme-hello");
    succeeded("cargo test", &cargo(&crate_dir, &["test"]));
}

#[test]
fn plugins_new_output_builds_loads_and_runs_its_sample_workflow() {
    let crate_dir = scaffold().path().join("acme-hello");
    succeeded("cargo build", &cargo(&crate_dir, &["build", "--release"]));
    let plugins = crate_dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        author_target().join("release").join(library("acme_hello")),
        plugins.join(library("acme_hello")),
    )
    .unwrap();
    let check = plugflow(
        &crate_dir,
        &["plugins", "check", "plugins", "--output", "json"],
    );
    succeeded("plugins check", &check);
    assert_eq!(json_of(&check)["files"][0]["status"], "loaded");
    let run = plugflow(
        &crate_dir,
        &[
            "run",
            "workflows/hello.json",
            "--plugins",
            "plugins",
            "--input",
            r#"{"name": "Ada"}"#,
            "--output",
            "json",
        ],
    );
    succeeded("plugflow run", &run);
    assert_eq!(
        json_of(&run)["nodes"]["greet"]["output"],
        json!({"result": "Hello, Ada!"})
    );
}

#[test]
fn plugins_new_refuses_a_name_cargo_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let out = plugflow(
        dir.path(),
        &["plugins", "new", "Acme Text", "--output", "json"],
    );
    assert!(!out.status.success());
    assert!(json_of(&out)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("cannot name a plugin crate")));
}

#[test]
fn plugins_new_does_not_overwrite_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    std::fs::write(dir.path().join("taken/keep.txt"), "mine").unwrap();
    let out = plugflow(dir.path(), &["plugins", "new", "taken", "--output", "json"]);
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken/keep.txt")).unwrap(),
        "mine"
    );
}
