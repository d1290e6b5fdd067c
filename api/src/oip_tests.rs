//! The binary tensor codec: round trips of every datatype, and every size mismatch refused
//! with a message naming the tensor.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use super::*;
use crate::predict::RequestedOutput;
use serde_json::json;

fn tensor(name: &str, shape: Vec<i64>, datatype: &str, data: Value) -> InferTensor {
    InferTensor {
        name: name.into(),
        shape,
        datatype: datatype.into(),
        data,
        parameters: None,
    }
}

fn request(inputs: Vec<InferTensor>) -> InferRequest {
    InferRequest {
        id: Some("r1".into()),
        inputs,
        parameters: None,
        outputs: None,
    }
}

#[test]
fn every_datatype_round_trips_through_binary() {
    let inputs = vec![
        tensor("a", vec![2, 2], "FP32", json!([[1.5, -2.0], [3.25, 0.0]])),
        tensor("b", vec![3], "FP64", json!([1e300, -0.5, 2.0])),
        tensor("c", vec![2], "INT32", json!([i32::MIN, i32::MAX])),
        tensor("d", vec![2], "INT64", json!([i64::MIN, 7])),
        tensor("e", vec![3], "BYTES", json!(["cat", "", "ünï"])),
    ];
    let (body, length) = encode_request(request(inputs.clone()), true).unwrap();
    let length = length.unwrap().to_string();
    let (decoded, binary) = decode_request(&body, Some(&length)).unwrap();
    assert_eq!(decoded.id.as_deref(), Some("r1"));
    assert!(decoded.inputs.iter().all(|input| input.data.is_null()));
    assert_eq!(
        binary,
        vec![
            Some(TensorData::Fp32(vec![1.5, -2.0, 3.25, 0.0])),
            Some(TensorData::Fp64(vec![1e300, -0.5, 2.0])),
            Some(TensorData::Int32(vec![i32::MIN, i32::MAX])),
            Some(TensorData::Int64(vec![i64::MIN, 7])),
            Some(TensorData::Bytes(vec![
                b"cat".to_vec(),
                Vec::new(),
                "ünï".as_bytes().to_vec()
            ])),
        ]
    );
    let sizes: Vec<u64> = decoded
        .inputs
        .iter()
        .map(|input| {
            input.parameters.as_ref().unwrap()[BINARY_DATA_SIZE]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        sizes,
        vec![16, 24, 8, 16, (4 + 3) + 4 + (4 + "ünï".len() as u64)]
    );
}

#[test]
fn bytes_elements_are_length_prefixed_little_endian() {
    let data = TensorData::Bytes(vec![b"ab".to_vec(), b"c".to_vec()]);
    assert_eq!(
        data.to_le_bytes(),
        vec![2, 0, 0, 0, b'a', b'b', 1, 0, 0, 0, b'c']
    );
    assert_eq!(TensorData::Int32(vec![1]).to_le_bytes(), vec![1, 0, 0, 0]);
}

#[test]
fn a_request_without_binary_data_is_plain_json() {
    let inputs = vec![tensor("a", vec![1, 2], "FP32", json!([1.0, 2.0]))];
    let (body, length) = encode_request(request(inputs), false).unwrap();
    assert_eq!(length, None);
    let (decoded, binary) = decode_request(&body, None).unwrap();
    assert_eq!(binary, vec![None]);
    assert_eq!(decoded.inputs[0].data, json!([1.0, 2.0]));
}

#[test]
fn responses_round_trip_with_chosen_binary_outputs() {
    let response = InferResponse {
        model_name: "digits".into(),
        model_version: "1".into(),
        id: Some("x".into()),
        outputs: vec![
            tensor("label", vec![2], "BYTES", json!(["3", "7"])),
            tensor(
                "probabilities",
                vec![2, 2],
                "FP64",
                json!([0.25, 0.75, 1.0, 0.0]),
            ),
        ],
        parameters: None,
    };
    let (body, length) = encode_response(response.clone(), |t| t.name == "label").unwrap();
    let length = length.unwrap();
    let header: Value = serde_json::from_slice(&body[..length]).unwrap();
    assert_eq!(header["outputs"][0]["parameters"][BINARY_DATA_SIZE], 10);
    assert!(header["outputs"][0].get("data").is_none(), "{header}");
    assert_eq!(header["outputs"][1]["data"], json!([0.25, 0.75, 1.0, 0.0]));
    let decoded = decode_response(&body, Some(&length.to_string())).unwrap();
    assert_eq!(decoded.outputs[0].data, json!(["3", "7"]));
    assert_eq!(decoded.outputs[1], response.outputs[1]);
    let (json_only, none) = encode_response(response.clone(), |_| false).unwrap();
    assert_eq!(none, None);
    assert_eq!(decode_response(&json_only, None).unwrap(), response);
}

fn binary_input(shape: Vec<i64>, datatype: &str, size: Value) -> InferTensor {
    InferTensor {
        parameters: Some(json!({ BINARY_DATA_SIZE: size })),
        ..tensor("input-0", shape, datatype, Value::Null)
    }
}

/// A body of `inputs` as the JSON header followed by `tail`.
fn body_of(inputs: Vec<InferTensor>, tail: &[u8]) -> (Vec<u8>, String) {
    let mut body = serde_json::to_vec(&request(inputs)).unwrap();
    let length = body.len().to_string();
    body.extend_from_slice(tail);
    (body, length)
}

fn refusal(inputs: Vec<InferTensor>, tail: &[u8]) -> String {
    let (body, length) = body_of(inputs, tail);
    decode_request(&body, Some(&length))
        .unwrap_err()
        .to_string()
}

#[test]
fn sizes_that_do_not_match_the_shape_are_refused() {
    let err = refusal(vec![binary_input(vec![2, 2], "FP32", json!(12))], &[0; 12]);
    assert_eq!(
        err,
        "inputs[0].parameters.binary_data_size: 4 FP32 values take 16 bytes, got 12"
    );
    let err = refusal(vec![binary_input(vec![2], "INT64", json!(16))], &[0; 8]);
    assert!(
        err.starts_with("inputs[0].parameters.binary_data_size: 16 bytes, but only 8 bytes"),
        "{err}"
    );
    let err = refusal(vec![binary_input(vec![1], "FP64", json!(8))], &[0; 12]);
    assert_eq!(
        err,
        "the body has 12 bytes after the JSON header, but the binary_data_size of the inputs add up to 8"
    );
    let err = refusal(vec![binary_input(vec![1], "FP32", json!(-4))], &[0; 4]);
    assert_eq!(
        err,
        "inputs[0].parameters.binary_data_size: expected a byte count, got -4"
    );
    let err = refusal(vec![binary_input(vec![1], "FP16", json!(2))], &[0; 2]);
    assert_eq!(
        err,
        "inputs[0].datatype: binary data is supported for FP32, FP64, INT32, INT64 and BYTES, got 'FP16'"
    );
    let err = refusal(vec![binary_input(vec![1 << 62, 4], "FP32", json!(0))], &[]);
    assert!(err.starts_with("inputs[0].shape:"), "{err}");
    let mut both = binary_input(vec![1], "FP32", json!(4));
    both.data = json!([1.0]);
    assert_eq!(
        refusal(vec![both], &[0; 4]),
        "inputs[0]: has both data and parameters.binary_data_size; send one of them"
    );
}

#[test]
fn bad_bytes_elements_are_refused() {
    let err = refusal(
        vec![binary_input(vec![1], "BYTES", json!(6))],
        &[9, 0, 0, 0, b'a', b'b'],
    );
    assert_eq!(
        err,
        "inputs[0]: BYTES element 0 declares 9 bytes, but only 2 remain of its binary_data_size"
    );
    let err = refusal(
        vec![binary_input(vec![2], "BYTES", json!(5))],
        &[1, 0, 0, 0, b'a'],
    );
    assert_eq!(
        err,
        "inputs[0]: its shape holds 2 BYTES elements, but its binary data holds 1"
    );
    let err = refusal(vec![binary_input(vec![1], "BYTES", json!(2))], &[1, 0]);
    assert_eq!(
        err,
        "inputs[0]: BYTES element 0 has a cut length prefix (2 of 4 bytes)"
    );
}

#[test]
fn the_header_length_must_fit_the_body() {
    let (body, _) = body_of(vec![], &[]);
    let err = decode_request(&body, Some("100000"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "Inference-Header-Content-Length: 100000 is longer than the body of {} bytes",
            body.len()
        )
    );
    let err = decode_request(&body, Some("ten")).unwrap_err().to_string();
    assert!(
        err.contains("expected the JSON header's length in bytes, got 'ten'"),
        "{err}"
    );
    let err = decode_request(b"{\"inputs\": [", None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("malformed JSON:"), "{err}");
    let err = decode_request(b"{\"inputs\": 3}", None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("invalid request body:"), "{err}");
}

#[test]
fn binary_outputs_follow_the_output_then_the_request() {
    let mut req = request(vec![]);
    assert!(!BinaryOutputs::of(&req).unwrap().is_binary("label"));
    req.parameters = Some(json!({ "binary_data_output": true }));
    req.outputs = Some(vec![RequestedOutput {
        name: "label".into(),
        parameters: Some(json!({ "binary_data": false })),
    }]);
    let choice = BinaryOutputs::of(&req).unwrap();
    assert!(!choice.is_binary("label"));
    assert!(choice.is_binary("probabilities"));
    req.parameters = Some(json!({ "binary_data_output": "yes" }));
    assert_eq!(
        BinaryOutputs::of(&req).unwrap_err().to_string(),
        "parameters.binary_data_output: expected true or false, got \"yes\""
    );
}
