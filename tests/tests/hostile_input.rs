//! Hostile input, generated: workflow files (parsing and full validation),
//! template expressions, dbal filters and plugin manifests. Every input
//! ends in a value or a clear error; zero panics is the bar. Failures
//! proptest finds are written to `proptest-regressions/hostile_input.txt`,
//! committed, and replayed first by every run; `known_nasty_inputs` keeps
//! hand-found ones.
//!
//! 1,000 cases per target by default; `PROPTEST_CASES=100000` for a long run.

use std::sync::{Arc, OnceLock};

use plugflow_engine::expr::template::Compiled;
use plugflow_engine::expr::{NoSteps, Scope};
use plugflow_engine::{CompiledWorkflow, Engine, Workflow};
use plugin_abi::manifest::PluginManifest;
use plugin_abi::request::ExecContext;
use proptest::prelude::*;
use registry_core::{NodeCall, NodeStatus, Registry};
use serde_json::{json, Map, Value};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000)
}

/// The built-ins a workflow can name, and the dbal database.
fn registry() -> &'static (Arc<Registry>, tempfile::TempDir) {
    static REGISTRY: OnceLock<(Arc<Registry>, tempfile::TempDir)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let registry = Registry::new();
        for module in [
            plugflow_core::plugflow_module(),
            plugflow_string::plugflow_module(),
            plugflow_math::plugflow_module(),
            plugflow_dbal::plugflow_module(),
        ] {
            loader::register_static_plugin(&registry, module).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        // `FuzzTyped` is declared (typed columns, a json field); `Fuzz` is not.
        let entities = dir.path().join("entities");
        std::fs::create_dir(&entities).unwrap();
        std::fs::write(
            entities.join("fuzz.json"),
            r#"{"entity": "FuzzTyped", "fields": {"name": {"type": "string"}, "type": {"type": "string"}, "index": {"type": "integer"}, "parameters": {"type": "json"}}}"#,
        )
        .unwrap();
        let mut config = serde_json::Map::new();
        config.insert("database".into(), json!(dir.path().join("fuzz.db")));
        config.insert("entities".into(), json!(entities));
        for node_type in plugflow_tests::host::plugflow_dbal_node_types() {
            registry.set_node_config(node_type, config.clone());
        }
        (Arc::new(registry), dir)
    })
}

const WORDS: [&str; 24] = [
    "id",
    "name",
    "type",
    "nodeType",
    "typeVersion",
    "position",
    "parameters",
    "nodes",
    "connections",
    "main",
    "error",
    "node",
    "index",
    "settings",
    "executionTimeout",
    "maxConcurrency",
    "onError",
    "retryPolicy",
    "maxTries",
    "disabled",
    "credentials",
    "variables",
    "multiTenancy",
    "tasks",
];

const TYPES: [&str; 8] = [
    "string.upper",
    "math.add",
    "condition",
    "parallel",
    "dbal-read",
    "manual-trigger",
    "no.such.type",
    "",
];

/// JSON built from the workflow vocabulary, so parsing goes deep.
fn vocabulary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(&TYPES[..]).prop_map(|t| json!(t)),
        prop::sample::select(&WORDS[..]).prop_map(|w| json!(w)),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!("{{ $json.x }}")),
        Just(json!("{{ $steps.a.output }}")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(&WORDS[..]), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A workflow-shaped document: nodes with ids and types, connections
/// between them, random everything else.
fn workflowish() -> impl Strategy<Value = Value> {
    let node = (0..6usize, prop::sample::select(&TYPES[..]), vocabulary_json(), vocabulary_json()).prop_map(
        |(id, node_type, parameters, extra)| {
            let mut node = json!({"id": format!("n{id}"), "name": format!("n{id}"), "type": node_type,
                                  "parameters": parameters});
            if let (Value::Object(n), Value::Object(e)) = (&mut node, extra) {
                for (k, v) in e {
                    n.entry(k).or_insert(v);
                }
            }
            node
        },
    );
    let edge = (0..6usize, 0..6usize, 0..3usize, prop::bool::ANY);
    (prop::collection::vec(node, 0..6), prop::collection::vec(edge, 0..8), vocabulary_json()).prop_map(
        |(nodes, edges, settings)| {
            let mut connections = Map::new();
            for (from, to, index, error_port) in edges {
                let port = if error_port { "error" } else { "main" };
                let entry = connections
                    .entry(format!("n{from}"))
                    .or_insert_with(|| json!({}));
                let outputs = entry
                    .as_object_mut()
                    .map(|o| o.entry(port).or_insert_with(|| json!([]))) ;
                if let Some(Value::Array(outputs)) = outputs {
                    while outputs.len() <= index {
                        outputs.push(json!([]));
                    }
                    if let Value::Array(targets) = &mut outputs[index] {
                        targets.push(json!({"node": format!("n{to}"), "type": "main", "index": 0}));
                    }
                }
            }
            json!({"id": "fuzz", "name": "fuzz", "nodes": nodes, "connections": connections, "settings": settings})
        },
    )
}

/// Parses, compiles and validates `text`: any outcome but a panic.
fn parse_and_validate(text: &str) {
    let Ok(workflow) = Workflow::parse(text, "fuzz.json") else {
        return;
    };
    let compiled = CompiledWorkflow::compile(workflow);
    let engine = Engine::new(registry().0.clone());
    let options = plugflow_engine::RunOptions {
        context: ExecContext {
            tenant_id: Some("fuzz".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let _ = engine.validate(&compiled, &options);
}

/// Compiles and renders a template: any outcome but a panic.
fn render(template: &str) {
    let compiled = Compiled::compile(&Value::String(template.to_owned()), "/p", &mut Vec::new());
    let (json, context, workflow, trigger) = (
        json!({"x": [1, {"y": "z"}]}),
        json!({"tenantId": "t"}),
        json!({}),
        json!({}),
    );
    let (vars, env) = (Map::new(), Map::new());
    let scope = Scope {
        json: &json,
        input: &json,
        steps: &NoSteps,
        context: &context,
        workflow: &workflow,
        vars: &vars,
        trigger: &trigger,
        env: &env,
        item: None,
        index: None,
        deadline: None,
    };
    let _ = compiled.render(&scope, &mut Vec::new());
}

/// Runs dbal-read with `filter`: a result or a clear error, never a panic
/// inside the plugin (the SDK would turn it into a "panicked" error).
fn dbal_filter(filter: &Value, entity: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = json!({"entity": entity, "filter": filter});
    let context = ExecContext {
        tenant_id: Some("fuzz".into()),
        ..Default::default()
    };
    let done = runtime.block_on(
        registry()
            .0
            .execute(&NodeCall::new("dbal-read", "f", &params).context(&context)),
    );
    if let Some(error) = &done.error {
        assert!(
            !error.message.contains("panicked"),
            "{filter}: {}",
            error.message
        );
        assert_ne!(done.status, NodeStatus::Success);
    }
}

/// Validates a plugin manifest as the loader does: any outcome but a panic.
fn manifest(value: &Value) {
    if let Ok(manifest) = serde_json::from_value::<PluginManifest>(value.clone()) {
        let _ = loader::validate_plugin_manifest(&manifest, &registry().0);
    }
}

const TOKENS: [&str; 32] = [
    "$json",
    "$steps",
    "$node",
    "$trigger",
    "$vars",
    "$env",
    "$context",
    ".x",
    ".y",
    "[0]",
    "['y']",
    "(",
    ")",
    "+",
    "-",
    "*",
    "/",
    "?",
    ":",
    "'",
    "\"",
    "`",
    "\\",
    "=>",
    "{",
    "}",
    "[",
    "]",
    "1e308",
    "null",
    "constructor",
    "__proto__",
];

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(&TOKENS[..]).prop_map(str::to_owned),
            "\\PC{0,3}"
        ],
        0..16,
    )
    .prop_map(|tokens| format!("{{{{ {} }}}}", tokens.join("")))
}

fn filter() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("x".to_owned()),
        Just("tenantId".to_owned()),
        Just("a.b".to_owned()),
        Just("$where".to_owned()),
        Just("$or".to_owned()),
        Just("$not".to_owned()),
        "\\PC{0,8}"
    ];
    let op = prop::sample::select(
        &[
            "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like", "$exists",
            "$regex", "$",
        ][..],
    );
    let leaf = prop_oneof![
        (field.clone(), vocabulary_json()).prop_map(|(f, v)| json!({ f: v })),
        (field, op, vocabulary_json()).prop_map(|(f, o, v)| json!({ f: { o: v } })),
        vocabulary_json(),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"$or": v})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"$and": v})),
            inner.clone().prop_map(|v| json!({"$not": v})),
            inner.prop_map(|v| json!([v])),
        ]
    })
}

fn manifestish() -> impl Strategy<Value = Value> {
    let schema = prop_oneof![
        vocabulary_json(),
        Just(json!({"type": 5})),
        Just(json!({"pattern": "(("})),
        Just(json!({"$ref": "#/definitions/missing"})),
        Just(json!({"$ref": "http://127.0.0.1:9/schema.json"})),
        Just(json!({"type": "object", "properties": {"a": {"$ref": "#"}}})),
        Just(json!({"format": "no-such-format", "minimum": "x"})),
    ];
    let node_type = (
        prop::sample::select(&TYPES[..]),
        "\\PC{0,6}",
        schema,
        vocabulary_json(),
    )
        .prop_map(|(t, version, schema, deps)| {
            json!({"nodeType": t, "version": version, "parameterSchema": schema,
                                             "dependencies": deps, "requiredFields": ["a", 1]})
        });
    (prop::collection::vec(node_type, 0..4), "\\PC{0,8}", any::<u32>()).prop_map(|(nodes, name, abi)| {
        json!({"name": name, "version": "1.0.0", "abiVersion": abi, "nodeTypes": nodes})
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_workflow_parser(text in "\\PC{0,200}") {
        parse_and_validate(&text);
    }

    #[test]
    fn workflow_shaped_documents_parse_and_validate_without_panics(doc in workflowish()) {
        parse_and_validate(&doc.to_string());
    }

    #[test]
    fn template_expressions_compile_and_render_without_panics(t in template()) {
        render(&t);
    }

    #[test]
    fn dbal_filters_are_results_or_clear_errors(f in filter()) {
        dbal_filter(&f, "Fuzz");
    }

    #[test]
    fn dbal_filters_on_a_declared_entity_are_results_or_clear_errors(f in filter()) {
        dbal_filter(&f, "FuzzTyped");
    }

    #[test]
    fn plugin_manifests_are_accepted_or_refused_without_panics(m in manifestish()) {
        manifest(&m);
    }
}

/// Inputs found by hand that once were, or could be, trouble; replayed on
/// every run.
#[test]
fn known_nasty_inputs() {
    let deep = |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
    for text in [
        String::new(),
        "null".into(),
        "[]".into(),
        "{\"nodes\": null}".into(),
        "{\"nodes\": [{}]}".into(),
        "{\"nodes\": [{\"id\": \"a\", \"type\": \"condition\", \"parameters\": {\"condition\": \"{{\"}}]}".into(),
        "{\"nodes\": [{\"id\": \"a\", \"type\": \"parallel\", \"parameters\": {\"tasks\": [{\"id\": \"a\"}]}}]}".into(),
        "{\"nodes\": [{\"id\": \"a\"}, {\"id\": \"a\"}], \"connections\": {\"a\": {\"main\": [[{\"node\": \"a\"}]]}}}".into(),
        "{\"nodes\": [{\"id\": \"a\", \"timeout\": 1e308, \"maxTries\": 4294967295}]}".into(),
        deep("[", "]", 100_000),
        deep("{\"a\":", "}", 10_000),
        "\u{0}\u{feff}{\"nodes\": []}".into(),
    ] {
        parse_and_validate(&text);
    }
    for t in [
        "{{".to_owned(),
        "}}".into(),
        "{{ }}".into(),
        "{{ {{ }} }}".into(),
        "{{ $json[ }}".into(),
        "{{ $json.x[0].y.z.w }}".into(),
        format!("{{{{ {} }}}}", deep("(", ")", 100_000)),
        format!("{{{{ {} }}}}", "1+".repeat(50_000) + "1"),
        "{{ this.constructor.constructor('return process')() }}".into(),
        "{{ $env.HOME }}".into(),
    ] {
        render(&t);
    }
    for f in [
        json!({"$or": []}),
        json!({"$and": "x"}),
        json!({"x": {"$in": 5}}),
        json!({"x": {"$like": null}}),
        json!({"": 1}),
        json!({"a\u{0}b": 1}),
        json!({"x": {"$gt": {"$lt": 1}}}),
        serde_json::from_str(
            &deep("{\"$not\":", "}", 120)
                .replace("}}", "{}}}")
                .replacen("}", "{}}", 1),
        )
        .unwrap_or(json!({})),
    ] {
        dbal_filter(&f, "Fuzz");
        dbal_filter(&f, "FuzzTyped");
    }
}

/// Found by `known_nasty_inputs`: a node timeout of 1e308 s panicked while
/// compiling (`Duration::from_secs_f64`), and an execution timeout of
/// u64::MAX seconds overflowed the deadline. Both now mean "no limit".
#[test]
fn absurd_timeouts_run_as_no_limit() {
    let text = json!({"settings": {"executionTimeout": u64::MAX},
        "nodes": [{"id": "a", "name": "a", "type": "string.upper", "timeout": 1e308, "parameters": {"value": "ok"}}]})
    .to_string();
    let compiled = CompiledWorkflow::compile(Workflow::from_json_str(&text, "t.json").unwrap());
    let engine = Engine::new(registry().0.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime
        .block_on(engine.run(&compiled, plugflow_engine::RunOptions::default()))
        .unwrap();
    assert_eq!(result.nodes["a"].output, json!({"result": "OK"}));
}
