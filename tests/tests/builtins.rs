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

mod math {
    use super::*;

    #[test]
    fn random_with_a_seed_is_reproducible_and_in_range() {
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
    }

    #[test]
    fn add_values_1_2_3_5() {
        ok("math.add", json!({"values": [1, 2, "3.5"]}), json!(6.5));
    }

    #[test]
    fn multiply_values_2_3_4() {
        ok("math.multiply", json!({"values": [2, 3, 4]}), json!(24));
    }

    #[test]
    fn min_values_3_1_2() {
        ok("math.min", json!({"values": [3, -1, 2]}), json!(-1));
    }

    #[test]
    fn max_values_3_1_2() {
        ok("math.max", json!({"values": [3, -1, 2]}), json!(3));
    }

    #[test]
    fn sum_values() {
        ok("math.sum", json!({"values": []}), json!(0));
    }

    #[test]
    fn average_values_1_2_3_4() {
        ok("math.average", json!({"values": [1, 2, 3, 4]}), json!(2.5));
    }

    #[test]
    fn subtract_a_10_b_15() {
        ok("math.subtract", json!({"a": 10, "b": 15}), json!(-5));
    }

    #[test]
    fn divide_a_9_b_3() {
        ok("math.divide", json!({"a": 9, "b": 3}), json!(3));
    }

    #[test]
    fn modulo_a_7_b_3() {
        ok("math.modulo", json!({"a": -7, "b": 3}), json!(-1));
    }

    #[test]
    fn power_base_2_exponent_10() {
        ok(
            "math.power",
            json!({"base": 2, "exponent": 10}),
            json!(1024),
        );
    }

    #[test]
    fn sqrt_value_16() {
        ok("math.sqrt", json!({"value": 16}), json!(4));
    }

    #[test]
    fn abs_value_2_5() {
        ok("math.abs", json!({"value": -2.5}), json!(2.5));
    }

    #[test]
    fn floor_value_2_5() {
        ok("math.floor", json!({"value": -2.5}), json!(-3));
    }

    #[test]
    fn ceil_value_2_1() {
        ok("math.ceil", json!({"value": 2.1}), json!(3));
    }

    #[test]
    fn round_value_2_345_decimals_2() {
        ok(
            "math.round",
            json!({"value": 2.345, "decimals": 2}),
            json!(2.35),
        );
    }

    #[test]
    fn round_value_2_5() {
        ok("math.round", json!({"value": 2.5}), json!(3));
    }

    #[test]
    fn clamp_value_15_min_0_max_10() {
        ok(
            "math.clamp",
            json!({"value": 15, "min": 0, "max": 10}),
            json!(10),
        );
    }

    // Edge cases: never NaN, never infinity, never a panic.
    #[test]
    fn divide_refuses_division_by_zero() {
        fails(
            "math.divide",
            json!({"a": 1, "b": 0}),
            ErrorCode::InvalidParameters,
            "division by zero",
        );
    }

    #[test]
    fn modulo_refuses_modulo_by_zero() {
        fails(
            "math.modulo",
            json!({"a": 1, "b": "0"}),
            ErrorCode::InvalidParameters,
            "modulo by zero",
        );
    }

    #[test]
    fn sqrt_refuses_negative() {
        fails(
            "math.sqrt",
            json!({"value": -4}),
            ErrorCode::InvalidParameters,
            "negative",
        );
    }

    #[test]
    fn power_refuses_finite() {
        fails(
            "math.power",
            json!({"base": 1e308, "exponent": 10}),
            ErrorCode::InvalidParameters,
            "finite",
        );
    }

    #[test]
    fn multiply_refuses_finite() {
        fails(
            "math.multiply",
            json!({"values": [1e308, 1e308]}),
            ErrorCode::InvalidParameters,
            "finite",
        );
    }

    #[test]
    fn add_refuses_values_1() {
        fails(
            "math.add",
            json!({"values": [1, "two"]}),
            ErrorCode::InvalidParameters,
            "values/1",
        );
    }

    #[test]
    fn average_refuses_values() {
        fails(
            "math.average",
            json!({"values": []}),
            ErrorCode::InvalidParameters,
            "values",
        );
    }

    #[test]
    fn clamp_refuses_min() {
        fails(
            "math.clamp",
            json!({"value": 1, "min": 5, "max": 0}),
            ErrorCode::InvalidParameters,
            "min",
        );
    }

    #[test]
    fn add_refuses_values() {
        fails(
            "math.add",
            json!({"values": "1,2"}),
            ErrorCode::ValidationFailed,
            "/values",
        );
    }

    #[test]
    fn round_refuses_decimals() {
        fails(
            "math.round",
            json!({"value": 1, "decimals": 99}),
            ErrorCode::ValidationFailed,
            "/decimals",
        );
    }
}

mod logic {
    use super::*;

    #[test]
    fn and_values_true_1_x() {
        ok("logic.and", json!({"values": [true, 1, "x"]}), json!(true));
    }

    #[test]
    fn and_values_true_0() {
        ok("logic.and", json!({"values": [true, 0]}), json!(false));
    }

    #[test]
    fn or_values_null_0() {
        ok(
            "logic.or",
            json!({"values": [null, "", 0, []]}),
            json!(true),
        );
    }

    #[test]
    fn coalesce_values_null_0_1() {
        ok("logic.coalesce", json!({"values": [null, 0, 1]}), json!(0));
    }

    #[test]
    fn not_value() {
        ok("logic.not", json!({"value": ""}), json!(true));
    }

    #[test]
    fn xor_a_1_b_0() {
        ok("logic.xor", json!({"a": 1, "b": 0}), json!(true));
    }

    #[test]
    fn equals_a_1_b_1() {
        ok("logic.equals", json!({"a": 1, "b": "1"}), json!(false));
    }

    #[test]
    fn equals_a_1_b_1_strict_false() {
        ok(
            "logic.equals",
            json!({"a": 1, "b": "1", "strict": false}),
            json!(true),
        );
    }

    #[test]
    fn equals_a_k_1_b_k_1() {
        ok(
            "logic.equals",
            json!({"a": {"k": [1]}, "b": {"k": [1]}}),
            json!(true),
        );
    }

    #[test]
    fn notequals_a_1_b_2() {
        ok("logic.notEquals", json!({"a": 1, "b": 2}), json!(true));
    }

    #[test]
    fn gt_a_10_b_9() {
        ok("logic.gt", json!({"a": "10", "b": 9}), json!(true));
    }

    #[test]
    fn gte_a_2_b_2() {
        ok("logic.gte", json!({"a": 2, "b": 2}), json!(true));
    }

    #[test]
    fn lt_a_apple_b_banana() {
        ok(
            "logic.lt",
            json!({"a": "apple", "b": "banana"}),
            json!(true),
        );
    }

    #[test]
    fn lte_a_x_1_b_1() {
        ok("logic.lte", json!({"a": {"x": 1}, "b": 1}), json!(false));
    }

    #[test]
    fn in_value_2_array_1_2_3() {
        ok(
            "logic.in",
            json!({"value": 2, "array": [1, 2, 3]}),
            json!(true),
        );
    }

    #[test]
    fn between_value_10_min_1_max_10() {
        ok(
            "logic.between",
            json!({"value": 10, "min": 1, "max": 10}),
            json!(true),
        );
    }

    #[test]
    fn isnull_() {
        ok("logic.isNull", json!({}), json!(true));
    }

    #[test]
    fn isempty_value() {
        ok("logic.isEmpty", json!({"value": {}}), json!(true));
    }

    #[test]
    fn isempty_value_2() {
        ok("logic.isEmpty", json!({"value": " "}), json!(false));
    }

    #[test]
    fn typeof_value_1() {
        ok("logic.typeOf", json!({"value": [1]}), json!("array"));
    }

    #[test]
    fn ternary_condition_0_iftrue_yes_iffalse_no() {
        ok(
            "logic.ternary",
            json!({"condition": 0, "ifTrue": "yes", "ifFalse": "no"}),
            json!("no"),
        );
    }

    #[test]
    fn in_refuses_array() {
        fails(
            "logic.in",
            json!({"value": 1, "array": "abc"}),
            ErrorCode::ValidationFailed,
            "/array",
        );
    }
}

mod string {
    use super::*;

    #[test]
    fn concat_values_a_1_null_separator() {
        ok(
            "string.concat",
            json!({"values": ["a", 1, null], "separator": "-"}),
            json!("a-1-"),
        );
    }

    #[test]
    fn format_template_a_a_values_a() {
        ok(
            "string.format",
            json!({"template": "{a}+{a}", "values": {"a": "é"}}),
            json!("é+é"),
        );
    }

    #[test]
    fn length_value() {
        ok("string.length", json!({"value": "日本語"}), json!(3));
    }

    #[test]
    fn lower_value_cole() {
        ok("string.lower", json!({"value": "ÉCOLE"}), json!("école"));
    }

    #[test]
    fn upper_value() {
        ok("string.upper", json!({"value": "ß"}), json!("SS"));
    }

    #[test]
    fn trim_value_x_mode_end() {
        ok(
            "string.trim",
            json!({"value": "  x  ", "mode": "end"}),
            json!("  x"),
        );
    }

    #[test]
    fn replace_value_axbxc_search_x_replace() {
        ok(
            "string.replace",
            json!({"value": "aXbXc", "search": "X", "replace": "-"}),
            json!("a-b-c"),
        );
    }

    #[test]
    fn split_value_a_b_c_separator_limit_2() {
        ok(
            "string.split",
            json!({"value": "a;b;c", "separator": ";", "limit": 2}),
            json!(["a", "b"]),
        );
    }

    #[test]
    fn join_values_a_b_separator() {
        ok(
            "string.join",
            json!({"values": ["a", "b"], "separator": ""}),
            json!("ab"),
        );
    }

    #[test]
    fn substring_value_start_1() {
        ok(
            "string.substring",
            json!({"value": "😀😁😂", "start": 1}),
            json!("😁😂"),
        );
    }

    #[test]
    fn includes_value_abc_search() {
        ok(
            "string.includes",
            json!({"value": "abc", "search": ""}),
            json!(true),
        );
    }

    #[test]
    fn startswith_value_abc_search_ab() {
        ok(
            "string.startsWith",
            json!({"value": "abc", "search": "ab"}),
            json!(true),
        );
    }

    #[test]
    fn endswith_value_abc_search_ab() {
        ok(
            "string.endsWith",
            json!({"value": "abc", "search": "ab"}),
            json!(false),
        );
    }

    #[test]
    fn padstart_value_ab_length_5_padchar() {
        ok(
            "string.padStart",
            json!({"value": "ab", "length": 5, "padChar": "*"}),
            json!("***ab"),
        );
    }

    #[test]
    fn padend_value_ab_length_1() {
        ok(
            "string.padEnd",
            json!({"value": "ab", "length": 1}),
            json!("ab"),
        );
    }

    #[test]
    fn split_refuses_limit() {
        fails(
            "string.split",
            json!({"value": "a", "limit": -1}),
            ErrorCode::ValidationFailed,
            "/limit",
        );
    }

    #[test]
    fn padstart_refuses_length() {
        fails(
            "string.padStart",
            json!({"value": "a", "length": 10_000_000}),
            ErrorCode::ValidationFailed,
            "/length",
        );
    }

    #[test]
    fn upper_refuses_value() {
        fails(
            "string.upper",
            json!({}),
            ErrorCode::ValidationFailed,
            "/value",
        );
    }
}

mod core {
    use super::*;

    #[test]
    fn condition_picks_the_output_by_truthiness() {
        let out = both("condition", json!({"condition": "yes"})).unwrap();
        assert_eq!(out, json!({"output": {"result": true}, "index": 0}));
        let out = both("condition", json!({"condition": false})).unwrap();
        assert_eq!(out["index"], 1);
    }

    #[test]
    fn transform_output_a_1() {
        ok("transform", json!({"output": {"a": 1}}), json!({"a": 1}));
    }

    #[test]
    fn transform_() {
        ok("transform", json!({}), json!({"from": "input"}));
    }

    #[test]
    fn webhook_trigger_() {
        ok("webhook-trigger", json!({}), json!({"from": "input"}));
    }

    #[test]
    fn webhook_response_statuscode_201_body_1() {
        ok(
            "webhook-response",
            json!({"statusCode": 201, "body": [1]}),
            json!({"statusCode": 201, "headers": {}, "body": [1]}),
        );
    }

    #[test]
    fn wait_duration_1() {
        ok("wait", json!({"duration": 1}), json!({"from": "input"}));
    }

    #[test]
    fn validate_refuses_from_must_be_an_integer() {
        fails(
            "validate",
            json!({"rules": {"from": "required|integer"}}),
            ErrorCode::ValidationFailed,
            "from: must be an integer",
        );
    }

    #[test]
    fn validate_refuses_must_match() {
        fails(
            "validate",
            json!({"rules": {"code": "required|regex:^[A-Z]{3}$"}, "input": {"code": "abc"}}),
            ErrorCode::ValidationFailed,
            "must match",
        );
    }

    #[test]
    fn validate_rules_code_required_regex_a_z_3_input_co() {
        ok(
            "validate",
            json!({"rules": {"code": "required|regex:^[A-Z]{3}$"}, "input": {"code": "ABC"}}),
            json!({"code": "ABC"}),
        );
    }

    #[test]
    fn wait_refuses_maximum() {
        fails(
            "wait",
            json!({"duration": 2, "unit": "hours"}),
            ErrorCode::InvalidParameters,
            "maximum",
        );
    }

    #[test]
    fn transform_refuses_groupby() {
        fails(
            "transform",
            json!({"output": 1, "groupBy": "k"}),
            ErrorCode::InvalidParameters,
            "groupBy",
        );
    }
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

mod convert {
    use super::*;

    #[test]
    fn tostring_value_a_1_2_0() {
        ok(
            "convert.toString",
            json!({"value": {"a": [1, 2.0]}}),
            json!("{\"a\":[1,2.0]}"),
        );
    }

    #[test]
    fn tostring_value_3_0() {
        ok("convert.toString", json!({"value": 3.0}), json!("3"));
    }

    #[test]
    fn tonumber_value_42_5() {
        ok("convert.toNumber", json!({"value": " 42.5 "}), json!(42.5));
    }

    #[test]
    fn tofloat_value_2() {
        ok("convert.toFloat", json!({"value": 2}), json!(2.0));
    }

    #[test]
    fn tointeger_value_12px() {
        ok("convert.toInteger", json!({"value": "12px"}), json!(12));
    }

    #[test]
    fn tointeger_value_3_9() {
        ok("convert.toInteger", json!({"value": -3.9}), json!(-3));
    }

    #[test]
    fn toboolean_value_false() {
        ok("convert.toBoolean", json!({"value": "false"}), json!(false));
    }

    #[test]
    fn toboolean_value() {
        ok("convert.toBoolean", json!({"value": []}), json!(true));
    }

    #[test]
    fn toarray_value_1() {
        ok("convert.toArray", json!({"value": 1}), json!([1]));
    }

    #[test]
    fn toobject_value_a_1_b_2() {
        ok(
            "convert.toObject",
            json!({"value": [["a", 1], ["b", 2]]}),
            json!({"a": 1, "b": 2}),
        );
    }

    #[test]
    fn toobject_value_k_true() {
        ok(
            "convert.toObject",
            json!({"value": "{\"k\": true}"}),
            json!({"k": true}),
        );
    }

    #[test]
    fn parsejson_value_1_x_null() {
        ok(
            "convert.parseJson",
            json!({"value": "[1, {\"x\": null}]"}),
            json!([1, {"x": null}]),
        );
    }

    #[test]
    fn tojson_value_b_1() {
        ok(
            "convert.toJson",
            json!({"value": {"b": 1}}),
            json!("{\"b\":1}"),
        );
    }

    #[test]
    fn parsedate_value_2026_11_26t10_00_00_01_00() {
        ok(
            "convert.parseDate",
            json!({"value": "2026-11-26T10:00:00+01:00"}),
            json!({"iso": "2026-11-26T09:00:00.000Z", "epochMs": 1_795_683_600_000_i64}),
        );
    }

    #[test]
    fn parsedate_value_26_11_2026_format_d_m_y() {
        ok(
            "convert.parseDate",
            json!({"value": "26/11/2026", "format": "%d/%m/%Y"}),
            json!({"iso": "2026-11-26T00:00:00.000Z", "epochMs": 1_795_651_200_000_i64}),
        );
    }

    #[test]
    fn formatdate_value_0_format_y_m_d_h_m() {
        ok(
            "convert.formatDate",
            json!({"value": 0, "format": "%Y-%m-%d %H:%M"}),
            json!("1970-01-01 00:00"),
        );
    }

    #[test]
    fn formatdate_value_2026_01_02() {
        ok(
            "convert.formatDate",
            json!({"value": "2026-01-02"}),
            json!("2026-01-02T00:00:00.000Z"),
        );
    }

    #[test]
    fn base64encode_value_h_llo() {
        ok(
            "convert.base64Encode",
            json!({"value": "héllo"}),
            json!("aMOpbGxv"),
        );
    }

    #[test]
    fn base64decode_value_amopbgxv() {
        ok(
            "convert.base64Decode",
            json!({"value": "aMOpbGxv"}),
            json!("héllo"),
        );
    }

    #[test]
    fn urlencode_value_a_b_c() {
        ok(
            "convert.urlEncode",
            json!({"value": "a b&c/é"}),
            json!("a%20b%26c%2F%C3%A9"),
        );
    }

    #[test]
    fn urldecode_value_a_20b_c_c3_a9() {
        ok(
            "convert.urlDecode",
            json!({"value": "a%20b+c%C3%A9"}),
            json!("a b cé"),
        );
    }

    #[test]
    fn tonumber_refuses_twelve() {
        fails(
            "convert.toNumber",
            json!({"value": "twelve"}),
            ErrorCode::InvalidParameters,
            "twelve",
        );
    }

    #[test]
    fn parsejson_refuses_not_valid_json() {
        fails(
            "convert.parseJson",
            json!({"value": "{oops"}),
            ErrorCode::InvalidParameters,
            "not valid JSON",
        );
    }

    #[test]
    fn parsedate_refuses_iso_8601() {
        fails(
            "convert.parseDate",
            json!({"value": "yesterday"}),
            ErrorCode::InvalidParameters,
            "ISO 8601",
        );
    }

    #[test]
    fn base64decode_refuses_base64() {
        fails(
            "convert.base64Decode",
            json!({"value": "***"}),
            ErrorCode::InvalidParameters,
            "base64",
        );
    }

    #[test]
    fn base64decode_refuses_utf_8() {
        fails(
            "convert.base64Decode",
            json!({"value": "//79"}),
            ErrorCode::InvalidParameters,
            "UTF-8",
        );
    }

    #[test]
    fn toobject_refuses_value_0() {
        fails(
            "convert.toObject",
            json!({"value": [[1]]}),
            ErrorCode::InvalidParameters,
            "value/0",
        );
    }
}

mod list {
    use super::*;

    #[test]
    fn pop_and_shift_return_the_item_and_the_rest() {
        assert_eq!(
            both("list.pop", json!({"array": [1, 2, 3]})).unwrap(),
            json!({"result": 3, "rest": [1, 2]})
        );
        assert_eq!(
            both("list.shift", json!({"array": [1, 2, 3]})).unwrap(),
            json!({"result": 1, "rest": [2, 3]})
        );
    }

    #[test]
    fn concat_arrays_1_2_3() {
        ok(
            "list.concat",
            json!({"arrays": [[1], [2, 3], []]}),
            json!([1, 2, 3]),
        );
    }

    #[test]
    fn length_array_1_2() {
        ok("list.length", json!({"array": [1, 2]}), json!(2));
    }

    #[test]
    fn reverse_array_1_2_3() {
        ok(
            "list.reverse",
            json!({"array": [1, 2, 3]}),
            json!([3, 2, 1]),
        );
    }

    #[test]
    fn slice_array_1_2_3_4_start_3_end_1() {
        ok(
            "list.slice",
            json!({"array": [1, 2, 3, 4], "start": -3, "end": -1}),
            json!([2, 3]),
        );
    }

    #[test]
    fn find_array_people_condition_item_age_18() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.find",
            json!({"array": people, "condition": "$item.age < 18"}),
            json!({"name": "Bo", "age": 12}),
        );
    }

    #[test]
    fn findindex_array_people_condition_item_name_cy() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.findIndex",
            json!({"array": people, "condition": "{{ $item.name === 'Cy' }}"}),
            json!(2),
        );
    }

    #[test]
    fn filter_array_people_condition_item_age_18_index() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.filter",
            json!({"array": people, "condition": "$item.age >= 18 && $index > 0"}),
            json!([{"name": "Cy", "age": 36}]),
        );
    }

    #[test]
    fn every_array_condition_false() {
        ok(
            "list.every",
            json!({"array": [], "condition": "false"}),
            json!(true),
        );
    }

    #[test]
    fn some_array_1_2_condition_item_1() {
        ok(
            "list.some",
            json!({"array": [1, 2], "condition": "$item > 1"}),
            json!(true),
        );
    }

    #[test]
    fn map_array_people_expression_item_name_touppe() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.map",
            json!({"array": people, "expression": "$item.name.toUpperCase() + $index"}),
            json!(["ADA0", "BO1", "CY2"]),
        );
    }

    #[test]
    fn reduce_array_1_2_3_4_expression_acc_item_initia() {
        ok(
            "list.reduce",
            json!({"array": [1, 2, 3, 4], "expression": "$acc + $item", "initial": 10}),
            json!(20),
        );
    }

    #[test]
    fn sort_array_people_key_age_order_desc() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.sort",
            json!({"array": people, "key": "age", "order": "desc"}),
            json!([{"name": "Ada", "age": 36}, {"name": "Cy", "age": 36}, {"name": "Bo", "age": 12}]),
        );
    }

    #[test]
    fn sort_array_3_b_null_1_a() {
        ok(
            "list.sort",
            json!({"array": [3, "b", null, 1, "a"]}),
            json!([1, 3, "a", "b", null]),
        );
    }

    #[test]
    fn unique_array_people_key_age() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.unique",
            json!({"array": people, "key": "age"}),
            json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}]),
        );
    }

    #[test]
    fn flatten_array_1_2_3_4_depth_2() {
        ok(
            "list.flatten",
            json!({"array": [1, [2, [3, [4]]]], "depth": 2}),
            json!([1, 2, 3, [4]]),
        );
    }

    #[test]
    fn push_array_1_value_x_1() {
        ok(
            "list.push",
            json!({"array": [1], "value": {"x": 1}}),
            json!([1, {"x": 1}]),
        );
    }

    #[test]
    fn unshift_array_1_value_0() {
        ok(
            "list.unshift",
            json!({"array": [1], "value": 0}),
            json!([0, 1]),
        );
    }

    #[test]
    fn includes_array_a_1_value_a_1() {
        ok(
            "list.includes",
            json!({"array": [{"a": 1}], "value": {"a": 1}}),
            json!(true),
        );
    }

    #[test]
    fn indexof_array_a_b_value_c() {
        ok(
            "list.indexOf",
            json!({"array": ["a", "b"], "value": "c"}),
            json!(-1),
        );
    }

    #[test]
    fn at_array_1_2_3_index_1() {
        ok(
            "list.at",
            json!({"array": [1, 2, 3], "index": -1}),
            json!(3),
        );
    }

    #[test]
    fn groupby_array_people_key_age() {
        let people = json!([{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 36}]);
        ok(
            "list.groupBy",
            json!({"array": people, "key": "age"}),
            json!({"12": [{"name": "Bo", "age": 12}], "36": [{"name": "Ada", "age": 36}, {"name": "Cy", "age": 36}]}),
        );
    }

    #[test]
    fn filter_refuses_item_nope_deeper() {
        fails(
            "list.filter",
            json!({"array": [1], "condition": "$item.nope.deeper"}),
            ErrorCode::ExpressionError,
            "$item.nope.deeper",
        );
    }

    #[test]
    fn map_refuses_stopped() {
        fails(
            "list.map",
            json!({"array": [1], "expression": "(() => { while (true) {} })()"}),
            ErrorCode::ExecutionTimeout,
            "stopped",
        );
    }

    #[test]
    fn concat_refuses_arrays_0() {
        fails(
            "list.concat",
            json!({"arrays": [1]}),
            ErrorCode::ValidationFailed,
            "/arrays/0",
        );
    }
}

mod dict {
    use super::*;

    #[test]
    fn get_object_o_path_b_c() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok("dict.get", json!({"object": o, "path": "b.c"}), json!(2));
    }

    #[test]
    fn get_object_o_path_b_zz_default_0() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok(
            "dict.get",
            json!({"object": o, "path": "b.zz", "default": 0}),
            json!(0),
        );
    }

    #[test]
    fn set_object_o_path_b_e_f_value_true() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok(
            "dict.set",
            json!({"object": o, "path": "b.e.f", "value": true}),
            json!({"a": 1, "b": {"c": 2, "e": {"f": true}}, "d": "x"}),
        );
    }

    #[test]
    fn delete_object_o_path_b_c() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok(
            "dict.delete",
            json!({"object": o, "path": "b.c"}),
            json!({"a": 1, "b": {}, "d": "x"}),
        );
    }

    #[test]
    fn has_object_o_path_d() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok("dict.has", json!({"object": o, "path": "d"}), json!(true));
    }

    #[test]
    fn keys_object_o() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok("dict.keys", json!({"object": o}), json!(["a", "b", "d"]));
    }

    #[test]
    fn values_object_x_1_y_2() {
        ok(
            "dict.values",
            json!({"object": {"x": 1, "y": 2}}),
            json!([1, 2]),
        );
    }

    #[test]
    fn entries_object_x_1() {
        ok(
            "dict.entries",
            json!({"object": {"x": 1}}),
            json!([["x", 1]]),
        );
    }

    #[test]
    fn size_object_o() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok("dict.size", json!({"object": o}), json!(3));
    }

    #[test]
    fn invert_object_a_1_b_z() {
        ok(
            "dict.invert",
            json!({"object": {"a": 1, "b": "z"}}),
            json!({"1": "a", "z": "b"}),
        );
    }

    #[test]
    fn fromentries_entries_a_1_key_b_value_2() {
        ok(
            "dict.fromEntries",
            json!({"entries": [["a", 1], {"key": "b", "value": 2}]}),
            json!({"a": 1, "b": 2}),
        );
    }

    #[test]
    fn merge_objects_a_x_1_a_y_2_b_3() {
        ok(
            "dict.merge",
            json!({"objects": [{"a": {"x": 1}}, {"a": {"y": 2}, "b": 3}]}),
            json!({"a": {"y": 2}, "b": 3}),
        );
    }

    #[test]
    fn deepmerge_objects_a_x_1_l_1_a_y_2_l_2() {
        ok(
            "dict.deepMerge",
            json!({"objects": [{"a": {"x": 1}, "l": [1]}, {"a": {"y": 2}, "l": [2]}]}),
            json!({"a": {"x": 1, "y": 2}, "l": [2]}),
        );
    }

    #[test]
    fn pick_object_o_keys_a_zz() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok(
            "dict.pick",
            json!({"object": o, "keys": ["a", "zz"]}),
            json!({"a": 1}),
        );
    }

    #[test]
    fn omit_object_o_keys_a_b() {
        let o = json!({"a": 1, "b": {"c": 2}, "d": "x"});
        ok(
            "dict.omit",
            json!({"object": o, "keys": ["a", "b"]}),
            json!({"d": "x"}),
        );
    }

    #[test]
    fn mapvalues_object_a_1_b_2_expression_value_10_key_l() {
        ok(
            "dict.mapValues",
            json!({"object": {"a": 1, "b": 2}, "expression": "$value * 10 + $key.length"}),
            json!({"a": 11, "b": 21}),
        );
    }

    #[test]
    fn filterentries_object_a_1_b_2_condition_value_1() {
        ok(
            "dict.filterEntries",
            json!({"object": {"a": 1, "b": 2}, "condition": "{{ $value > 1 }}"}),
            json!({"b": 2}),
        );
    }

    #[test]
    fn set_refuses_path() {
        fails(
            "dict.set",
            json!({"object": {"a": 1}, "path": "a.b", "value": 1}),
            ErrorCode::InvalidParameters,
            "path",
        );
    }

    #[test]
    fn get_refuses_empty_segment() {
        fails(
            "dict.get",
            json!({"object": {}, "path": "a..b"}),
            ErrorCode::InvalidParameters,
            "empty segment",
        );
    }
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

#[test]
fn every_built_in_parameter_schema_compiles() {
    // Linked built-ins compile their schemas on first use; this is the
    // check the loader makes of a library seen for the first time.
    let registry = registry_core::Registry::new();
    for definition in [
        plugflow_convert::plugflow_definition(),
        plugflow_core::plugflow_definition(),
        plugflow_dbal::plugflow_definition(),
        plugflow_dict::plugflow_definition(),
        plugflow_email::plugflow_definition(),
        plugflow_http::plugflow_definition(),
        plugflow_list::plugflow_definition(),
        plugflow_logic::plugflow_definition(),
        plugflow_math::plugflow_definition(),
        plugflow_string::plugflow_definition(),
        plugflow_var::plugflow_definition(),
    ] {
        loader::validate_plugin_manifest(&definition.manifest(), &registry)
            .unwrap_or_else(|e| panic!("{}: {e}", definition.name()));
    }
}
