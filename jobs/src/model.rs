//! What a trained model is made of, shared by training (which writes it) and inference (which
//! reads it): the `model.json` manifest, and the forward pass over the dense layers.

use candle_core::Tensor;
use candle_nn::{Linear, Module};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `model.json`: everything needed to use and trace a model besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub hyper_parameters: serde_json::Value,
    /// Feature names in the order the model reads them.
    pub features: Vec<String>,
    /// Class names by index (classification).
    #[serde(default)]
    pub labels: Vec<String>,
    /// `classification` or `regression`.
    pub task: String,
    pub normalisation: Normalisation,
    /// Name, version and digest of the training data.
    #[serde(default)]
    pub dataset: serde_json::Value,
    #[serde(default)]
    pub code_version: String,
    #[serde(default)]
    pub candle_version: String,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub epochs_run: usize,
    #[serde(default)]
    pub stopped_early: bool,
}

/// The standardisation fitted on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalisation {
    /// One standardised value of feature `column`.
    pub fn apply(&self, column: usize, value: f64) -> f32 {
        ((value - self.mean[column]) / self.std[column]) as f32
    }
}

/// The dense layers with ReLU between them.
pub fn forward(layers: &[Linear], xs: &Tensor) -> candle_core::Result<Tensor> {
    let mut xs = xs.clone();
    for (i, layer) in layers.iter().enumerate() {
        xs = layer.forward(&xs)?;
        if i + 1 < layers.len() {
            xs = xs.relu()?;
        }
    }
    Ok(xs)
}
