//! The inference engine: load a model version once (`model.json` and its weights: a trained
//! network's `model.safetensors` or an imported ONNX file), then validate and predict batches.
//! Serving, evaluation and training tests all go through it, so a trained and an imported
//! version answer the same way.

use crate::model::{ModelManifest, Network};
use crate::onnx::{OnnxGraph, OutputKind};
use candle_core::{D, Device, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One prediction: the wire type, so serving passes the engine's answers on unchanged.
pub use slipway_api::{Prediction, Probabilities};

/// Why a model could not be loaded or a batch not predicted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferenceError {
    #[error("invalid model: {0}")]
    Model(String),
    #[error("instances: expected at least one row")]
    Empty,
    #[error("instances[{row}]: expected {expected} values (one per feature), got {found}")]
    Width {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("instances[{row}].{feature}: expected a finite number")]
    NotFinite { row: usize, feature: String },
    #[error("instances[{row}]: unknown feature '{name}'; the model's features are: {known}")]
    UnknownFeature {
        row: usize,
        name: String,
        known: String,
    },
    #[error("instances[{row}]: missing feature '{name}'")]
    MissingFeature { row: usize, name: String },
    #[error("instances[{row}].{column}: {reason}")]
    Cell {
        row: usize,
        column: String,
        reason: String,
    },
}

/// What computes a loaded model's outputs.
#[derive(Debug)]
enum Runner {
    /// A network trained by Slipway.
    Trained(Network),
    /// An imported ONNX graph, planned (boxed: its plan is large beside a network).
    Onnx(Box<OnnxGraph>),
}

/// A loaded model.
#[derive(Debug)]
pub struct Engine {
    manifest: ModelManifest,
    runner: Runner,
    /// The manifest's class names by output index, shared by every answer.
    labels: Vec<Arc<str>>,
    /// The class names sorted (as answers list them), and the output index of each.
    sorted_labels: Arc<[Arc<str>]>,
    sorted_outputs: Vec<usize>,
    /// Whether the standardisation leaves every value as it is (an imported graph's), so
    /// encoding is a conversion: the same numbers, without a subtraction and a division each.
    unscaled: bool,
}

impl Engine {
    /// Loads a model from the bytes of its `model.json` and `model.safetensors`.
    pub fn load(model_json: &[u8], weights: &[u8]) -> Result<Self, InferenceError> {
        let bad = |what: String| InferenceError::Model(what);
        let manifest: ModelManifest =
            serde_json::from_slice(model_json).map_err(|err| bad(format!("model.json: {err}")))?;
        let width = match &manifest.preprocessing {
            Some(preprocessing) => {
                let names: Vec<&String> = preprocessing.columns.iter().map(|c| &c.name).collect();
                if names != manifest.features.iter().collect::<Vec<_>>() {
                    return Err(bad(
                        "model.json: preprocessing does not match the features".into()
                    ));
                }
                preprocessing.width()
            }
            None => manifest.features.len(),
        };
        if manifest.normalisation.mean.len() != width || manifest.normalisation.std.len() != width {
            return Err(bad(
                "model.json: normalisation does not match the features".into()
            ));
        }
        if manifest.onnx.is_some() {
            let graph = OnnxGraph::load(weights).map_err(|err| bad(err.to_string()))?;
            if graph.row_width() != width {
                return Err(bad(format!(
                    "the ONNX input takes {} values a row, model.json names {width} features",
                    graph.row_width()
                )));
            }
            return Ok(Self::new(manifest, Runner::Onnx(Box::new(graph))));
        }
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
            .map_err(|err| bad(format!("model.safetensors: {err}")))?;
        let arch = manifest.architecture().map_err(bad)?;
        let network = Network::load(&arch, tensors).map_err(bad)?;
        Ok(Self::new(manifest, Runner::Trained(network)))
    }

    fn new(manifest: ModelManifest, runner: Runner) -> Self {
        let labels: Vec<Arc<str>> = manifest
            .labels
            .iter()
            .map(|label| Arc::from(label.as_str()))
            .collect();
        // A name given twice answers with its last output, as a map of the names would.
        let by_name: BTreeMap<Arc<str>, usize> = labels
            .iter()
            .enumerate()
            .map(|(output, label)| (Arc::clone(label), output))
            .collect();
        let normalisation = &manifest.normalisation;
        Self {
            unscaled: normalisation.mean.iter().all(|&mean| mean == 0.0)
                && normalisation.std.iter().all(|&std| std == 1.0),
            sorted_labels: by_name.keys().cloned().collect(),
            sorted_outputs: by_name.into_values().collect(),
            labels,
            manifest,
            runner,
        }
    }

    /// A row's probabilities (by output index) by class name.
    fn probabilities(&self, row: &[f32]) -> Probabilities {
        if row.len() == self.labels.len() {
            // Every output index is below the row's width: it is one of the labels'.
            let values = self
                .sorted_outputs
                .iter()
                .map(|&output| f64::from(row[output]))
                .collect();
            if let Some(probabilities) =
                Probabilities::of_sorted(Arc::clone(&self.sorted_labels), values)
            {
                return probabilities;
            }
        }
        // A graph answering a width other than its labels' keeps the classes it scores.
        self.labels
            .iter()
            .zip(row)
            .map(|(label, p)| (Arc::clone(label), f64::from(*p)))
            .collect()
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The feature names, in the order rows give them.
    pub fn features(&self) -> &[String] {
        &self.manifest.features
    }

    /// Predicts rows given as values in feature order.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<Prediction>, InferenceError> {
        let flat = self.encode(rows)?;
        self.predict_encoded(flat, rows.len())
    }

    /// The number of inputs the network reads (the features, or what preprocessing makes of
    /// them).
    pub fn input_width(&self) -> usize {
        self.manifest
            .preprocessing
            .as_ref()
            .map_or(self.manifest.features.len(), |p| p.width())
    }

    /// Validates rows of text cells given in feature order (empty is missing) and encodes
    /// them like [`Engine::encode`]: through the model's preprocessing when it has one, else
    /// each cell must be a number.
    pub fn encode_cells(&self, rows: &[Vec<String>]) -> Result<Vec<f32>, InferenceError> {
        if rows.is_empty() {
            return Err(InferenceError::Empty);
        }
        let Some(preprocessing) = &self.manifest.preprocessing else {
            let numbers = rows
                .iter()
                .enumerate()
                .map(|(row, cells)| {
                    cells
                        .iter()
                        .zip(&self.manifest.features)
                        .map(|(cell, feature)| {
                            cell.trim()
                                .parse::<f64>()
                                .map_err(|_| InferenceError::Cell {
                                    row,
                                    column: feature.clone(),
                                    reason: format!("expected a number, got '{cell}'"),
                                })
                        })
                        .collect::<Result<Vec<f64>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            return self.encode(&numbers);
        };
        let width = self.input_width();
        let columns = self.manifest.features.len();
        let normalisation = &self.manifest.normalisation;
        let mut flat = Vec::with_capacity(rows.len() * width);
        let mut numbers = Vec::with_capacity(width);
        for (row, cells) in rows.iter().enumerate() {
            if cells.len() != columns {
                return Err(InferenceError::Width {
                    row,
                    expected: columns,
                    found: cells.len(),
                });
            }
            let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
            numbers.clear();
            preprocessing
                .encode_into(&cells, &mut numbers)
                .map_err(|err| InferenceError::Cell {
                    row,
                    column: err.column,
                    reason: err.reason,
                })?;
            normalisation.extend_row(&numbers, &mut flat);
        }
        Ok(flat)
    }

    /// Validates rows given in feature order and standardises them into the flat input of
    /// [`Engine::predict_encoded`]; encoded rows of many requests can be joined into one batch.
    pub fn encode(&self, rows: &[Vec<f64>]) -> Result<Vec<f32>, InferenceError> {
        if rows.is_empty() {
            return Err(InferenceError::Empty);
        }
        if self.manifest.preprocessing.is_some() {
            // Numbers given to a preprocessed model are its cells; a non-finite one is refused.
            let mut cells = Vec::with_capacity(rows.len());
            for (row, values) in rows.iter().enumerate() {
                if let Some(column) = values.iter().position(|v| !v.is_finite()) {
                    return Err(InferenceError::NotFinite {
                        row,
                        feature: self
                            .manifest
                            .features
                            .get(column)
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
                cells.push(values.iter().map(f64::to_string).collect());
            }
            return self.encode_cells(&cells);
        }
        let width = self.manifest.features.len();
        let normalisation = &self.manifest.normalisation;
        let mut flat = Vec::with_capacity(rows.len() * width);
        for (row, values) in rows.iter().enumerate() {
            if values.len() != width {
                return Err(InferenceError::Width {
                    row,
                    expected: width,
                    found: values.len(),
                });
            }
            if let Some(column) = values.iter().position(|value| !value.is_finite()) {
                return Err(InferenceError::NotFinite {
                    row,
                    feature: self.manifest.features[column].clone(),
                });
            }
            if self.unscaled {
                flat.extend(values.iter().map(|&value| value as f32));
            } else {
                normalisation.extend_row(values, &mut flat);
            }
        }
        Ok(flat)
    }

    /// Orders rows given as feature name → value into feature order, naming unknown and
    /// missing features.
    pub fn order_named(
        &self,
        rows: &[BTreeMap<String, f64>],
    ) -> Result<Vec<Vec<f64>>, InferenceError> {
        rows.iter()
            .enumerate()
            .map(|(row, named)| self.order_row(row, named))
            .collect()
    }

    /// One named row in feature order; `row` is its index in the request, for errors.
    pub fn order_row(
        &self,
        row: usize,
        named: &BTreeMap<String, f64>,
    ) -> Result<Vec<f64>, InferenceError> {
        let features = &self.manifest.features;
        if let Some(name) = named.keys().find(|name| !features.contains(name)) {
            return Err(InferenceError::UnknownFeature {
                row,
                name: name.clone(),
                known: features.join(", "),
            });
        }
        features
            .iter()
            .map(|name| {
                named
                    .get(name)
                    .copied()
                    .ok_or_else(|| InferenceError::MissingFeature {
                        row,
                        name: name.clone(),
                    })
            })
            .collect()
    }

    /// Predicts `rows` rows already encoded by [`Engine::encode`].
    pub fn predict_encoded(
        &self,
        flat: Vec<f32>,
        rows: usize,
    ) -> Result<Vec<Prediction>, InferenceError> {
        if rows == 0 || flat.len() != rows * self.input_width() {
            return Err(InferenceError::Model(format!(
                "{} encoded values are not {rows} rows of {}",
                flat.len(),
                self.input_width()
            )));
        }
        self.forward(flat, rows)
    }

    /// Predicts rows of text cells in feature order (empty is missing).
    pub fn predict_cells(&self, rows: &[Vec<String>]) -> Result<Vec<Prediction>, InferenceError> {
        let flat = self.encode_cells(rows)?;
        self.predict_encoded(flat, rows.len())
    }

    /// Predicts rows given as feature name → value.
    pub fn predict_named(
        &self,
        rows: &[BTreeMap<String, f64>],
    ) -> Result<Vec<Prediction>, InferenceError> {
        self.predict(&self.order_named(rows)?)
    }

    fn forward(&self, flat: Vec<f32>, rows: usize) -> Result<Vec<Prediction>, InferenceError> {
        let model = |err: candle_core::Error| InferenceError::Model(err.to_string());
        // Rows of scores (or one value) a row, and whether they are probabilities already.
        let (scores, width, probabilities_out) = match &self.runner {
            Runner::Trained(network) => {
                let mut xs = Tensor::from_vec(flat, (rows, self.input_width()), &Device::Cpu)
                    .and_then(|xs| network.forward(&xs))
                    .map_err(model)?;
                if self.manifest.task != "regression" {
                    xs = candle_nn::ops::softmax(&xs, D::Minus1).map_err(model)?;
                }
                let width = xs.dim(D::Minus1).map_err(model)?;
                let scores = xs
                    .flatten_all()
                    .and_then(|xs| xs.to_vec1::<f32>())
                    .map_err(model)?;
                (scores, width, true)
            }
            // An imported graph stays off candle: its output is already a flat vector, and a
            // tensor round trip would cost more than the pass itself on small models.
            Runner::Onnx(graph) => {
                let (scores, width) = graph
                    .run(&flat, rows)
                    .map_err(|err| InferenceError::Model(err.to_string()))?;
                let probabilities_out = self
                    .manifest
                    .onnx
                    .as_ref()
                    .is_some_and(|info| info.output_kind == OutputKind::Probabilities);
                (scores, width, probabilities_out)
            }
        };
        if self.manifest.task == "regression" {
            let target = self.manifest.target;
            return Ok(scores
                .into_iter()
                .map(|v| {
                    Prediction::Value(target.map_or(f64::from(v), |t| t.restore(f64::from(v))))
                })
                .collect());
        }
        let mut softmax = Vec::with_capacity(width);
        Ok(scores
            .chunks(width.max(1))
            .map(|row| {
                let row = if probabilities_out {
                    row
                } else {
                    softmax_into(row, &mut softmax);
                    &softmax
                };
                let best = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(index, _)| index);
                Prediction::Class {
                    label: self
                        .labels
                        .get(best)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(best.to_string())),
                    probabilities: self.probabilities(row),
                }
            })
            .collect())
    }
}

/// Softmax of one row of scores into `into`, shifted by the row's maximum so large logits do
/// not overflow.
fn softmax_into(scores: &[f32], into: &mut Vec<f32>) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    into.clear();
    into.extend(scores.iter().map(|s| (s - max).exp()));
    let sum: f32 = into.iter().sum();
    for e in into.iter_mut() {
        *e /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::train::{TrainConfig, train};

    fn iris_engine() -> (Engine, Dataset) {
        let iris =
            Dataset::from_csv(include_bytes!("../../datasets/iris.csv"), "species", None).unwrap();
        let trained = train(
            &iris,
            &TrainConfig {
                epochs: 60,
                ..TrainConfig::default()
            },
            |_| true,
        )
        .unwrap();
        let manifest = serde_json::json!({
            "task": "classification",
            "features": iris.schema.features,
            "labels": iris.schema.classes,
            "normalisation": trained.normalisation,
        });
        let engine = Engine::load(manifest.to_string().as_bytes(), &trained.weights).unwrap();
        (engine, iris)
    }

    #[test]
    fn a_loaded_model_predicts_labels_with_probabilities() {
        let (engine, iris) = iris_engine();
        let predictions = engine.predict(&iris.features).unwrap();
        let correct = predictions
            .iter()
            .zip(&iris.labels)
            .filter(|(p, l)| matches!(p, Prediction::Class { label, .. } if **label == *iris.schema.classes[**l as usize]))
            .count();
        assert!(correct as f64 / iris.len() as f64 > 0.9, "{correct} of 150");
        let Prediction::Class { probabilities, .. } = &predictions[0] else {
            panic!("a class")
        };
        assert_eq!(probabilities.len(), 3);
        assert!((probabilities.values().sum::<f64>() - 1.0).abs() < 1e-4);
        let named: BTreeMap<String, f64> = iris
            .schema
            .features
            .iter()
            .cloned()
            .zip(iris.features[0].clone())
            .collect();
        let positional = engine.predict(&[iris.features[0].clone()]).unwrap();
        assert_eq!(engine.predict_named(&[named]).unwrap(), positional);
    }

    #[test]
    fn bad_instances_are_named() {
        let (engine, _) = iris_engine();
        assert_eq!(engine.predict(&[]).unwrap_err(), InferenceError::Empty);
        let err = engine.predict(&[vec![1.0, 2.0]]).unwrap_err().to_string();
        assert_eq!(
            err,
            "instances[0]: expected 4 values (one per feature), got 2"
        );
        let err = engine
            .predict(&[vec![1.0, f64::NAN, 1.0, 1.0]])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "instances[0].sepal_width_cm: expected a finite number");
        let named = BTreeMap::from([("colour".to_owned(), 1.0)]);
        let err = engine.predict_named(&[named]).unwrap_err().to_string();
        assert!(
            err.starts_with("instances[0]: unknown feature 'colour'"),
            "{err}"
        );
        assert!(Engine::load(b"{}", b"").is_err());
    }
}
