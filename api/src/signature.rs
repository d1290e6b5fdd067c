//! An ONNX model's signature file: the input columns in the order the graph reads them, and
//! optionally its labels, task and output. `slipway models import --signature` reads it, and so
//! does a command job that registers an `.onnx` file (from `<stem>.signature.json` beside it),
//! so both name a model's inputs the same way.

use crate::ImportModel;
use serde::Deserialize;

/// The file: `{"inputs": ["age", {"name": "tenure", "type": "numeric"}], "labels": [...],
/// "task": "classification", "output_kind": "logits"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    inputs: Vec<SignatureInput>,
    #[serde(default)]
    labels: Vec<String>,
    task: Option<String>,
    output_kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SignatureInput {
    Name(String),
    Column {
        name: String,
        #[serde(rename = "type", default)]
        column_type: Option<String>,
    },
}

/// Fills the import's columns (and its labels, task and output where the request leaves them
/// out) from a signature's JSON text, refusing non-numeric inputs by name. Errors name the
/// part of the file that is wrong.
pub fn apply_signature(text: &str, request: &mut ImportModel) -> Result<(), String> {
    let file: SignatureFile =
        serde_json::from_str(text).map_err(|err| format!("not a signature: {err}"))?;
    let mut names = Vec::with_capacity(file.inputs.len());
    for (index, input) in file.inputs.into_iter().enumerate() {
        let name = match input {
            SignatureInput::Name(name) => name,
            SignatureInput::Column { name, column_type } => {
                if let Some(kind) = column_type.filter(|k| k != "numeric") {
                    return Err(format!(
                        "inputs[{index}] ('{name}') is {kind}; an ONNX model reads numbers, so every input must be numeric"
                    ));
                }
                name
            }
        };
        if name.contains(',') {
            return Err(format!(
                "inputs[{index}]: a column name cannot hold a comma"
            ));
        }
        names.push(name);
    }
    request.features = Some(names.join(","));
    if !file.labels.is_empty() && request.labels.is_none() {
        request.labels = Some(file.labels.join(","));
    }
    request.task = request.task.take().or(file.task);
    request.output_kind = request.output_kind.take().or(file.output_kind);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_fills_the_request_and_refuses_text_inputs() {
        let mut request = ImportModel::default();
        apply_signature(
            r#"{"inputs": ["a", {"name": "b", "type": "numeric"}], "labels": ["no", "yes"]}"#,
            &mut request,
        )
        .unwrap();
        assert_eq!(request.features.as_deref(), Some("a,b"));
        assert_eq!(request.labels.as_deref(), Some("no,yes"));
        let err = apply_signature(
            r#"{"inputs": [{"name": "c", "type": "text"}]}"#,
            &mut request,
        )
        .unwrap_err();
        assert!(err.starts_with("inputs[0] ('c') is text"), "{err}");
        let err = apply_signature("{}", &mut request).unwrap_err();
        assert!(err.starts_with("not a signature"), "{err}");
    }
}
