//! The `math.*` node family: 17 numeric functions.
//!
//! Every node returns `{ "result": <number> }`. Numbers may also be given as
//! numeric strings (as templates often produce them). Division or modulo by
//! zero, the square root of a negative number and results too large for a
//! JSON number are `INVALID_PARAMETERS` errors, never a panic, NaN or
//! infinity. Integral results are integers (`4`, not `4.0`).

use plugin_abi::sdk::value::{number, to_number};
use plugin_abi::sdk::{kind, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
use serde_json::{json, Value};

type NodeResult = Result<NodeOutput, NodeError>;

fn num(request: &NodeRequest, name: &str) -> Result<f64, NodeError> {
    let value = request.required_param(name)?;
    to_number(value).ok_or_else(|| {
        NodeError::invalid_parameter(name, format!("expected a number, got {}", kind(value)))
    })
}

fn opt_num(request: &NodeRequest, name: &str, default: f64) -> Result<f64, NodeError> {
    match request.param(name) {
        None => Ok(default),
        Some(_) => num(request, name),
    }
}

fn values(request: &NodeRequest) -> Result<Vec<f64>, NodeError> {
    request
        .array_param("values")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            to_number(v).ok_or_else(|| {
                NodeError::invalid_parameter(
                    &format!("values/{i}"),
                    format!("expected a number, got {}", kind(v)),
                )
            })
        })
        .collect()
}

fn out(result: f64) -> NodeResult {
    number(result).map(NodeOutput::result).ok_or_else(|| {
        NodeError::new(
            plugin_abi::codes::INVALID_PARAMETERS,
            "the result is not a finite number (overflow or undefined operation)",
        )
    })
}

fn nonempty(values: Vec<f64>, what: &str) -> Result<Vec<f64>, NodeError> {
    if values.is_empty() {
        Err(NodeError::invalid_parameter(
            "values",
            format!("{what} of no values is undefined; give at least one"),
        ))
    } else {
        Ok(values)
    }
}

fn values_spec(name: &str, description: &str, handler: fn(&NodeRequest) -> NodeResult) -> NodeSpec {
    NodeSpec::new(name, "1.0.0", "math", description)
        .schema(json!({"type": "object", "properties": {"values": {"type": "array", "items": {"type": ["number", "string"]}}}}))
        .required(["values"])
        .tags(["math", "function"])
        .handler(handler)
}

fn ab_spec(name: &str, description: &str, handler: fn(&NodeRequest) -> NodeResult) -> NodeSpec {
    NodeSpec::new(name, "1.0.0", "math", description)
        .schema(json!({"type": "object", "properties": {"a": {"type": ["number", "string"]}, "b": {"type": ["number", "string"]}}}))
        .required(["a", "b"])
        .tags(["math", "function"])
        .handler(handler)
}

fn value_spec(name: &str, description: &str, handler: fn(&NodeRequest) -> NodeResult) -> NodeSpec {
    NodeSpec::new(name, "1.0.0", "math", description)
        .schema(json!({"type": "object", "properties": {"value": {"type": ["number", "string"]}}}))
        .required(["value"])
        .tags(["math", "function"])
        .handler(handler)
}

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    PluginDefinition::new("plugflow-math", env!("CARGO_PKG_VERSION"))
        .description("Arithmetic, rounding, aggregates, random numbers.")
        .node(values_spec("math.add", "Sum of `values`. Output: {result: number}.", |r| out(values(r)?.iter().sum())))
        .node(values_spec("math.multiply", "Product of `values`. Output: {result: number}.", |r| out(values(r)?.iter().product())))
        .node(values_spec("math.min", "Smallest of `values` (at least one). Output: {result: number}.", |r| {
            out(nonempty(values(r)?, "min")?.into_iter().fold(f64::INFINITY, f64::min))
        }))
        .node(values_spec("math.max", "Largest of `values` (at least one). Output: {result: number}.", |r| {
            out(nonempty(values(r)?, "max")?.into_iter().fold(f64::NEG_INFINITY, f64::max))
        }))
        .node(values_spec("math.sum", "Sum of `values` (0 when empty). Output: {result: number}.", |r| out(values(r)?.iter().sum())))
        .node(values_spec("math.average", "Arithmetic mean of `values` (at least one). Output: {result: number}.", |r| {
            let v = nonempty(values(r)?, "average")?;
            out(v.iter().sum::<f64>() / v.len() as f64)
        }))
        .node(ab_spec("math.subtract", "`a - b`. Output: {result: number}.", |r| out(num(r, "a")? - num(r, "b")?)))
        .node(ab_spec("math.divide", "`a / b`; `b` = 0 is an INVALID_PARAMETERS error. Output: {result: number}.", |r| {
            let b = num(r, "b")?;
            if b == 0.0 {
                return Err(NodeError::invalid_parameter("b", "division by zero"));
            }
            out(num(r, "a")? / b)
        }))
        .node(ab_spec("math.modulo", "Remainder of `a / b` with the sign of `a` (JavaScript's %); `b` = 0 is an INVALID_PARAMETERS error. Output: {result: number}.", |r| {
            let b = num(r, "b")?;
            if b == 0.0 {
                return Err(NodeError::invalid_parameter("b", "modulo by zero"));
            }
            out(num(r, "a")? % b)
        }))
        .node(
            NodeSpec::new("math.power", "1.0.0", "math", "`base` raised to `exponent`. Output: {result: number}.")
                .schema(json!({"type": "object", "properties": {"base": {"type": ["number", "string"]}, "exponent": {"type": ["number", "string"]}}}))
                .required(["base", "exponent"])
                .tags(["math", "function"])
                .handler(|r| out(num(r, "base")?.powf(num(r, "exponent")?))),
        )
        .node(value_spec("math.sqrt", "Square root of `value` (not negative). Output: {result: number}.", |r| {
            let v = num(r, "value")?;
            if v < 0.0 {
                return Err(NodeError::invalid_parameter("value", "the square root of a negative number is not a real number"));
            }
            out(v.sqrt())
        }))
        .node(value_spec("math.abs", "Absolute value. Output: {result: number}.", |r| out(num(r, "value")?.abs())))
        .node(value_spec("math.floor", "Largest integer not above `value`. Output: {result: integer}.", |r| out(num(r, "value")?.floor())))
        .node(value_spec("math.ceil", "Smallest integer not below `value`. Output: {result: integer}.", |r| out(num(r, "value")?.ceil())))
        .node(
            NodeSpec::new("math.round", "1.0.0", "math", "Rounds `value` to `decimals` places (default 0; halves away from zero). Output: {result: number}.")
                .schema(json!({"type": "object", "properties": {"value": {"type": ["number", "string"]}, "decimals": {"type": "integer", "minimum": 0, "maximum": 15, "default": 0}}}))
                .required(["value"])
                .tags(["math", "function"])
                .handler(round),
        )
        .node(
            NodeSpec::new("math.random", "1.0.0", "math", "A random number in [`min`, `max`) (default [0, 1)); with `integer`, an integer in [`min`, `max`]. `seed` makes it reproducible. Output: {result: number}.")
                .schema(json!({"type": "object", "properties": {
                    "min": {"type": "number", "default": 0}, "max": {"type": "number", "default": 1},
                    "integer": {"type": "boolean", "default": false}, "seed": {"type": "integer", "minimum": 0}}}))
                .tags(["math", "function"])
                .handler(random),
        )
        .node(
            NodeSpec::new("math.clamp", "1.0.0", "math", "`value` limited to [`min`, `max`] (min must not exceed max). Output: {result: number}.")
                .schema(json!({"type": "object", "properties": {"value": {"type": ["number", "string"]}, "min": {"type": ["number", "string"]}, "max": {"type": ["number", "string"]}}}))
                .required(["value", "min", "max"])
                .tags(["math", "function"])
                .handler(|r| {
                    let (min, max) = (num(r, "min")?, num(r, "max")?);
                    if min > max {
                        return Err(NodeError::invalid_parameter("min", format!("min {min} is greater than max {max}")));
                    }
                    out(num(r, "value")?.clamp(min, max))
                }),
        )
}

plugin_abi::export_plugin!(definition);

fn round(request: &NodeRequest) -> NodeResult {
    let value = num(request, "value")?;
    let decimals = opt_num(request, "decimals", 0.0)?;
    if !(0.0..=15.0).contains(&decimals) || decimals.fract() != 0.0 {
        return Err(NodeError::invalid_parameter(
            "decimals",
            "must be an integer from 0 to 15",
        ));
    }
    let factor = 10f64.powi(decimals as i32);
    let scaled = value * factor;
    if !scaled.is_finite() {
        return out(value);
    }
    out(scaled.round() / factor)
}

fn random(request: &NodeRequest) -> NodeResult {
    let min = opt_num(request, "min", 0.0)?;
    let max = opt_num(request, "max", 1.0)?;
    if min > max {
        return Err(NodeError::invalid_parameter(
            "min",
            format!("min {min} is greater than max {max}"),
        ));
    }
    let mut rng = match request.param("seed").and_then(Value::as_u64) {
        Some(seed) => fastrand::Rng::with_seed(seed),
        None => fastrand::Rng::new(),
    };
    if request
        .param("integer")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let (lo, hi) = (min.ceil(), max.floor());
        if lo > hi {
            return Err(NodeError::invalid_parameter(
                "max",
                format!("no integer lies between {min} and {max}"),
            ));
        }
        if lo < -9e15 || hi > 9e15 {
            return Err(NodeError::invalid_parameter(
                "max",
                "integer bounds must lie within ±9e15",
            ));
        }
        return out(rng.i64(lo as i64..=hi as i64) as f64);
    }
    out(min + rng.f64() * (max - min))
}
