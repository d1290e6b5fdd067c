//! Open Inference Protocol requests for table models: one input tensor per column, named as
//! the model's signature names it (shape `[rows]` or `[rows, 1]`; `BYTES` for text, any
//! numeric datatype for numbers), turned into the named instances REST predict reads. An
//! empty string or a NaN is a missing value.

use crate::error::{ServiceError, ServiceResult};
use serde_json::{Map, Value};
use slipway_api::InferRequest;
use slipway_api::oip::TensorData;

/// The rows of a per-column request as named instances. `binary` holds each input's binary
/// data (none for an input given as JSON `data`).
pub(super) fn column_instances(
    request: &InferRequest,
    binary: &[Option<TensorData>],
) -> ServiceResult<Vec<Value>> {
    let mut rows: Option<(usize, String)> = None;
    let mut instances: Vec<Map<String, Value>> = Vec::new();
    for (index, input) in request.inputs.iter().enumerate() {
        let place = format!("inputs[{index}]");
        let count = match input.shape.as_slice() {
            [rows] | [rows, 1] => usize::try_from(*rows).ok(),
            _ => None,
        }
        .ok_or_else(|| {
            ServiceError::invalid(format!(
                "{place}.shape: expected [rows] or [rows, 1] (one tensor per column), got {:?}",
                input.shape
            ))
        })?;
        let data = match binary.get(index).and_then(Option::as_ref) {
            Some(data) => data.clone(),
            None => TensorData::from_json(&input.datatype, &input.data, &place)
                .map_err(|err| ServiceError::invalid(err.to_string()))?,
        };
        let values: Vec<Value> = match &data {
            TensorData::Bytes(items) => items
                .iter()
                .map(|bytes| match std::str::from_utf8(bytes) {
                    Ok("") => Ok(Value::Null),
                    Ok(text) => Ok(Value::from(text)),
                    Err(_) => Err(ServiceError::invalid(format!(
                        "{place}.data: expected UTF-8 text for column '{}'",
                        input.name
                    ))),
                })
                .collect::<ServiceResult<_>>()?,
            numbers => numbers
                .to_f64()
                .unwrap_or_default()
                .into_iter()
                .map(|v| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
                .collect(),
        };
        if values.len() != count {
            return Err(ServiceError::invalid(format!(
                "{place}.data: {} values do not fill shape {:?}",
                values.len(),
                input.shape
            )));
        }
        match &rows {
            Some((expected, first)) if *expected != count => {
                return Err(ServiceError::invalid(format!(
                    "{place}.shape: {count} rows for column '{}', but '{first}' has {expected}; every column needs one value per row",
                    input.name
                )));
            }
            Some(_) => {}
            None => {
                rows = Some((count, input.name.clone()));
                instances = vec![Map::new(); count];
            }
        }
        for (instance, value) in instances.iter_mut().zip(values) {
            instance.insert(input.name.clone(), value);
        }
    }
    Ok(instances.into_iter().map(Value::Object).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::InferTensor;

    fn tensor(name: &str, datatype: &str, shape: Vec<i64>, data: Value) -> InferTensor {
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
            id: None,
            inputs,
            parameters: None,
            outputs: None,
        }
    }

    #[test]
    fn columns_become_named_rows_with_empty_text_missing() {
        let rows = column_instances(
            &request(vec![
                tensor(
                    "island",
                    "BYTES",
                    vec![2, 1],
                    serde_json::json!(["Biscoe", "Dream"]),
                ),
                tensor("sex", "BYTES", vec![2], serde_json::json!(["", "male"])),
                tensor("mass", "FP32", vec![2], serde_json::json!([3750.0, 4000.0])),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            rows,
            [
                serde_json::json!({"island": "Biscoe", "sex": null, "mass": 3750.0}),
                serde_json::json!({"island": "Dream", "sex": "male", "mass": 4000.0}),
            ]
        );
    }

    #[test]
    fn uneven_or_matrix_columns_are_refused_by_name() {
        let err = column_instances(
            &request(vec![
                tensor(
                    "island",
                    "BYTES",
                    vec![2],
                    serde_json::json!(["Biscoe", "Dream"]),
                ),
                tensor("mass", "FP64", vec![1], serde_json::json!([1.0])),
            ]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("1 rows for column 'mass', but 'island' has 2"),
            "{err}"
        );
        let err = column_instances(
            &request(vec![tensor(
                "x",
                "FP32",
                vec![2, 3],
                serde_json::json!([0, 0, 0, 0, 0, 0]),
            )]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("inputs[0].shape: expected [rows] or [rows, 1]"),
            "{err}"
        );
    }
}
