//! A model's input signature: the columns `predict` reads by name, their types, the
//! categories seen in training and whether a missing value is accepted. It is derived from
//! the preprocessing stored in `model.json` (for an all-numeric model: its feature names, each
//! a number that must be given). Named instances (JSON objects keyed by column) are checked
//! against it here and turned into the cells preprocessing reads, so every caller names the
//! same `instances[i].column` on bad input.

use crate::inference::{Engine, InferenceError};
use crate::model::ModelManifest;
use crate::preprocess::ColumnKind;
use serde_json::{Map, Value};
use slipway_api::{ColumnType, InputColumn};

impl ModelManifest {
    /// The input signature, in the model's feature order: the one stored in `model.json`, or
    /// (models trained before signatures) the one its preprocessing implies.
    pub fn input_signature(&self) -> Vec<InputColumn> {
        if !self.signature.is_empty() {
            return self.signature.clone();
        }
        self.derive_signature()
    }

    /// The signature implied by the stored preprocessing, or by the feature names.
    pub fn derive_signature(&self) -> Vec<InputColumn> {
        let Some(preprocessing) = &self.preprocessing else {
            return self
                .features
                .iter()
                .map(|name| InputColumn {
                    name: name.clone(),
                    column_type: ColumnType::Numeric,
                    categories: Vec::new(),
                    missing_allowed: false,
                })
                .collect();
        };
        preprocessing
            .columns
            .iter()
            .map(|column| {
                let (column_type, categories) = match &column.kind {
                    ColumnKind::Numeric { .. } => (ColumnType::Numeric, Vec::new()),
                    ColumnKind::Boolean { .. } => (ColumnType::Boolean, Vec::new()),
                    ColumnKind::Datetime { .. } => (ColumnType::Datetime, Vec::new()),
                    ColumnKind::Categorical { levels } => (ColumnType::Categorical, levels.clone()),
                };
                InputColumn {
                    name: column.name.clone(),
                    column_type,
                    categories,
                    // Preprocessing fills any missing cell as training did (median, majority,
                    // no category), with the indicator set where training saw missing cells.
                    missing_allowed: true,
                }
            })
            .collect()
    }
}

/// Named instances read for a preprocessed model.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRows {
    /// The network's standardised input, as [`Engine::encode`] makes it.
    pub flat: Vec<f32>,
    /// Each row's numeric columns in feature order, NaN where a cell is missing or not a
    /// number (what monitoring can compare with the training data).
    pub numbers: Vec<Vec<f64>>,
    /// Each row's cells in feature order as preprocessing read them, empty where missing:
    /// what monitoring counts categories and missing values from.
    pub cells: Vec<Vec<String>>,
    /// Columns some instance gave that the model does not read, each once, in first-seen
    /// order.
    pub ignored: Vec<String>,
}

/// The text cell preprocessing reads for `value` in `column` (empty when missing: `null`, or a
/// string that is one of the dataset's missing `tokens`), or why `value` is refused.
fn cell(column: &InputColumn, value: &Value, tokens: Option<&[String]>) -> Result<String, String> {
    let kind = column.column_type.as_str();
    match (column.column_type, value) {
        (_, Value::Null) if column.missing_allowed => Ok(String::new()),
        (_, Value::String(text))
            if column.missing_allowed && crate::table::missing::is_missing(text, tokens) =>
        {
            Ok(String::new())
        }
        (ColumnType::Numeric, Value::Number(n)) => match n.as_f64() {
            Some(x) if x.abs() <= f64::from(f32::MAX) => Ok(n.to_string()),
            x => Err(format!(
                "{:e} is outside the range a model reads (at most ±3.4e38)",
                x.unwrap_or(f64::INFINITY)
            )),
        },
        (ColumnType::Numeric, other) => Err(format!("expected a number, got {other}")),
        (ColumnType::Boolean, Value::Bool(b)) => Ok(b.to_string()),
        (ColumnType::Boolean | ColumnType::Datetime, Value::String(text)) => Ok(text.clone()),
        (ColumnType::Boolean, other) => Err(format!("expected true or false, got {other}")),
        (ColumnType::Datetime, other) => Err(format!(
            "expected an ISO 8601 date string such as \"1970-01-01\", got {other}"
        )),
        // Categories may be codes: a number or boolean is read as its text.
        (_, Value::String(text)) => Ok(text.clone()),
        (_, Value::Number(n)) => Ok(n.to_string()),
        (_, Value::Bool(b)) => Ok(b.to_string()),
        (_, other) => Err(format!("expected a {kind} value, got {other}")),
    }
}

impl Engine {
    /// Reads instances given as column name → JSON value (numbers, strings, booleans, null for
    /// missing), in any order, for a model with preprocessing: every column of the signature
    /// must be present (`null` when missing), values must fit the column's type, categories
    /// never seen in training read as unknown, and other columns are ignored (and listed).
    pub fn encode_named(
        &self,
        instances: &[&Map<String, Value>],
    ) -> Result<NamedRows, InferenceError> {
        let signature = self.manifest().input_signature();
        let tokens = self
            .manifest()
            .preprocessing
            .as_ref()
            .and_then(|p| p.missing_tokens.as_deref());
        let mut ignored: Vec<String> = Vec::new();
        let mut cells = Vec::with_capacity(instances.len());
        let mut numbers = Vec::with_capacity(instances.len());
        for (row, instance) in instances.iter().enumerate() {
            for name in instance.keys() {
                if !signature.iter().any(|c| c.name == *name) && !ignored.contains(name) {
                    ignored.push(name.clone());
                }
            }
            let mut row_cells = Vec::with_capacity(signature.len());
            let mut row_numbers = Vec::with_capacity(signature.len());
            for column in &signature {
                let failed = |reason: String| InferenceError::Cell {
                    row,
                    column: column.name.clone(),
                    reason,
                };
                let value = instance.get(&column.name).ok_or_else(|| {
                    failed("missing; give every input column (null for a missing value)".into())
                })?;
                let text = cell(column, value, tokens).map_err(failed)?;
                row_numbers.push(match (column.column_type, value) {
                    (ColumnType::Numeric, Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                    _ => f64::NAN,
                });
                row_cells.push(text);
            }
            cells.push(row_cells);
            numbers.push(row_numbers);
        }
        let flat = self.encode_cells(&cells)?;
        Ok(NamedRows {
            flat,
            numbers,
            cells,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::Prediction;
    use crate::preprocess::{InputColumn as Fitted, Preprocessing};
    use candle_core::{Device, Tensor};
    use serde_json::json;
    use std::collections::HashMap;

    /// A logistic regression over mass, island (Biscoe, Dream, unknown) and sex (female,
    /// male, unknown, missing) that answers `biscoe` exactly when the island is Biscoe.
    fn engine() -> Engine {
        let preprocessing = Preprocessing {
            columns: vec![
                Fitted {
                    name: "mass".into(),
                    kind: ColumnKind::Numeric { median: 4000.0 },
                    missing_indicator: false,
                },
                Fitted {
                    name: "island".into(),
                    kind: ColumnKind::Categorical {
                        levels: vec!["Biscoe".into(), "Dream".into()],
                    },
                    missing_indicator: false,
                },
                Fitted {
                    name: "sex".into(),
                    kind: ColumnKind::Categorical {
                        levels: vec!["female".into(), "male".into()],
                    },
                    missing_indicator: true,
                },
            ],
            missing_tokens: Some(crate::table::missing::parse_tokens(None)),
        };
        let width = preprocessing.width();
        let manifest = json!({
            "task": "classification",
            "features": ["mass", "island", "sex"],
            "labels": ["biscoe", "elsewhere"],
            "normalisation": {"mean": vec![0.0; width], "std": vec![1.0; width]},
            "preprocessing": preprocessing,
        });
        let mut weights = vec![0f32; 2 * width];
        weights[1] = 10.0; // island=Biscoe → class 0
        let mut tensors = HashMap::new();
        tensors.insert(
            "layer0.weight".to_owned(),
            Tensor::from_vec(weights, (2, width), &Device::Cpu).unwrap(),
        );
        tensors.insert(
            "layer0.bias".to_owned(),
            Tensor::from_vec(vec![0f32, 5.0], 2, &Device::Cpu).unwrap(),
        );
        let path = std::env::temp_dir().join(format!(
            "slipway-signature-{}.safetensors",
            std::process::id()
        ));
        candle_core::safetensors::save(&tensors, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        Engine::load(manifest.to_string().as_bytes(), &bytes).unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_signature_comes_from_preprocessing_or_the_feature_names() {
        let engine = engine();
        let signature = engine.manifest().input_signature();
        let json = serde_json::to_value(&signature).unwrap();
        assert_eq!(
            json[1],
            json!({"name": "island", "type": "categorical", "categories": ["Biscoe", "Dream"], "missing_allowed": true})
        );
        assert_eq!(signature[0].datatype(), "FP64");
        assert_eq!(signature[2].datatype(), "BYTES");
        let mut numeric = engine.manifest().clone();
        numeric.preprocessing = None;
        let plain = numeric.input_signature();
        assert_eq!(plain.len(), 3);
        assert!(
            plain
                .iter()
                .all(|c| c.column_type == ColumnType::Numeric && !c.missing_allowed)
        );
    }

    #[test]
    fn named_cells_predict_in_any_order_with_missing_and_unknown_values() {
        let engine = engine();
        let rows = [
            object(json!({"sex": null, "island": "Biscoe", "mass": 3750, "species": "Adelie"})),
            object(json!({"island": "Atlantis", "mass": 4000.5, "sex": "male", "year": 2007})),
        ];
        let refs: Vec<&Map<String, Value>> = rows.iter().collect();
        let named = engine.encode_named(&refs).unwrap();
        assert_eq!(named.ignored, ["species", "year"]);
        assert_eq!(named.numbers[0][0], 3750.0);
        assert!(named.numbers[0][1].is_nan(), "text is not a number");
        let predictions = engine.predict_encoded(named.flat, 2).unwrap();
        let labels: Vec<&str> = predictions
            .iter()
            .map(|p| match p {
                Prediction::Class { label, .. } => &**label,
                Prediction::Value(_) => "value",
            })
            .collect();
        assert_eq!(labels, ["biscoe", "elsewhere"]);
    }

    #[test]
    fn missing_tokens_and_null_read_as_missing_cells() {
        let engine = engine();
        let rows = [
            object(json!({"mass": "NA", "island": "n/a", "sex": null})),
            object(json!({"mass": "?", "island": "NaN", "sex": "NULL"})),
            object(json!({"mass": "", "island": "", "sex": "null"})),
            object(json!({"mass": 3750, "island": "Biscoe", "sex": "male"})),
        ];
        let refs: Vec<&Map<String, Value>> = rows.iter().collect();
        let named = engine.encode_named(&refs).unwrap();
        for row in &named.cells[..3] {
            assert_eq!(row, &["", "", ""]);
        }
        assert_eq!(named.cells[3], ["3750", "Biscoe", "male"]);
        assert!(named.numbers[0][0].is_nan());
        // A missing mass is the training median, like an empty cell.
        let width = named.flat.len() / 4;
        assert_eq!(named.flat[0], 4000.0);
        assert_eq!(named.flat[width], 4000.0);
        // Other text in a numeric column is still refused.
        let row = object(json!({"mass": "none", "island": "Dream", "sex": "male"}));
        let err = engine.encode_named(&[&row]).unwrap_err().to_string();
        assert_eq!(err, "instances[0].mass: expected a number, got \"none\"");
    }

    #[test]
    fn bad_named_cells_name_the_row_and_column() {
        let engine = engine();
        let check = |value: Value, expected: &str| {
            let row = object(value);
            let err = engine.encode_named(&[&row]).unwrap_err().to_string();
            assert_eq!(err, expected);
        };
        check(
            json!({"island": "Dream", "sex": "male"}),
            "instances[0].mass: missing; give every input column (null for a missing value)",
        );
        check(
            json!({"mass": "heavy", "island": "Dream", "sex": "male"}),
            "instances[0].mass: expected a number, got \"heavy\"",
        );
        check(
            json!({"mass": 1, "island": ["Dream"], "sex": "male"}),
            "instances[0].island: expected a categorical value, got [\"Dream\"]",
        );
        check(
            json!({"mass": 1e39, "island": "Dream", "sex": "male"}),
            "instances[0].mass: 1e39 is outside the range a model reads (at most ±3.4e38)",
        );
    }
}
