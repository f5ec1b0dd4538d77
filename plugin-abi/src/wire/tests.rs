use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::value::{put_varint, MAX_DEPTH};
use super::*;
use crate::request::{ExecContext, NodeOutput, NodeRequest, VariablesPatch};

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, &mut out);
    out
}

fn decoded(bytes: &[u8]) -> Result<Value, WireError> {
    decode_value(&mut Reader::new(bytes))
}

fn full_request() -> NodeRequest {
    let mut variables = Map::new();
    variables.insert("count".into(), json!(3));
    let mut credentials = Map::new();
    credentials.insert("smtp".into(), json!({"password": "s3cret"}));
    let mut config = Map::new();
    config.insert("allow".into(), json!(["127.0.0.1"]));
    NodeRequest {
        node_type: "math.add".into(),
        node_id: "add-1".into(),
        parameters: json!({"values": [1, -2, 2.5, u64::MAX], "label": "é\u{1F600}"}),
        input: json!({"result": null, "ok": true, "no": false}),
        trigger: json!({"body": {"x": 1}}),
        deadline_ms: Some(1_765_000_000_000),
        max_output_bytes: Some(1024),
        context: ExecContext {
            tenant_id: Some("acme".into()),
            user: json!({"id": "u1"}),
            execution_id: "exec-1".into(),
            resumable: true,
        },
        variables,
        credentials,
        config,
    }
}

fn request_frame(request: &NodeRequest) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_request(&RequestParts::of(request), &mut frame);
    frame
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_value_round_trips(value in json_value()) {
        prop_assert_eq!(decoded(&encoded(&value)).unwrap(), value);
    }

    #[test]
    fn decoding_into_a_value_of_another_shape_gives_the_new_value(
        held in json_value(),
        value in json_value(),
    ) {
        let mut into = held;
        decode_value_into(&mut into, &mut Reader::new(&encoded(&value))).unwrap();
        prop_assert_eq!(into, value);
    }

    #[test]
    fn arbitrary_bytes_never_panic_as_a_request(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut into = NodeRequest::default();
        let _ = decode_request_into(&bytes, &mut into);
    }

    #[test]
    fn arbitrary_bytes_never_panic_as_an_output(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_output(&bytes);
    }
}

#[test]
fn a_full_request_round_trips() {
    let request = full_request();
    let mut into = NodeRequest::default();
    decode_request_into(&request_frame(&request), &mut into).unwrap();
    assert_eq!(into, request);
}

#[test]
fn fields_a_frame_lacks_are_reset_in_the_reused_request() {
    let mut into = full_request();
    let bare = NodeRequest {
        node_type: "noop".into(),
        ..NodeRequest::default()
    };
    decode_request_into(&request_frame(&bare), &mut into).unwrap();
    assert_eq!(into, bare);
}

#[test]
fn a_full_output_round_trips() {
    let mut set = Map::new();
    set.insert("total".into(), json!(10.5));
    let output = NodeOutput {
        output: json!({"result": [1, "two", {"three": 3}]}),
        output_index: Some(1),
        variables: VariablesPatch {
            clear: true,
            delete: vec!["old".into()],
            set,
        },
    };
    let mut frame = Vec::new();
    encode_output(&output, &mut frame);
    assert_eq!(decode_output(&frame).unwrap(), output);
}

#[test]
fn every_truncation_of_a_request_frame_is_an_error() {
    let frame = request_frame(&full_request());
    for end in 0..frame.len() {
        let mut into = NodeRequest::default();
        assert!(
            decode_request_into(&frame[..end], &mut into).is_err(),
            "a frame cut at {end} of {} bytes was accepted",
            frame.len()
        );
    }
}

#[test]
fn a_frame_of_another_version_is_refused() {
    let mut frame = request_frame(&full_request());
    frame[0] = WIRE_VERSION + 1;
    let err = decode_request_into(&frame, &mut NodeRequest::default()).unwrap_err();
    assert_eq!(err, WireError::Version(WIRE_VERSION + 1));
}

#[test]
fn nesting_past_the_depth_limit_is_refused() {
    let mut bytes = [7u8, 1].repeat(MAX_DEPTH as usize + 1);
    bytes.push(0);
    assert_eq!(decoded(&bytes).unwrap_err(), WireError::TooDeep);
}

#[test]
fn nesting_at_the_depth_limit_is_accepted() {
    let mut bytes = [7u8, 1].repeat(MAX_DEPTH as usize);
    bytes.push(0);
    assert!(decoded(&bytes).is_ok());
}

#[test]
fn a_string_that_is_not_utf8_is_refused() {
    assert_eq!(
        decoded(&[6, 2, 0xff, 0xfe]).unwrap_err(),
        WireError::NotUtf8
    );
}

#[test]
fn a_count_larger_than_the_frame_is_refused_before_allocating() {
    // An array claiming 2^62 items in a 10-byte value.
    let mut bytes = vec![7u8];
    put_varint(1 << 62, &mut bytes);
    assert_eq!(decoded(&bytes).unwrap_err(), WireError::BadLength);
}

#[test]
fn a_varint_longer_than_ten_bytes_is_refused() {
    let bytes = [
        3u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(decoded(&bytes).unwrap_err(), WireError::BadLength);
}

#[test]
fn a_float_that_is_not_finite_is_refused() {
    let mut bytes = vec![5u8];
    bytes.extend_from_slice(&f64::NAN.to_le_bytes());
    assert_eq!(decoded(&bytes).unwrap_err(), WireError::NotFinite);
}

#[test]
fn an_unknown_value_tag_is_refused() {
    assert_eq!(decoded(&[42]).unwrap_err(), WireError::UnknownTag(42));
}

#[test]
fn a_field_from_a_newer_writer_is_skipped() {
    let request = full_request();
    let mut frame = request_frame(&request);
    let end = frame.pop();
    assert_eq!(end, Some(0));
    frame.extend_from_slice(&[200, 3, 0, 0, 0, 1, 2, 3, 0]);
    let mut into = NodeRequest::default();
    decode_request_into(&frame, &mut into).unwrap();
    assert_eq!(into, request);
}

#[test]
fn integers_keep_their_kind_and_floats_stay_floats() {
    for value in [json!(-1), json!(u64::MAX), json!(1.0), json!(i64::MIN)] {
        let back = decoded(&encoded(&value)).unwrap();
        assert_eq!(back.to_string(), value.to_string());
    }
}

proptest! {
    #[test]
    fn the_json_size_bound_never_exceeds_the_json_text(value in json_value()) {
        let output = NodeOutput::new(value);
        let mut frame = Vec::new();
        encode_output(&output, &mut frame);
        let bound = output_json_size_at_least(&frame).unwrap();
        let text = serde_json::to_string(&output.output).unwrap();
        prop_assert!(bound <= text.len(), "{} > {} for {}", bound, text.len(), text);
    }
}

#[test]
fn the_json_size_bound_of_a_long_string_is_its_length() {
    let output = NodeOutput::new(json!("x".repeat(1000)));
    let mut frame = Vec::new();
    encode_output(&output, &mut frame);
    assert_eq!(output_json_size_at_least(&frame).unwrap(), 1002);
}
