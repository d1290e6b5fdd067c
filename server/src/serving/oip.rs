//! The Open Inference Protocol (v2) on top of predictions: model metadata and readiness per
//! deployment or per served version, and `infer` — one numeric input tensor of shape
//! `[rows, features]` (or `[features]`), given as JSON or as binary data, answered with
//! `label` and `probabilities` (or `value`), only the outputs asked for, the request id
//! echoed. Table models read one tensor per column instead (see [`super::oip_columns`]). How
//! tensors travel (JSON or binary) is the HTTP layer's concern.

use super::predict::{Route, number};
use super::{Live, Serving};
use crate::error::{ServiceError, ServiceResult};
use serde_json::{Value, json};
use slipway_api::oip::TensorData;
use slipway_api::{
    InferRequest, InferResponse, InferTensor, ModelMetadata, PredictResponse, Prediction,
    TensorMetadata,
};
use std::sync::Arc;

/// The datatypes a model input may be given in (all read as numbers).
const NUMERIC: &[&str] = &[
    "FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
    "UINT64",
];

impl Serving {
    /// The loaded revision of `name`, and the version asked for when it serves it (404
    /// otherwise, naming what it serves).
    async fn live_version(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> ServiceResult<(Arc<Live>, Option<u32>)> {
        let live = self.serving(name).await?;
        if let Some(version) = version
            && live.variant(version).is_none()
        {
            return Err(ServiceError::NotFound(format!(
                "deployment '{name}' does not serve version {version}; it serves {}",
                live.describe_versions()
            )));
        }
        Ok((live, version))
    }

    /// The inputs and outputs of deployment `name`, or of one version it serves.
    pub async fn model_metadata(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> ServiceResult<ModelMetadata> {
        let (live, version) = self.live_version(name, version).await?;
        let (served, versions) = match version.and_then(|v| live.variant(v)) {
            Some((served, _)) => (served, vec![served.version.to_string()]),
            None => (
                &live.primary,
                live.versions()
                    .iter()
                    .map(|(served, _)| served.version.to_string())
                    .collect(),
            ),
        };
        let manifest = served.engine.manifest();
        let tensor = |name: &str, datatype: &str, shape: Vec<i64>| TensorMetadata {
            name: name.to_owned(),
            datatype: datatype.to_owned(),
            shape,
            parameters: None,
        };
        let mut outputs = if manifest.task == "regression" {
            vec![tensor("value", "FP64", vec![-1])]
        } else {
            vec![
                tensor("label", "BYTES", vec![-1]),
                tensor(
                    "probabilities",
                    "FP64",
                    vec![-1, manifest.labels.len() as i64],
                ),
            ]
        };
        if let Some(onnx) = &manifest.onnx {
            // Which graph output the served tensors come from, and what it held.
            for output in outputs.iter_mut().filter(|o| o.name != "label") {
                output.parameters = Some(json!({
                    "onnx_output": onnx.output,
                    "onnx_output_kind": onnx.output_kind,
                }));
            }
        }
        Ok(ModelMetadata {
            name: name.to_owned(),
            versions,
            platform: "slipway".to_owned(),
            inputs: if manifest.preprocessing.is_some() {
                // A table model: one column per input, as Triton's clients name them.
                manifest
                    .input_signature()
                    .iter()
                    .map(|column| TensorMetadata {
                        parameters: Some(json!({
                            "type": column.column_type.as_str(),
                            "categories": column.categories,
                            "missing_allowed": column.missing_allowed,
                        })),
                        ..tensor(&column.name, column.datatype(), vec![-1, 1])
                    })
                    .collect()
            } else if let Some(onnx) = &manifest.onnx {
                // An imported graph: its own input tensor, which takes the rows flat and is
                // reshaped to the graph's shape.
                vec![TensorMetadata {
                    parameters: Some(json!({
                        "features": manifest.features,
                        "onnx_shape": onnx.input_shape,
                    })),
                    ..tensor(
                        &onnx.input,
                        "FP32",
                        vec![-1, manifest.features.len() as i64],
                    )
                }]
            } else {
                vec![TensorMetadata {
                    parameters: Some(json!({ "features": manifest.features })),
                    ..tensor("input-0", "FP32", vec![-1, manifest.features.len() as i64])
                }]
            },
            outputs,
        })
    }

    /// Whether deployment `name` (or the version asked for) answers now; why not otherwise.
    pub async fn model_ready(&self, name: &str, version: Option<u32>) -> ServiceResult<()> {
        self.live_version(name, version).await.map(|_| ())
    }

    /// Answers an OIP request from the deployment's routing, or from `version`. `binary`
    /// holds the binary data of each input (none for an input given as JSON `data`).
    pub async fn infer(
        &self,
        name: &str,
        version: Option<u32>,
        request: &InferRequest,
        binary: &[Option<TensorData>],
        caller: &str,
    ) -> ServiceResult<InferResponse> {
        // Every shape is checked before anything is looked up: a malformed request is the
        // caller's mistake (400) whether or not the model exists.
        for (index, input) in request.inputs.iter().enumerate() {
            slipway_api::oip::element_count(&input.shape, &format!("inputs[{index}]"))
                .map_err(|err| ServiceError::invalid(err.to_string()))?;
        }
        // A table model reads one tensor per column, checked against the version that sets
        // the contract (the one named, or the primary).
        let (live, _) = self.live_version(name, version).await?;
        let contract = version
            .and_then(|v| live.variant(v))
            .map_or(&live.primary, |(served, _)| served);
        if contract.engine.manifest().preprocessing.is_some() {
            let instances = super::oip_columns::column_instances(request, binary)?;
            let route = version.map_or(Route::Routed(None), Route::Version);
            let answer = self.predict_on(name, route, &instances, caller).await?;
            let mut response = infer_response(name, request.id.clone(), answer);
            if let Some(requested) = &request.outputs {
                response.outputs = pick_outputs(std::mem::take(&mut response.outputs), requested)?;
            }
            return Ok(response);
        }
        let [input] = request.inputs.as_slice() else {
            return Err(ServiceError::invalid(format!(
                "inputs: expected exactly one input tensor, got {}",
                request.inputs.len()
            )));
        };
        if !NUMERIC.contains(&input.datatype.as_str()) {
            return Err(ServiceError::invalid(format!(
                "inputs[0].datatype: expected a numeric type such as FP32, got '{}'",
                input.datatype
            )));
        }
        let (width, expected) = infer_shape(&input.shape)?;
        // The width is checked against the contract's version, so the message speaks of the
        // tensor the caller sent.
        let features = contract.engine.features().len();
        if width != features {
            return Err(ServiceError::invalid(format!(
                "inputs[0].shape: expected [rows, {features}] (one value per feature of version {}), got {:?}",
                contract.version, input.shape
            )));
        }
        let values = match binary.first().and_then(Option::as_ref) {
            Some(data) => binary_values(data)?,
            None if input.data.is_null() => {
                return Err(ServiceError::invalid(
                    "inputs[0].data: missing; send data or parameters.binary_data_size",
                ));
            }
            None => flatten(&input.data)?,
        };
        if values.len() != expected {
            return Err(ServiceError::invalid(format!(
                "inputs[0].data: {} values do not fill shape {:?}",
                values.len(),
                input.shape
            )));
        }
        let instances: Vec<Value> = values
            .chunks(width.max(1))
            .map(|row| Value::Array(row.iter().map(|v| Value::from(*v)).collect()))
            .collect();
        let route = version.map_or(Route::Routed(None), Route::Version);
        let answer = self.predict_on(name, route, &instances, caller).await?;
        let mut response = infer_response(name, request.id.clone(), answer);
        if let Some(requested) = &request.outputs {
            response.outputs = pick_outputs(std::mem::take(&mut response.outputs), requested)?;
        }
        Ok(response)
    }
}

/// The outputs asked for, in the order asked; an unknown name is an error naming it.
fn pick_outputs(
    mut outputs: Vec<InferTensor>,
    requested: &[slipway_api::RequestedOutput],
) -> ServiceResult<Vec<InferTensor>> {
    let known: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
    let mut picked = Vec::with_capacity(requested.len());
    for (index, wanted) in requested.iter().enumerate() {
        let Some(position) = outputs.iter().position(|o| o.name == wanted.name) else {
            return Err(ServiceError::invalid(format!(
                "outputs[{index}].name: this model has no output '{}'; it has {}",
                wanted.name,
                known.join(", ")
            )));
        };
        picked.push(outputs.swap_remove(position));
    }
    Ok(picked)
}

/// The numbers of a binary input: finite and within the range models compute in.
fn binary_values(data: &TensorData) -> ServiceResult<Vec<f64>> {
    let values = data.to_f64().ok_or_else(|| {
        ServiceError::invalid(format!(
            "inputs[0].datatype: expected a numeric type such as FP32, got '{}'",
            data.datatype()
        ))
    })?;
    if let Some((index, value)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || v.abs() > f64::from(f32::MAX))
    {
        return Err(ServiceError::invalid(format!(
            "inputs[0]: element {index} is {value}; expected a finite number within ±3.4e38"
        )));
    }
    Ok(values)
}

/// The row width and value count of an OIP input shape, `[rows, features]` or `[features]`.
/// The product is checked: one that wraps (2^62 × 4 is 0 in i64) must not pass for the
/// data's length.
fn infer_shape(shape: &[i64]) -> ServiceResult<(usize, usize)> {
    let (rows, width) = match shape {
        [width] => (1, *width),
        [rows, width] => (*rows, *width),
        _ => {
            return Err(ServiceError::invalid(format!(
                "inputs[0].shape: expected [rows, features], got {shape:?}"
            )));
        }
    };
    let (Ok(rows), Ok(width)) = (usize::try_from(rows), usize::try_from(width)) else {
        return Err(ServiceError::invalid(format!(
            "inputs[0].shape: expected sizes of 0 or more, got {shape:?}"
        )));
    };
    let expected = rows.checked_mul(width).ok_or_else(|| {
        ServiceError::invalid(format!(
            "inputs[0].shape: {shape:?} holds more values than can be addressed"
        ))
    })?;
    Ok((width, expected))
}

fn flatten(data: &Value) -> ServiceResult<Vec<f64>> {
    let mut values = Vec::new();
    let mut stack = vec![data];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => values.push(number(other, || "inputs[0].data".to_owned())?),
        }
    }
    Ok(values)
}

fn infer_response(name: &str, id: Option<String>, answer: PredictResponse) -> InferResponse {
    let rows = answer.predictions.len() as i64;
    let mut labels = Vec::new();
    let mut probabilities = Vec::new();
    let mut values = Vec::new();
    let mut classes = 0;
    for prediction in &answer.predictions {
        match prediction {
            Prediction::Class {
                label,
                probabilities: p,
            } => {
                labels.push(Value::from(label.to_string()));
                classes = p.len() as i64;
                probabilities.extend(p.values().map(|v| Value::from(*v)));
            }
            Prediction::Value(value) => values.push(Value::from(*value)),
        }
    }
    let tensor = |name: &str, shape: Vec<i64>, datatype: &str, data: Vec<Value>| InferTensor {
        name: name.into(),
        shape,
        datatype: datatype.into(),
        data: Value::Array(data),
        parameters: None,
    };
    let outputs = if values.is_empty() {
        vec![
            tensor("label", vec![rows], "BYTES", labels),
            tensor("probabilities", vec![rows, classes], "FP64", probabilities),
        ]
    } else {
        vec![tensor("value", vec![rows], "FP64", values)]
    };
    InferResponse {
        model_name: name.to_owned(),
        model_version: answer.model_version.to_string(),
        id,
        outputs,
        parameters: Some(json!({
            "deployment_revision": answer.deployment_revision,
            "variant": answer.variant,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oip_shape_product_overflow_is_refused() {
        // 2^62 × 4 wraps to 0 in i64, which an empty data array would have matched.
        assert_eq!((1i64 << 62).wrapping_mul(4), 0);
        let err = infer_shape(&[1 << 62, 4]).unwrap_err().to_string();
        assert!(err.starts_with("inputs[0].shape:"), "{err}");
        assert!(infer_shape(&[-1, 4]).is_err());
        assert!(infer_shape(&[i64::MAX, i64::MAX]).is_err());
        assert_eq!(infer_shape(&[2, 64]).unwrap(), (64, 128));
        assert_eq!(infer_shape(&[64]).unwrap(), (64, 64));
    }

    #[test]
    fn nested_data_is_read_row_major() {
        assert_eq!(
            flatten(&json!([[1, 2], [3, 4]])).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn binary_values_must_be_finite() {
        let err = binary_values(&TensorData::Fp32(vec![1.0, f32::NAN]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "inputs[0]: element 1 is NaN; expected a finite number within ±3.4e38"
        );
        let err = binary_values(&TensorData::Fp64(vec![1e300])).unwrap_err();
        assert!(err.to_string().starts_with("inputs[0]: element 0"), "{err}");
        assert_eq!(
            binary_values(&TensorData::Int64(vec![3, -2])).unwrap(),
            vec![3.0, -2.0]
        );
    }

    #[test]
    fn requested_outputs_are_picked_in_order_and_unknown_ones_named() {
        let tensor = |name: &str| InferTensor {
            name: name.into(),
            shape: vec![1],
            datatype: "FP64".into(),
            data: json!([1.0]),
            parameters: None,
        };
        let wanted = |name: &str| slipway_api::RequestedOutput {
            name: name.into(),
            parameters: None,
        };
        let picked = pick_outputs(
            vec![tensor("label"), tensor("probabilities")],
            &[wanted("probabilities")],
        )
        .unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "probabilities");
        let err = pick_outputs(vec![tensor("label")], &[wanted("scores")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "outputs[0].name: this model has no output 'scores'; it has label"
        );
    }
}
