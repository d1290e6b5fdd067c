//! The specs of the ML job kinds (`train`, `evaluate`): what the CLI builds, the server checks
//! at submission (so a typo is a 400, not a failed job an hour later) and the worker runs.

use serde::{Deserialize, Serialize};

/// The spec of a `train` job. Absent fields take the trainer's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub dataset: String,
    /// The dataset version (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// `logreg`, `mlp` or `cnn` (default `mlp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Dense layer sizes (mlp, cnn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// Convolution channel counts (cnn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<usize>>,
    /// Channels, height and width of one row (cnn; default: a square single-channel image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<[usize; 3]>,
    /// `relu`, `tanh`, `gelu` or `sigmoid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// `adamw` or `sgd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimiser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Epochs without a better validation loss before stopping early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// The run's experiment (default: the dataset's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// Register the trained model as a new version of this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_as: Option<String>,
}

/// Most hidden (dense) layers a model may have. Deeper plain MLPs do not train better on
/// tabular rows, and each layer adds a forward and a backward step to every batch.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// Widest dense layer or most channels of a convolution: the trainer's own bound.
pub const MAX_LAYER_WIDTH: usize = 4096;
/// Most convolution layers (each halves the image while it is at least 2×2).
pub const MAX_CONV_LAYERS: usize = 6;
/// Most values in one image (channels × height × width): 4096×4096 single-channel pixels,
/// far more than a CSV row holds in practice.
pub const MAX_IMAGE_VALUES: usize = 1 << 24;
/// Most trainable parameters of a model: 100 M f32 weights are 400 MB, so the weights file
/// stays under the default artifact limit (1 GiB), and training (weights, gradients and the
/// optimiser's two moments, 1.6 GB) fits in a worker's memory.
pub const MAX_PARAMETERS: u64 = 100_000_000;

/// The keys `TrainSpec::set_param` takes.
pub const TRAIN_PARAMS: &str = "hidden, filters, image, activation, dropout, optimiser, momentum, epochs, batch_size, learning_rate, weight_decay, patience";

fn whole(key: &str, value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{key}: expected a whole number, got '{value}'"))
}

fn number(key: &str, value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{key}: expected a number, got '{value}'"))
}

fn sizes(key: &str, value: &str, separator: char) -> Result<Vec<usize>, String> {
    value
        .split(separator)
        .map(|part| part.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("{key}: expected whole numbers separated by '{separator}', got '{value}'")
        })
}

impl TrainSpec {
    /// Sets one hyper-parameter from its text form (`hidden=128,64`, `image=1x8x8`, …).
    pub fn set_param(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "hidden" => self.hidden = Some(sizes(key, value, ',')?),
            "filters" => self.filters = Some(sizes(key, value, ',')?),
            "image" => {
                let parts = sizes(key, value, 'x')?;
                let shape: [usize; 3] = parts.try_into().map_err(|_| {
                    format!("image: expected CHANNELSxHEIGHTxWIDTH such as 1x8x8, got '{value}'")
                })?;
                self.image = Some(shape);
            }
            "activation" => self.activation = Some(value.trim().to_owned()),
            "optimiser" | "optimizer" => self.optimiser = Some(value.trim().to_owned()),
            "dropout" => self.dropout = Some(number(key, value)?),
            "momentum" => self.momentum = Some(number(key, value)?),
            "learning_rate" => self.learning_rate = Some(number(key, value)?),
            "weight_decay" => self.weight_decay = Some(number(key, value)?),
            "epochs" => self.epochs = Some(whole(key, value)?),
            "batch_size" => self.batch_size = Some(whole(key, value)?),
            "patience" => self.patience = Some(whole(key, value)?),
            other => {
                return Err(format!(
                    "{other}: unknown parameter; expected one of {TRAIN_PARAMS}"
                ));
            }
        }
        Ok(())
    }

    /// Checks what can be checked without the data; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.dataset.trim().is_empty() {
            return Err("spec.dataset: expected a dataset name".into());
        }
        if let Some(arch) = &self.arch
            && !["logreg", "mlp", "cnn"].contains(&arch.as_str())
        {
            return Err(format!(
                "spec.arch: expected logreg, mlp or cnn, got '{arch}'"
            ));
        }
        if let Some(activation) = &self.activation
            && !["relu", "tanh", "gelu", "sigmoid"].contains(&activation.as_str())
        {
            return Err(format!(
                "spec.activation: expected relu, tanh, gelu or sigmoid, got '{activation}'"
            ));
        }
        if let Some(optimiser) = &self.optimiser
            && !["adamw", "sgd"].contains(&optimiser.as_str())
        {
            return Err(format!(
                "spec.optimiser: expected adamw or sgd, got '{optimiser}'"
            ));
        }
        if let Some(dropout) = self.dropout
            && !(0.0..0.95).contains(&dropout)
        {
            return Err(format!("spec.dropout: expected 0 to 0.95, got {dropout}"));
        }
        if let Some(momentum) = self.momentum
            && !(0.0..1.0).contains(&momentum)
        {
            return Err(format!(
                "spec.momentum: expected 0 or more and below 1, got {momentum}"
            ));
        }
        if let Some(epochs) = self.epochs
            && !(1..=10_000).contains(&epochs)
        {
            return Err(format!("spec.epochs: expected 1 to 10000, got {epochs}"));
        }
        if self.batch_size == Some(0) {
            return Err("spec.batch_size: expected at least 1".into());
        }
        if let Some(rate) = self.learning_rate
            && !(rate > 0.0 && rate < 10.0)
        {
            return Err(format!(
                "spec.learning_rate: expected a number above 0 and below 10, got {rate}"
            ));
        }
        if let Some(hidden) = &self.hidden {
            check_layers("spec.hidden", "hidden layers", hidden, MAX_HIDDEN_LAYERS)?;
        }
        if let Some(filters) = &self.filters {
            check_layers(
                "spec.filters",
                "convolution layers",
                filters,
                MAX_CONV_LAYERS,
            )?;
        }
        if let Some(image) = self.image {
            image_values(image)?;
        }
        Ok(())
    }
}

/// Checks a list of layer sizes: how many, and each one's width.
fn check_layers(field: &str, what: &str, sizes: &[usize], most: usize) -> Result<(), String> {
    if sizes.len() > most {
        return Err(format!(
            "{field}: at most {most} {what}, got {}",
            sizes.len()
        ));
    }
    for (i, &size) in sizes.iter().enumerate() {
        if !(1..=MAX_LAYER_WIDTH).contains(&size) {
            return Err(format!(
                "{field}[{i}]: expected a width from 1 to {MAX_LAYER_WIDTH}, got {size}"
            ));
        }
    }
    Ok(())
}

/// The number of values in an image of shape `[channels, height, width]`, multiplied with
/// overflow checks (a wrapped product could pass for a small one), at most
/// [`MAX_IMAGE_VALUES`].
pub fn image_values(image: [usize; 3]) -> Result<usize, String> {
    let [channels, height, width] = image;
    let refuse = || {
        format!(
            "spec.image: expected channels×height×width from 1 to {MAX_IMAGE_VALUES} values, got {channels}×{height}×{width}"
        )
    };
    if image.contains(&0) {
        return Err(refuse());
    }
    channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
        .filter(|&n| n <= MAX_IMAGE_VALUES)
        .ok_or_else(refuse)
}

/// The spec of an `evaluate` job: a model on a dataset, optionally compared with another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateSpec {
    /// What to evaluate.
    pub model: ModelRef,
    /// The dataset (default: the model's training data, on its held-out test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Compare with this model on the same rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_with: Option<ModelRef>,
    /// The metric that decides the verdict (default: accuracy, or rmse for regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// How much better the metric must be to count as better (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The run's experiment (default: `evaluations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
}

/// A model to load: a run's artifacts, or a registered version (by number or alias).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// A registered model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl ModelRef {
    /// Parses `run:42`, `digits:3`, `digits@champion` or `digits` (its latest version).
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            || format!("expected run:ID, NAME:VERSION, NAME@ALIAS or NAME, got '{text}'");
        if let Some(id) = text.strip_prefix("run:") {
            let run_id = id.parse().map_err(|_| expected())?;
            return Ok(Self {
                run_id: Some(run_id),
                ..Self::default()
            });
        }
        if let Some((name, alias)) = text.split_once('@') {
            if name.is_empty() || alias.is_empty() {
                return Err(expected());
            }
            return Ok(Self {
                name: Some(name.into()),
                alias: Some(alias.into()),
                ..Self::default()
            });
        }
        if let Some((name, version)) = text.split_once(':') {
            let version = version.parse().map_err(|_| expected())?;
            return Ok(Self {
                name: Some(name.into()),
                version: Some(version),
                ..Self::default()
            });
        }
        if text.is_empty() {
            return Err(expected());
        }
        Ok(Self {
            name: Some(text.into()),
            ..Self::default()
        })
    }

    /// Checks that exactly one way of naming the model is used.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let by_run = self.run_id.is_some() && self.name.is_none();
        let by_name = self.run_id.is_none()
            && self.name.as_ref().is_some_and(|name| !name.is_empty())
            && !(self.version.is_some() && self.alias.is_some());
        if (by_run && self.version.is_none() && self.alias.is_none()) || by_name {
            Ok(())
        } else {
            Err(format!(
                "{field}: expected either run_id, or name with an optional version or alias"
            ))
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.run_id, &self.name, &self.version, &self.alias) {
            (Some(run), ..) => write!(f, "run:{run}"),
            (None, Some(name), Some(version), _) => write!(f, "{name}:{version}"),
            (None, Some(name), None, Some(alias)) => write!(f, "{name}@{alias}"),
            (None, Some(name), None, None) => write!(f, "{name}"),
            _ => write!(f, "?"),
        }
    }
}

impl EvaluateSpec {
    /// Checks what can be checked without the models; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate("spec.model")?;
        if let Some(other) = &self.compare_with {
            other.validate("spec.compare_with")?;
        }
        if let Some(margin) = self.margin
            && !(margin.is_finite() && margin >= 0.0)
        {
            return Err(format!(
                "spec.margin: expected a number of 0 or more, got {margin}"
            ));
        }
        Ok(())
    }
}

/// The spec of a `deploy` job: the same change as `slipway deploy`, from a pipeline or a
/// schedule. The version may be given by alias (resolved when the job runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    pub deployment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Take the version this alias points at (needs `model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DeploySpec {
    /// Checks what can be checked before the job runs; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.deployment.trim().is_empty() {
            return Err("spec.deployment: expected a deployment name".into());
        }
        if self.alias.is_some() && self.version.is_some() {
            return Err("spec.alias: give either version or alias, not both".into());
        }
        if self.alias.is_some() && self.model.is_none() {
            return Err("spec.model: an alias needs the model it belongs to".into());
        }
        if let Some(percent) = self.canary_percent
            && !(0.0..=100.0).contains(&percent)
        {
            return Err(format!(
                "spec.canary_percent: expected 0 to 100, got {percent}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_bad_ones_are_named() {
        let mut spec = TrainSpec {
            dataset: "digits".into(),
            ..TrainSpec::default()
        };
        spec.set_param("hidden", "128, 64").unwrap();
        spec.set_param("image", "1x8x8").unwrap();
        spec.set_param("dropout", "0.2").unwrap();
        assert_eq!(spec.hidden, Some(vec![128, 64]));
        assert_eq!(spec.image, Some([1, 8, 8]));
        assert!(spec.validate().is_ok());
        let err = spec.set_param("epochs", "many").unwrap_err();
        assert_eq!(err, "epochs: expected a whole number, got 'many'");
        assert!(
            spec.set_param("image", "8x8")
                .unwrap_err()
                .starts_with("image:")
        );
        assert!(
            spec.set_param("colour", "red")
                .unwrap_err()
                .contains("unknown parameter")
        );
        spec.arch = Some("transformer".into());
        assert!(spec.validate().unwrap_err().starts_with("spec.arch"));
    }

    fn digits_spec() -> TrainSpec {
        TrainSpec {
            dataset: "digits".into(),
            ..TrainSpec::default()
        }
    }

    #[test]
    fn train_spec_with_too_many_layers_is_refused() {
        let mut spec = digits_spec();
        spec.hidden = Some(vec![8; 40]);
        assert_eq!(
            spec.validate().unwrap_err(),
            "spec.hidden: at most 16 hidden layers, got 40"
        );
        spec.hidden = Some(vec![8; MAX_HIDDEN_LAYERS]);
        assert!(spec.validate().is_ok());
        spec.hidden = Some(vec![64, 1_000_000]);
        assert_eq!(
            spec.validate().unwrap_err(),
            "spec.hidden[1]: expected a width from 1 to 4096, got 1000000"
        );
        spec.hidden = None;
        spec.filters = Some(vec![4; 7]);
        assert_eq!(
            spec.validate().unwrap_err(),
            "spec.filters: at most 6 convolution layers, got 7"
        );
    }

    #[test]
    fn image_shape_overflow_is_refused() {
        // 2305843009213693960 × 8 × 1 wraps to 64 in unchecked usize arithmetic.
        let wrapping = [2_305_843_009_213_693_960, 8, 1];
        assert_eq!(
            wrapping
                .iter()
                .fold(0usize.wrapping_add(1), |a, b| a.wrapping_mul(*b)),
            64
        );
        let mut spec = digits_spec();
        spec.image = Some(wrapping);
        let err = spec.validate().unwrap_err();
        assert!(
            err.starts_with("spec.image: expected channels×height×width"),
            "{err}"
        );
        assert!(err.contains("2305843009213693960×8×1"), "{err}");
        spec.image = Some([1, 0, 64]);
        assert!(spec.validate().is_err());
        spec.image = Some([1, 8, 8]);
        assert!(spec.validate().is_ok());
        assert_eq!(image_values([3, 32, 32]), Ok(3072));
    }

    #[test]
    fn model_references_parse_both_ways() {
        for text in ["run:42", "digits:3", "digits@champion", "digits"] {
            let parsed = ModelRef::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert!(parsed.validate("model").is_ok());
        }
        assert!(ModelRef::parse("run:x").is_err());
        assert!(ModelRef::parse("@champion").is_err());
        assert!(ModelRef::default().validate("spec.model").is_err());
    }
}
