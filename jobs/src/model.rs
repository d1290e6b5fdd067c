//! What a trained model is made of, shared by training (which builds and writes it) and
//! inference (which reads it): the architecture, the `model.json` manifest, and the network
//! with its forward pass.

use crate::split::SplitMix64;
use candle_core::{DType, Device, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Module};
use serde::{Deserialize, Serialize};
use slipway_api::{MAX_CONV_LAYERS, MAX_HIDDEN_LAYERS, MAX_LAYER_WIDTH, MAX_PARAMETERS};
use std::collections::{BTreeMap, HashMap};

/// The non-linearity between layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    Gelu,
    Sigmoid,
}

impl Activation {
    /// Parses a name as users type it.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "relu" => Ok(Self::Relu),
            "tanh" => Ok(Self::Tanh),
            "gelu" => Ok(Self::Gelu),
            "sigmoid" => Ok(Self::Sigmoid),
            other => Err(format!(
                "activation: expected relu, tanh, gelu or sigmoid, got '{other}'"
            )),
        }
    }

    fn apply(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Relu => xs.relu(),
            Self::Tanh => xs.tanh(),
            Self::Gelu => xs.gelu_erf(),
            Self::Sigmoid => candle_nn::ops::sigmoid(xs),
        }
    }
}

/// A model architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "lowercase")]
pub enum Arch {
    /// Softmax (classification) or linear (regression) regression.
    Logreg,
    /// Dense layers with an activation (and optional dropout) between them.
    Mlp {
        hidden: Vec<usize>,
        #[serde(default)]
        activation: Activation,
        #[serde(default)]
        dropout: f64,
    },
    /// Convolutions over image-shaped rows (3×3, each followed by the activation and a 2×2
    /// max-pool while the image is at least 2×2), then dense layers.
    Cnn {
        /// Channels, height and width of one row; the features fill it in order.
        image: [usize; 3],
        filters: Vec<usize>,
        hidden: Vec<usize>,
        #[serde(default)]
        activation: Activation,
        #[serde(default)]
        dropout: f64,
    },
}

impl Arch {
    /// An MLP with ReLU and no dropout.
    pub fn mlp(hidden: Vec<usize>) -> Self {
        Self::Mlp {
            hidden,
            activation: Activation::Relu,
            dropout: 0.0,
        }
    }

    /// The architecture's short name: `logreg`, `mlp` or `cnn`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Logreg => "logreg",
            Self::Mlp { .. } => "mlp",
            Self::Cnn { .. } => "cnn",
        }
    }

    /// Checks the sizes against the input width; the error names the field.
    pub fn validate(&self, inputs: usize) -> Result<(), String> {
        let sizes_ok = |sizes: &[usize]| sizes.iter().all(|&s| (1..=MAX_LAYER_WIDTH).contains(&s));
        let layers_ok = |hidden: &[usize]| {
            if hidden.len() > MAX_HIDDEN_LAYERS {
                return Err(format!(
                    "hidden: at most {MAX_HIDDEN_LAYERS} hidden layers, got {}",
                    hidden.len()
                ));
            }
            if !sizes_ok(hidden) {
                return Err(format!(
                    "hidden: expected layer sizes from 1 to {MAX_LAYER_WIDTH}"
                ));
            }
            Ok(())
        };
        match self {
            Self::Logreg => Ok(()),
            Self::Mlp {
                hidden, dropout, ..
            } => {
                if hidden.is_empty() {
                    return Err(format!(
                        "hidden: expected one or more layer sizes from 1 to {MAX_LAYER_WIDTH}"
                    ));
                }
                layers_ok(hidden)?;
                check_dropout(*dropout)
            }
            Self::Cnn {
                image,
                filters,
                hidden,
                dropout,
                ..
            } => {
                // Checked: a wrapped product (2305843009213693960×8×1 is 64 mod 2^64) must
                // not pass for the feature count.
                let values = slipway_api::image_values(*image)
                    .map_err(|err| err.trim_start_matches("spec.").to_owned())?;
                if values != inputs {
                    return Err(format!(
                        "image: expected channels×height×width = {inputs} (the feature count), got {}×{}×{}",
                        image[0], image[1], image[2]
                    ));
                }
                if filters.is_empty() || !sizes_ok(filters) || filters.len() > MAX_CONV_LAYERS {
                    return Err(format!(
                        "filters: expected 1 to {MAX_CONV_LAYERS} channel counts from 1 to {MAX_LAYER_WIDTH}"
                    ));
                }
                layers_ok(hidden)?;
                check_dropout(*dropout)
            }
        }
    }

    /// The trainable parameters (weights and biases) of this architecture on `inputs`
    /// features with `outputs` outputs, counted as [`Network::create`] makes them; `None`
    /// when the count overflows.
    pub fn parameter_count(&self, inputs: usize, outputs: usize) -> Option<u64> {
        let dense = |sizes: &[u64]| {
            sizes.windows(2).try_fold(0u64, |total, pair| {
                // weights (fan_out × fan_in) and biases (fan_out)
                pair[0]
                    .checked_mul(pair[1])?
                    .checked_add(pair[1])?
                    .checked_add(total)
            })
        };
        let widths = |first: u64, hidden: &[usize]| {
            let mut sizes = vec![first];
            sizes.extend(hidden.iter().map(|&h| h as u64));
            sizes.push(outputs as u64);
            sizes
        };
        match self {
            Self::Logreg => dense(&widths(inputs as u64, &[])),
            Self::Mlp { hidden, .. } => dense(&widths(inputs as u64, hidden)),
            Self::Cnn {
                image,
                filters,
                hidden,
                ..
            } => {
                let [mut channels, mut height, mut width] = image.map(|n| n as u64);
                let mut total = 0u64;
                for &out in filters {
                    let out = out as u64;
                    // 3×3 kernels over every input channel, and one bias per output channel.
                    let conv = out
                        .checked_mul(channels)?
                        .checked_mul(9)?
                        .checked_add(out)?;
                    total = total.checked_add(conv)?;
                    channels = out;
                    (height, width) = (
                        pooled(height as usize) as u64,
                        pooled(width as usize) as u64,
                    );
                }
                let flat = channels.checked_mul(height)?.checked_mul(width)?;
                total.checked_add(dense(&widths(flat, hidden))?)
            }
        }
    }

    /// Checks the model's size: at most [`MAX_PARAMETERS`] trainable parameters on `inputs`
    /// features with `outputs` outputs; the error names the fields that size it.
    pub fn check_size(&self, inputs: usize, outputs: usize) -> Result<u64, String> {
        let field = match self {
            Self::Logreg => "arch",
            Self::Mlp { .. } => "hidden",
            Self::Cnn { .. } => "filters, hidden",
        };
        match self.parameter_count(inputs, outputs) {
            Some(count) if count <= MAX_PARAMETERS => Ok(count),
            count => Err(format!(
                "{field}: at most {MAX_PARAMETERS} parameters, got {} ({inputs} features, {outputs} outputs)",
                count.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string())
            )),
        }
    }

    /// The image shape of `inputs` features when they form a square single-channel image.
    pub fn square_image(inputs: usize) -> Result<[usize; 3], String> {
        let side = (inputs as f64).sqrt().round() as usize;
        if side * side == inputs {
            Ok([1, side, side])
        } else {
            Err(format!(
                "image: {inputs} features are not a square image; give image=CxHxW"
            ))
        }
    }

    fn activation_and_dropout(&self) -> (Activation, f64) {
        match self {
            Self::Logreg => (Activation::Relu, 0.0),
            Self::Mlp {
                activation,
                dropout,
                ..
            }
            | Self::Cnn {
                activation,
                dropout,
                ..
            } => (*activation, *dropout),
        }
    }
}

fn check_dropout(dropout: f64) -> Result<(), String> {
    if (0.0..0.95).contains(&dropout) {
        Ok(())
    } else {
        Err(format!("dropout: expected 0 to 0.95, got {dropout}"))
    }
}

/// `model.json`: everything needed to use and trace a model besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    #[serde(default)]
    pub arch: String,
    /// The training configuration; its `arch` part rebuilds the network.
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
    /// For typed tables: how each input column becomes the network's numbers (then
    /// standardised by `normalisation`); absent for all-numeric data read as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocessing: Option<crate::preprocess::Preprocessing>,
    /// What `predict` reads by name (see [`crate::signature`]); absent from older models,
    /// whose signature is derived from `preprocessing` or `features`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature: Vec<slipway_api::InputColumn>,
    /// For regression: the training target's mean and deviation; the network predicts the
    /// standardised target and predictions are mapped back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetScale>,
    /// What the model must beat: the training split's majority class or mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// Name, version and digest of the training data.
    #[serde(default)]
    pub dataset: serde_json::Value,
    #[serde(default)]
    pub seed: Option<u64>,
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
    /// For an imported ONNX model (`arch` `onnx`): its graph's input, output and origin; the
    /// version's artifact is then the ONNX file rather than safetensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<crate::onnx::OnnxInfo>,
}

impl ModelManifest {
    /// The architecture recorded in the hyper-parameters. Without one the weights alone
    /// define the network: dense layers with ReLU between them.
    pub fn architecture(&self) -> Result<Arch, String> {
        match self.hyper_parameters.get("arch") {
            None => Ok(Arch::Logreg),
            Some(arch) => serde_json::from_value::<Arch>(arch.clone())
                .map_err(|err| format!("model.json: hyper_parameters.arch: {err}")),
        }
    }
}

/// The standardisation fitted on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalisation {
    /// Appends one row's standardised values (a value per feature, in order) to `into`.
    pub fn extend_row(&self, row: &[f64], into: &mut Vec<f32>) {
        // Zipped rather than indexed, so the loop has no bounds checks and vectorises.
        into.extend(
            row.iter()
                .zip(&self.mean)
                .zip(&self.std)
                .map(|((value, mean), std)| ((value - mean) / std) as f32),
        );
    }
}

/// A regression target's standardisation, fitted on the training split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetScale {
    pub mean: f64,
    pub std: f64,
}

impl TargetScale {
    /// Fits on the training targets; a constant target keeps a deviation of 1.
    pub fn fit(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let std = if variance > 1e-12 {
            variance.sqrt()
        } else {
            1.0
        };
        Self { mean, std }
    }

    /// A network output in the target's units.
    pub fn restore(&self, value: f64) -> f64 {
        value * self.std + self.mean
    }
}

/// The trivial model a trained one is held against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// Always the training split's most frequent class.
    Majority(String),
    /// Always the training split's mean target.
    Mean(f64),
}

/// The network: optional convolutions, then dense layers with the activation between them.
/// Variables are named `conv{i}.*` and `layer{i}.*` in the safetensors file.
#[derive(Debug)]
pub struct Network {
    convs: Vec<Conv2d>,
    image: Option<[usize; 3]>,
    dense: Vec<Linear>,
    activation: Activation,
    dropout: f64,
}

fn conv_config() -> Conv2dConfig {
    Conv2dConfig {
        padding: 1,
        ..Conv2dConfig::default()
    }
}

/// The spatial size after a conv block: pooled by 2 while at least 2×2.
fn pooled(side: usize) -> usize {
    if side >= 2 { side / 2 } else { side }
}

impl Network {
    /// Creates the variables of `arch` in `varmap` on `device`, drawn uniformly from
    /// ±1/√fan-in by a seeded generator (candle cannot seed its CPU generator), so the same
    /// seed gives the same model.
    pub fn create(
        arch: &Arch,
        inputs: usize,
        outputs: usize,
        varmap: &candle_nn::VarMap,
        seed: u64,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut rng = SplitMix64(seed);
        let mut variable = |name: String, shape: &[usize], fan_in: usize| {
            let bound = 1.0 / (fan_in as f64).sqrt();
            let values: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
                .collect();
            let initial = Tensor::from_vec(values, shape, device)?;
            let zero = candle_nn::Init::Const(0.0);
            let var = varmap.get(shape, &name, zero, DType::F32, device)?;
            set_variable(varmap, &name, &initial)?;
            Ok::<Tensor, candle_core::Error>(var)
        };
        let (mut convs, mut image, mut dense_inputs, mut hidden) =
            (Vec::new(), None, inputs, &[][..]);
        match arch {
            Arch::Logreg => {}
            Arch::Mlp { hidden: sizes, .. } => hidden = sizes,
            Arch::Cnn {
                image: shape,
                filters,
                hidden: sizes,
                ..
            } => {
                let (mut channels, mut height, mut width) = (shape[0], shape[1], shape[2]);
                for (i, &out) in filters.iter().enumerate() {
                    let fan_in = channels * 9;
                    let weight =
                        variable(format!("conv{i}.weight"), &[out, channels, 3, 3], fan_in)?;
                    let bias = variable(format!("conv{i}.bias"), &[out], fan_in)?;
                    convs.push(Conv2d::new(weight, Some(bias), conv_config()));
                    (channels, height, width) = (out, pooled(height), pooled(width));
                }
                image = Some(*shape);
                dense_inputs = channels * height * width;
                hidden = sizes;
            }
        }
        let mut sizes = vec![dense_inputs];
        sizes.extend(hidden);
        sizes.push(outputs);
        let mut dense = Vec::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let weight = variable(format!("layer{i}.weight"), &[fan_out, fan_in], fan_in)?;
            let bias = variable(format!("layer{i}.bias"), &[fan_out], fan_in)?;
            dense.push(Linear::new(weight, Some(bias)));
        }
        let (activation, dropout) = arch.activation_and_dropout();
        Ok(Self {
            convs,
            image,
            dense,
            activation,
            dropout,
        })
    }

    /// Rebuilds a trained network from its weights.
    pub fn load(arch: &Arch, mut tensors: HashMap<String, Tensor>) -> Result<Self, String> {
        let mut convs = Vec::new();
        while let Some(weight) = tensors.remove(&format!("conv{}.weight", convs.len())) {
            let bias = tensors.remove(&format!("conv{}.bias", convs.len()));
            convs.push(Conv2d::new(weight, bias, conv_config()));
        }
        let mut dense = Vec::new();
        while let Some(weight) = tensors.remove(&format!("layer{}.weight", dense.len())) {
            let bias = tensors.remove(&format!("layer{}.bias", dense.len()));
            dense.push(Linear::new(weight, bias));
        }
        if dense.is_empty() {
            return Err("model.safetensors: no layers".into());
        }
        let image = match arch {
            Arch::Cnn { image, .. } if !convs.is_empty() => Some(*image),
            _ if !convs.is_empty() => {
                return Err("model.json: convolution weights without an image shape".into());
            }
            _ => None,
        };
        let (activation, dropout) = arch.activation_and_dropout();
        Ok(Self {
            convs,
            image,
            dense,
            activation,
            dropout,
        })
    }

    /// The forward pass for inference.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(xs, None)
    }

    /// The forward pass; with a generator, dropout is applied (training).
    pub fn forward_with(
        &self,
        xs: &Tensor,
        mut dropout_rng: Option<&mut SplitMix64>,
    ) -> candle_core::Result<Tensor> {
        let mut xs = xs.clone();
        if let Some([channels, height, width]) = self.image {
            xs = xs.reshape((xs.dim(0)?, channels, height, width))?;
            for conv in &self.convs {
                xs = self.activation.apply(&conv.forward(&xs)?)?;
                let (_, _, h, w) = xs.dims4()?;
                if h >= 2 && w >= 2 {
                    xs = xs.max_pool2d(2)?;
                }
            }
            xs = xs.flatten_from(1)?;
        }
        for (i, layer) in self.dense.iter().enumerate() {
            xs = layer.forward(&xs)?;
            if i + 1 < self.dense.len() {
                xs = self.activation.apply(&xs)?;
                if let Some(rng) = dropout_rng.as_deref_mut()
                    && self.dropout > 0.0
                {
                    xs = seeded_dropout(&xs, self.dropout, rng)?;
                }
            }
        }
        Ok(xs)
    }
}

/// Inverted dropout with a mask from the seeded generator, so training stays reproducible.
fn seeded_dropout(xs: &Tensor, rate: f64, rng: &mut SplitMix64) -> candle_core::Result<Tensor> {
    let keep = (1.0 / (1.0 - rate)) as f32;
    let mask: Vec<f32> = (0..xs.elem_count())
        .map(|_| if rng.unit() < rate { 0.0 } else { keep })
        .collect();
    xs.mul(&Tensor::from_vec(mask, xs.shape(), xs.device())?)
}

/// Sets the variable `name` of `varmap` to `value`.
pub fn set_variable(
    varmap: &candle_nn::VarMap,
    name: &str,
    value: &Tensor,
) -> candle_core::Result<()> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the variable map is poisoned".into()))?;
    let var = vars
        .get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("no variable {name}")))?;
    var.set(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_parameters(arch: &Arch, inputs: usize, outputs: usize) -> u64 {
        let varmap = candle_nn::VarMap::new();
        Network::create(arch, inputs, outputs, &varmap, 7, &Device::Cpu).unwrap();
        varmap
            .all_vars()
            .iter()
            .map(|var| var.elem_count() as u64)
            .sum()
    }

    #[test]
    fn the_parameter_count_matches_the_network() {
        let cnn = Arch::Cnn {
            image: [1, 8, 8],
            filters: vec![4, 8],
            hidden: vec![16],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        for (arch, inputs, outputs) in [
            (Arch::Logreg, 4, 3),
            (Arch::mlp(vec![128, 64]), 64, 10),
            (cnn, 64, 10),
        ] {
            assert_eq!(
                arch.parameter_count(inputs, outputs),
                Some(created_parameters(&arch, inputs, outputs)),
                "{arch:?}"
            );
        }
    }

    #[test]
    fn oversized_models_are_refused_before_any_allocation() {
        let wide = Arch::mlp(vec![4096; 16]);
        let err = wide.check_size(4096, 10).unwrap_err();
        assert!(
            err.starts_with("hidden: at most 100000000 parameters, got "),
            "{err}"
        );
        assert!(Arch::mlp(vec![128, 64]).check_size(64, 10).is_ok());
        let deep = Arch::mlp(vec![8; 40]);
        assert_eq!(
            deep.validate(64).unwrap_err(),
            "hidden: at most 16 hidden layers, got 40"
        );
    }

    #[test]
    fn an_image_whose_product_wraps_is_refused() {
        let wrapping = Arch::Cnn {
            image: [2_305_843_009_213_693_960, 8, 1],
            filters: vec![4],
            hidden: vec![],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        let err = wrapping.validate(64).unwrap_err();
        assert!(
            err.starts_with("image: expected channels×height×width"),
            "{err}"
        );
    }
}
