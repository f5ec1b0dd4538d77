//! Every built-in node family, run twice: through the library loaded from
//! its `.so` and through the same crate linked statically. Each case checks
//! the expected answer, and both paths must agree exactly.

use std::sync::OnceLock;

use loader::{DiscoveryConfig, Loader};
use plugflow_tests::install;
use plugin_abi::PluginModuleRef;
use registry_core::{ErrorCode, NodeCall, NodeFailure, Registry};
use serde_json::{json, Value};

const LIBRARIES: [&str; 8] = [
    "plugflow_convert",
    "plugflow_core",
    "plugflow_dict",
    "plugflow_list",
    "plugflow_logic",
    "plugflow_math",
    "plugflow_string",
    "plugflow_var",
];

fn statics() -> Vec<PluginModuleRef> {
    vec![
        plugflow_convert::plugflow_module(),
        plugflow_core::plugflow_module(),
        plugflow_dict::plugflow_module(),
        plugflow_list::plugflow_module(),
        plugflow_logic::plugflow_module(),
        plugflow_math::plugflow_module(),
        plugflow_string::plugflow_module(),
        plugflow_var::plugflow_module(),
    ]
}

struct Pair {
    dynamic: Registry,
    linked: Registry,
    _dir: tempfile::TempDir,
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &LIBRARIES);
        let dynamic = Registry::new();
        let report =
            Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&dynamic);
        assert_eq!(report.totals.loaded, LIBRARIES.len(), "{report:#?}");
        let linked = Registry::new();
        for module in statics() {
            loader::register_static_plugin(&linked, module).unwrap();
        }
        assert_eq!(dynamic.len(), linked.len());
        Pair {
            dynamic,
            linked,
            _dir: dir,
        }
    })
}

fn call(registry: &Registry, node_type: &str, parameters: &Value) -> Result<Value, NodeFailure> {
    let input = json!({"from": "input"});
    let call = NodeCall::new(node_type, "n", parameters)
        .input(&input)
        .trigger(Some(&input));
    registry.invoke(&call).map(|r| {
        let mut out = r.output;
        if let Some(i) = r.output_index {
            out = json!({"output": out, "index": i});
        }
        out
    })
}

/// Runs a case on both registries; they must agree; returns the answer.
fn both(node_type: &str, parameters: Value) -> Result<Value, NodeFailure> {
    let p = pair();
    let dynamic = call(&p.dynamic, node_type, &parameters);
    let linked = call(&p.linked, node_type, &parameters);
    assert_eq!(
        dynamic, linked,
        "{node_type} {parameters}: .so and static disagree"
    );
    dynamic
}

fn ok(node_type: &str, parameters: Value, expected: Value) {
    match both(node_type, parameters.clone()) {
        Ok(out) => {
            let got = out.get("result").cloned().unwrap_or(out);
            assert_eq!(got, expected, "{node_type} {parameters}");
        }
        Err(e) => panic!("{node_type} {parameters}: {e}"),
    }
}

fn fails(node_type: &str, parameters: Value, code: ErrorCode, mentions: &str) {
    let err = both(node_type, parameters.clone()).expect_err(node_type);
    assert_eq!(err.code, code, "{node_type} {parameters}: {err}");
    assert!(
        err.message.contains(mentions),
        "{node_type}: {mentions:?} not in {:?}",
        err.message
    );
}

#[test]
fn every_node_type_declares_schema_description_category_tags_and_version() {
    let p = pair();
    for metadata in p.linked.list(&Default::default()) {
        let m = &metadata.manifest;
        assert!(!m.description.is_empty(), "{}", m.node_type);
        assert!(!m.category.is_empty(), "{}", m.node_type);
        assert!(!m.tags.is_empty(), "{}", m.node_type);
        assert!(semver_like(&m.version), "{}", m.node_type);
        assert_eq!(m.parameter_schema["type"], "object", "{}", m.node_type);
    }
    let families = |prefix: &str| {
        p.linked
            .list(&Default::default())
            .iter()
            .filter(|m| m.manifest.node_type.starts_with(prefix))
            .count()
    };
    assert_eq!(families("string."), 15);
    assert_eq!(families("math."), 17);
    assert_eq!(families("logic."), 17);
    assert_eq!(families("var."), 14);
    assert_eq!(families("convert."), 15);
    assert_eq!(families("list."), 22);
    assert_eq!(families("dict."), 16);
}

fn semver_like(v: &str) -> bool {
    v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u64>().is_ok())
}

#[test]
fn math() {
    ok("math.add", json!({"values": [1, 2, "3.5"]}), json!(6.5));
    ok("math.multiply", json!({"values": [2, 3, 4]}), json!(24));
    ok("math.min", json!({"values": [3, -1, 2]}), json!(-1));
    ok("math.max", json!({"values": [3, -1, 2]}), json!(3));
    ok("math.sum", json!({"values": []}), json!(0));
    ok("math.average", json!({"values": [1, 2, 3, 4]}), json!(2.5));
    ok("math.subtract", json!({"a": 10, "b": 15}), json!(-5));
    ok("math.divide", json!({"a": 9, "b": 3}), json!(3));
    ok("math.modulo", json!({"a": -7, "b": 3}), json!(-1));
    ok(
        "math.power",
        json!({"base": 2, "exponent": 10}),
        json!(1024),
    );
    ok("math.sqrt", json!({"value": 16}), json!(4));
    ok("math.abs", json!({"value": -2.5}), json!(2.5));
    ok("math.floor", json!({"value": -2.5}), json!(-3));
    ok("math.ceil", json!({"value": 2.1}), json!(3));
    ok(
        "math.round",
        json!({"value": 2.345, "decimals": 2}),
        json!(2.35),
    );
    ok("math.round", json!({"value": 2.5}), json!(3));
    ok(
        "math.clamp",
        json!({"value": 15, "min": 0, "max": 10}),
        json!(10),
    );
    let a = both(
        "math.random",
        json!({"min": 1, "max": 6, "integer": true, "seed": 42}),
    )
    .unwrap();
    let b = both(
        "math.random",
        json!({"min": 1, "max": 6, "integer": true, "seed": 42}),
    )
    .unwrap();
    assert_eq!(a, b, "a seed makes random reproducible");
    let n = a["result"].as_i64().unwrap();
    assert!((1..=6).contains(&n));
    // Edge cases: never NaN, never infinity, never a panic.
    fails(
        "math.divide",
        json!({"a": 1, "b": 0}),
        ErrorCode::InvalidParameters,
        "division by zero",
    );
    fails(
        "math.modulo",
        json!({"a": 1, "b": "0"}),
        ErrorCode::InvalidParameters,
        "modulo by zero",
    );
    fails(
        "math.sqrt",
        json!({"value": -4}),
        ErrorCode::InvalidParameters,
        "negative",
    );
    fails(
        "math.power",
        json!({"base": 1e308, "exponent": 10}),
        ErrorCode::InvalidParameters,
        "finite",
    );
    fails(
        "math.multiply",
        json!({"values": [1e308, 1e308]}),
        ErrorCode::InvalidParameters,
        "finite",
    );
    fails(
        "math.add",
        json!({"values": [1, "two"]}),
        ErrorCode::InvalidParameters,
        "values/1",
    );
    fails(
        "math.average",
        json!({"values": []}),
        ErrorCode::InvalidParameters,
        "values",
    );
    fails(
        "math.clamp",
        json!({"value": 1, "min": 5, "max": 0}),
        ErrorCode::InvalidParameters,
        "min",
    );
    fails(
        "math.add",
        json!({"values": "1,2"}),
        ErrorCode::ValidationFailed,
        "/values",
    );
    fails(
        "math.round",
        json!({"value": 1, "decimals": 99}),
        ErrorCode::ValidationFailed,
        "/decimals",
    );
}

#[test]
fn logic() {
    ok("logic.and", json!({"values": [true, 1, "x"]}), json!(true));
    ok("logic.and", json!({"values": [true, 0]}), json!(false));
    ok(
        "logic.or",
        json!({"values": [null, "", 0, []]}),
        json!(true),
    );
    ok("logic.coalesce", json!({"values": [null, 0, 1]}), json!(0));
    ok("logic.not", json!({"value": ""}), json!(true));
    ok("logic.xor", json!({"a": 1, "b": 0}), json!(true));
    ok("logic.equals", json!({"a": 1, "b": "1"}), json!(false));
    ok(
        "logic.equals",
        json!({"a": 1, "b": "1", "strict": false}),
        json!(true),
    );
    ok(
        "logic.equals",
        json!({"a": {"k": [1]}, "b": {"k": [1]}}),
        json!(true),
    );
    ok("logic.notEquals", json!({"a": 1, "b": 2}), json!(true));
    ok("logic.gt", json!({"a": "10", "b": 9}), json!(true));
    ok("logic.gte", json!({"a": 2, "b": 2}), json!(true));
    ok(
        "logic.lt",
        json!({"a": "apple", "b": "banana"}),
        json!(true),
    );
    ok("logic.lte", json!({"a": {"x": 1}, "b": 1}), json!(false));
    ok(
        "logic.in",
        json!({"value": 2, "array": [1, 2, 3]}),
        json!(true),
    );
    ok(
        "logic.between",
        json!({"value": 10, "min": 1, "max": 10}),
        json!(true),
    );
    ok("logic.isNull", json!({}), json!(true));
    ok("logic.isEmpty", json!({"value": {}}), json!(true));
    ok("logic.isEmpty", json!({"value": " "}), json!(false));
    ok("logic.typeOf", json!({"value": [1]}), json!("array"));
    ok(
        "logic.ternary",
        json!({"condition": 0, "ifTrue": "yes", "ifFalse": "no"}),
        json!("no"),
    );
    fails(
        "logic.in",
        json!({"value": 1, "array": "abc"}),
        ErrorCode::ValidationFailed,
        "/array",
    );
}

#[test]
fn string() {
    ok(
        "string.concat",
        json!({"values": ["a", 1, null], "separator": "-"}),
        json!("a-1-"),
    );
    ok(
        "string.format",
        json!({"template": "{a}+{a}", "values": {"a": "é"}}),
        json!("é+é"),
    );
    ok("string.length", json!({"value": "日本語"}), json!(3));
    ok("string.lower", json!({"value": "ÉCOLE"}), json!("école"));
    ok("string.upper", json!({"value": "ß"}), json!("SS"));
    ok(
        "string.trim",
        json!({"value": "  x  ", "mode": "end"}),
        json!("  x"),
    );
    ok(
        "string.replace",
        json!({"value": "aXbXc", "search": "X", "replace": "-"}),
        json!("a-b-c"),
    );
    ok(
        "string.split",
        json!({"value": "a;b;c", "separator": ";", "limit": 2}),
        json!(["a", "b"]),
    );
    ok(
        "string.join",
        json!({"values": ["a", "b"], "separator": ""}),
        json!("ab"),
    );
    ok(
        "string.substring",
        json!({"value": "😀😁😂", "start": 1}),
        json!("😁😂"),
    );
    ok(
        "string.includes",
        json!({"value": "abc", "search": ""}),
        json!(true),
    );
    ok(
        "string.startsWith",
        json!({"value": "abc", "search": "ab"}),
        json!(true),
    );
    ok(
        "string.endsWith",
        json!({"value": "abc", "search": "ab"}),
        json!(false),
    );
    ok(
        "string.padStart",
        json!({"value": "ab", "length": 5, "padChar": "*"}),
        json!("***ab"),
    );
    ok(
        "string.padEnd",
        json!({"value": "ab", "length": 1}),
        json!("ab"),
    );
    fails(
        "string.split",
        json!({"value": "a", "limit": -1}),
        ErrorCode::ValidationFailed,
        "/limit",
    );
    fails(
        "string.padStart",
        json!({"value": "a", "length": 10_000_000}),
        ErrorCode::ValidationFailed,
        "/length",
    );
    fails(
        "string.upper",
        json!({}),
        ErrorCode::ValidationFailed,
        "/value",
    );
}

#[test]
fn core() {
    let out = both("condition", json!({"condition": "yes"})).unwrap();
    assert_eq!(out, json!({"output": {"result": true}, "index": 0}));
    let out = both("condition", json!({"condition": false})).unwrap();
    assert_eq!(out["index"], 1);
    ok("transform", json!({"output": {"a": 1}}), json!({"a": 1}));
    ok("transform", json!({}), json!({"from": "input"}));
    ok("webhook-trigger", json!({}), json!({"from": "input"}));
    ok(
        "webhook-response",
        json!({"statusCode": 201, "body": [1]}),
        json!({"statusCode": 201, "headers": {}, "body": [1]}),
    );
    ok("wait", json!({"duration": 1}), json!({"from": "input"}));
    fails(
        "validate",
        json!({"rules": {"from": "required|integer"}}),
        ErrorCode::ValidationFailed,
        "from: must be an integer",
    );
    fails(
        "validate",
        json!({"rules": {"code": "required|regex:^[A-Z]{3}$"}, "input": {"code": "abc"}}),
        ErrorCode::ValidationFailed,
        "must match",
    );
    ok(
        "validate",
        json!({"rules": {"code": "required|regex:^[A-Z]{3}$"}, "input": {"code": "ABC"}}),
        json!({"code": "ABC"}),
    );
    fails(
        "wait",
        json!({"duration": 2, "unit": "hours"}),
        ErrorCode::InvalidParameters,
        "maximum",
    );
    fails(
        "transform",
        json!({"output": 1, "groupBy": "k"}),
        ErrorCode::InvalidParameters,
        "groupBy",
    );
}

#[tokio::test]
async fn var_nodes_change_the_execution_variables_in_order() {
    use plugflow_engine::{CompiledWorkflow, Engine, RunOptions, RunStatus, Workflow};
    let step = |id: &str, node_type: &str, parameters: Value| json!({"id": id, "nodeType": node_type, "parameters": parameters});
    let nodes = vec![
        step("a", "var.set", json!({"name": "count", "value": 1})),
        step("b", "var.increment", json!({"name": "count", "by": 4})),
        step("c", "var.decrement", json!({"name": "count"})),
        step("d", "var.append", json!({"name": "log", "value": "x"})),
        step("e", "var.append", json!({"name": "log", "value": "y"})),
        step("f", "var.merge", json!({"name": "cfg", "value": {"a": 1}})),
        step("g", "var.concat", json!({"name": "s", "value": "ab"})),
        step("h", "var.toggle", json!({"name": "flag"})),
        step(
            "i",
            "var.setMultiple",
            json!({"variables": {"m1": 1, "m2": 2}}),
        ),
        step("j", "var.delete", json!({"name": "m1"})),
        step("k", "var.exists", json!({"name": "m1"})),
        step(
            "l",
            "var.get",
            json!({"name": "missing", "default": "dflt"}),
        ),
        step("m", "var.list", json!({})),
        step("n", "var.getAll", json!({})),
        step("o", "var.clear", json!({})),
        step("p", "var.getAll", json!({})),
    ];
    let mut connections = serde_json::Map::new();
    for pair in nodes.windows(2) {
        connections.insert(
            pair[0]["id"].as_str().unwrap().to_owned(),
            json!({"main": [[{"node": pair[1]["id"]}]]}),
        );
    }
    let workflow = Workflow::from_json_str(
        &json!({"nodes": nodes, "connections": connections}).to_string(),
        "vars.json",
    )
    .unwrap();
    let compiled = CompiledWorkflow::compile(workflow);
    let mut outputs = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &["plugflow_var"]);
    for dynamic in [true, false] {
        let registry = Registry::new();
        if dynamic {
            let report =
                Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
            assert_eq!(report.totals.loaded, 1);
        } else {
            loader::register_static_plugin(&registry, plugflow_var::plugflow_module()).unwrap();
        }
        let engine = Engine::new(std::sync::Arc::new(registry));
        let result = engine.run(&compiled, RunOptions::default()).await.unwrap();
        assert_eq!(result.status, RunStatus::Success, "{result:#?}");
        let r = |id: &str| result.nodes[id].output["result"].clone();
        assert_eq!(r("c"), json!(4));
        assert_eq!(r("e"), json!(["x", "y"]));
        assert_eq!(r("f"), json!({"a": 1}));
        assert_eq!(r("g"), json!("ab"));
        assert_eq!(r("h"), json!(true));
        assert_eq!(r("j"), json!(true));
        assert_eq!(r("k"), json!(false));
        assert_eq!(r("l"), json!("dflt"));
        assert_eq!(
            r("m"),
            json!(["count", "log", "cfg", "s", "flag", "m2"]),
            "in the order they were set"
        );
        assert_eq!(r("n")["count"], json!(4));
        assert_eq!(r("o"), json!(6));
        assert_eq!(r("p"), json!({}));
        outputs.push(
            result
                .nodes
                .iter()
                .map(|(k, v)| (k.clone(), v.output.clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(outputs[0], outputs[1]);
    fails(
        "var.increment",
        json!({"name": "x", "by": "lots"}),
        ErrorCode::InvalidParameters,
        "by",
    );
}

#[test]
fn convert() {
    ok(
        "convert.toString",
        json!({"value": {"a": [1, 2.0]}}),
        json!("{\"a\":[1,2.0]}"),
    );
    ok("convert.toString", json!({"value": 3.0}), json!("3"));
    ok("convert.toNumber", json!({"value": " 42.5 "}), json!(42.5));
    ok("convert.toFloat", json!({"value": 2}), json!(2.0));
    ok("convert.toInteger", json!({"value": "12px"}), json!(12));
    ok("convert.toInteger", json!({"value": -3.9}), json!(-3));
    ok("convert.toBoolean", json!({"value": "false"}), json!(false));
    ok("convert.toBoolean", json!({"value": []}), json!(true));
    ok("convert.toArray", json!({"value": 1}), json!([1]));
    ok(
        "convert.toObject",
        json!({"value": [["a", 1], ["b", 2]]}),
        json!({"a": 1, "b": 2}),
    );
    ok(
        "convert.toObject",
        json!({"value": "{\"k\": true}"}),
        json!({"k": true}),
    );
    ok(
        "convert.parseJson",
        json!({"value": "[1, {\"x\": null}]"}),
        json!([1, {"x": null}]),
    );
    ok(
        "convert.toJson",
        json!({"value": {"b": 1}}),
        json!("{\"b\":1}"),
    );
    ok(
        "convert.parseDate",
        json!({"value": "2026-11-26T10:00:00+01:00"}),
        json!({"iso": "2026-11-26T09:00:00.000Z", "epochMs": 1_795_683_600_000_i64}),
    );
    ok(
        "convert.parseDate",
        json!({"value": "26/11/2026", "format": "%d/%m/%Y"}),
        json!({"iso": "2026-11-26T00:00:00.000Z", "epochMs": 1_795_651_200_000_i64}),
    );
    ok(
        "convert.formatDate",
        json!({"value": 0, "format": "%Y-%m-%d %H:%M"}),
        json!("1970-01-01 00:00"),
    );
    ok(
        "convert.formatDate",
        json!({"value": "2026-01-02"}),
        json!("2026-01-02T00:00:00.000Z"),
    );
    ok(
        "convert.base64Encode",
        json!({"value": "héllo"}),
        json!("aMOpbGxv"),
    );
    ok(
        "convert.base64Decode",
        json!({"value": "aMOpbGxv"}),
        json!("héllo"),
    );
    ok(
        "convert.urlEncode",
        json!({"value": "a b&c/é"}),
        json!("a%20b%26c%2F%C3%A9"),
    );
    ok(
        "convert.urlDecode",
        json!({"value": "a%20b+c%C3%A9"}),
        json!("a b cé"),
    );
    fails(
        "convert.toNumber",
        json!({"value": "twelve"}),
        ErrorCode::InvalidParameters,
        "twelve",
    );
    fails(
        "convert.parseJson",
        json!({"value": "{oops"}),
        ErrorCode::InvalidParameters,
        "not valid JSON",
    );
    fails(
        "convert.parseDate",
        json!({"value": "yesterday"}),
        ErrorCode::InvalidParameters,
        "ISO 8601",
    );
    fails(
        "convert.base64Decode",
        json!({"value": "***"}),
        ErrorCode::InvalidParameters,
        "base64",
    );
    fails(
        "convert.base64Decode",
        json!({"value": "//79"}),
        ErrorCode::InvalidParameters,
        "UTF-8",
    );
    fails(
        "convert.toObject",
        json!({"value": [[1]]}),
        ErrorCode::InvalidParameters,
        "value/0",
    );
}

#[test]
fn list() {
    let people =
        json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
    ok(
        "list.concat",
        json!({"arrays": [[1], [2, 3], []]}),
        json!([1, 2, 3]),
    );
    ok("list.length", json!({"array": [1, 2]}), json!(2));
    ok(
        "list.reverse",
        json!({"array": [1, 2, 3]}),
        json!([3, 2, 1]),
    );
    assert_eq!(
        both("list.pop", json!({"array": [1, 2, 3]})).unwrap(),
        json!({"result": 3, "rest": [1, 2]})
    );
    assert_eq!(
        both("list.shift", json!({"array": [1, 2, 3]})).unwrap(),
        json!({"result": 1, "rest": [2, 3]})
    );
    ok(
        "list.slice",
        json!({"array": [1, 2, 3, 4], "start": -3, "end": -1}),
        json!([2, 3]),
    );
    ok(
        "list.find",
        json!({"array": people, "condition": "$item.age < 18"}),
        json!({"name": "Bo", "age": 12}),
    );
    ok(
        "list.findIndex",
        json!({"array": people, "condition": "{{ $item.name === 'Cy' }}"}),
        json!(2),
    );
    ok(
        "list.filter",
        json!({"array": people, "condition": "$item.age >= 18 && $index > 0"}),
        json!([{"name": "Cy", "age": 36}]),
    );
    ok(
        "list.every",
        json!({"array": [], "condition": "false"}),
        json!(true),
    );
    ok(
        "list.some",
        json!({"array": [1, 2], "condition": "$item > 1"}),
        json!(true),
    );
    ok(
        "list.map",
        json!({"array": people, "expression": "$item.name.toUpperCase() + $index"}),
        json!(["ADA0", "BO1", "CY2"]),
    );
    ok(
        "list.reduce",
        json!({"array": [1, 2, 3, 4], "expression": "$acc + $item", "initial": 10}),
        json!(20),
    );
    ok(
        "list.sort",
        json!({"array": people, "key": "age", "order": "desc"}),
        json!([{"name": "Ada", "age": 36}, {"name": "Cy", "age": 36}, {"name": "Bo", "age": 12}]),
    );
    ok(
        "list.sort",
        json!({"array": [3, "b", null, 1, "a"]}),
        json!([1, 3, "a", "b", null]),
    );
    ok(
        "list.unique",
        json!({"array": people, "key": "age"}),
        json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}]),
    );
    ok(
        "list.flatten",
        json!({"array": [1, [2, [3, [4]]]], "depth": 2}),
        json!([1, 2, 3, [4]]),
    );
    ok(
        "list.push",
        json!({"array": [1], "value": {"x": 1}}),
        json!([1, {"x": 1}]),
    );
    ok(
        "list.unshift",
        json!({"array": [1], "value": 0}),
        json!([0, 1]),
    );
    ok(
        "list.includes",
        json!({"array": [{"a": 1}], "value": {"a": 1}}),
        json!(true),
    );
    ok(
        "list.indexOf",
        json!({"array": ["a", "b"], "value": "c"}),
        json!(-1),
    );
    ok(
        "list.at",
        json!({"array": [1, 2, 3], "index": -1}),
        json!(3),
    );
    ok(
        "list.groupBy",
        json!({"array": people, "key": "age"}),
        json!({"12": [{"name": "Bo", "age": 12}], "36": [{"name": "Ada", "age": 36}, {"name": "Cy", "age": 36}]}),
    );
    fails(
        "list.filter",
        json!({"array": [1], "condition": "$item.nope.deeper"}),
        ErrorCode::ExpressionError,
        "$item.nope.deeper",
    );
    fails(
        "list.map",
        json!({"array": [1], "expression": "(() => { while (true) {} })()"}),
        ErrorCode::ExecutionTimeout,
        "stopped",
    );
    fails(
        "list.concat",
        json!({"arrays": [1]}),
        ErrorCode::ValidationFailed,
        "/arrays/0",
    );
}

#[test]
fn dict() {
    let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
    ok("dict.get", json!({"object": o, "path": "b.c"}), json!(2));
    ok(
        "dict.get",
        json!({"object": o, "path": "b.zz", "default": 0}),
        json!(0),
    );
    ok(
        "dict.set",
        json!({"object": o, "path": "b.e.f", "value": true}),
        json!({"a": 1, "b": {"c": 2, "e": {"f": true}}, "d": "x"}),
    );
    ok(
        "dict.delete",
        json!({"object": o, "path": "b.c"}),
        json!({"a": 1, "b": {}, "d": "x"}),
    );
    ok("dict.has", json!({"object": o, "path": "d"}), json!(true));
    ok("dict.keys", json!({"object": o}), json!(["a", "b", "d"]));
    ok(
        "dict.values",
        json!({"object": {"x": 1, "y": 2}}),
        json!([1, 2]),
    );
    ok(
        "dict.entries",
        json!({"object": {"x": 1}}),
        json!([["x", 1]]),
    );
    ok("dict.size", json!({"object": o}), json!(3));
    ok(
        "dict.invert",
        json!({"object": {"a": 1, "b": "z"}}),
        json!({"1": "a", "z": "b"}),
    );
    ok(
        "dict.fromEntries",
        json!({"entries": [["a", 1], {"key": "b", "value": 2}]}),
        json!({"a": 1, "b": 2}),
    );
    ok(
        "dict.merge",
        json!({"objects": [{"a": {"x": 1}}, {"a": {"y": 2}, "b": 3}]}),
        json!({"a": {"y": 2}, "b": 3}),
    );
    ok(
        "dict.deepMerge",
        json!({"objects": [{"a": {"x": 1}, "l": [1]}, {"a": {"y": 2}, "l": [2]}]}),
        json!({"a": {"x": 1, "y": 2}, "l": [2]}),
    );
    ok(
        "dict.pick",
        json!({"object": o, "keys": ["a", "zz"]}),
        json!({"a": 1}),
    );
    ok(
        "dict.omit",
        json!({"object": o, "keys": ["a", "b"]}),
        json!({"d": "x"}),
    );
    ok(
        "dict.mapValues",
        json!({"object": {"a": 1, "b": 2}, "expression": "$value * 10 + $key.length"}),
        json!({"a": 11, "b": 21}),
    );
    ok(
        "dict.filterEntries",
        json!({"object": {"a": 1, "b": 2}, "condition": "{{ $value > 1 }}"}),
        json!({"b": 2}),
    );
    fails(
        "dict.set",
        json!({"object": {"a": 1}, "path": "a.b", "value": 1}),
        ErrorCode::InvalidParameters,
        "path",
    );
    fails(
        "dict.get",
        json!({"object": {}, "path": "a..b"}),
        ErrorCode::InvalidParameters,
        "empty segment",
    );
}

#[tokio::test]
async fn per_item_templates_reach_list_nodes_unrendered_through_the_engine() {
    use plugflow_engine::{CompiledWorkflow, Engine, RunOptions, RunStatus, Workflow};
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_list::plugflow_module()).unwrap();
    let workflow = json!({"nodes": [{"id": "adults", "nodeType": "list.filter",
        "parameters": {"array": "{{ $json.people }}", "condition": "{{ $item.age >= $json.minimum }}"}}], "connections": {}});
    let compiled = CompiledWorkflow::compile(
        Workflow::from_json_str(&workflow.to_string(), "w.json").unwrap(),
    );
    let options = RunOptions {
        trigger: json!({"minimum": 18, "people": [{"age": 30}, {"age": 9}]}),
        ..Default::default()
    };
    let result = Engine::new(std::sync::Arc::new(registry))
        .run(&compiled, options)
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Success, "{result:#?}");
    assert_eq!(
        result.nodes["adults"].output,
        json!({"result": [{"age": 30}]})
    );
}
