//! Training with candle: `logreg`, `mlp` and `cnn` models for classification (cross-entropy)
//! and regression (MSE), AdamW or SGD with momentum, seeded dropout, standardisation fitted on the training split, early stopping on
//! the validation loss (the best weights are kept), and held-out test metrics.

use crate::dataset::{Dataset, Task};
pub use crate::model::{Activation, Arch};
use crate::model::{Baseline, Network, Normalisation, TargetScale, set_variable};
use crate::preprocess::Preprocessing;
use crate::split::{Split, SplitMix64, stratified_split};
use candle_core::backprop::GradStore;
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW, VarMap};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The optimiser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimiser {
    #[default]
    Adamw,
    /// Stochastic gradient descent with momentum (`momentum`) and decoupled weight decay.
    Sgd,
}

/// Hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: Arch,
    #[serde(default)]
    pub optimiser: Optimiser,
    /// SGD's momentum (ignored by AdamW).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub validation_fraction: f64,
    pub test_fraction: f64,
}

fn default_momentum() -> f64 {
    0.9
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            arch: Arch::mlp(vec![64]),
            optimiser: Optimiser::Adamw,
            momentum: default_momentum(),
            epochs: 100,
            batch_size: 32,
            learning_rate: 0.005,
            weight_decay: 1e-4,
            seed: 7,
            patience: 15,
            validation_fraction: 0.15,
            test_fraction: 0.2,
        }
    }
}

/// The metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub loss: f64,
    pub val_loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rmse: Option<f64>,
}

/// A trained model.
#[derive(Debug)]
pub struct Trained {
    pub history: Vec<EpochMetrics>,
    /// `test_accuracy` or `test_rmse`, and `test_loss`, on the held-out test split.
    pub test_metrics: BTreeMap<String, f64>,
    /// The weights, as safetensors.
    pub weights: Vec<u8>,
    /// The standardisation fitted on the training split.
    pub normalisation: Normalisation,
    /// For a typed table: the preprocessing fitted on the training split.
    pub preprocessing: Option<Preprocessing>,
    /// For regression: the target's standardisation.
    pub target: Option<TargetScale>,
    /// The training split's majority class or mean, held against the model on the test split.
    pub baseline: Baseline,
    pub stopped_early: bool,
    /// The rows of each part, for the run's `split.json`.
    pub split: Split,
    /// Whether training was stopped from outside (cancelled).
    pub interrupted: bool,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("cannot write the weights: {0}")]
    Io(#[from] std::io::Error),
}

fn validate(config: &TrainConfig, inputs: usize, outputs: usize) -> Result<(), TrainError> {
    let bad = |what: &str| Err(TrainError::Config(what.to_owned()));
    if config.epochs == 0 || config.epochs > 10_000 {
        return bad("epochs: expected 1 to 10000");
    }
    if config.batch_size == 0 {
        return bad("batch_size: expected at least 1");
    }
    if !(config.learning_rate > 0.0 && config.learning_rate < 10.0) {
        return bad("learning_rate: expected a number above 0 and below 10");
    }
    if !(0.0..1.0).contains(&config.momentum) {
        return bad("momentum: expected 0 or more and below 1");
    }
    config.arch.validate(inputs).map_err(TrainError::Config)?;
    // Before any weight is allocated: the size is the product of the sizes checked above.
    config
        .arch
        .check_size(inputs, outputs)
        .map(drop)
        .map_err(TrainError::Config)
}

/// Standardises `rows` into an f32 tensor.
fn features(
    rows: &[&Vec<f64>],
    normalisation: &Normalisation,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let width = normalisation.mean.len();
    let mut flat = Vec::with_capacity(rows.len() * width);
    for row in rows {
        normalisation.extend_row(row, &mut flat);
    }
    Tensor::from_vec(flat, (rows.len(), width), device)
}

fn targets(labels: &[f64], task: Task, device: &Device) -> candle_core::Result<Tensor> {
    match task {
        Task::Classification => {
            let classes: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
            Tensor::from_vec(classes, labels.len(), device)
        }
        Task::Regression => {
            let values: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
            Tensor::from_vec(values, (labels.len(), 1), device)
        }
    }
}

fn loss(output: &Tensor, target: &Tensor, task: Task) -> candle_core::Result<Tensor> {
    match task {
        Task::Classification => candle_nn::loss::cross_entropy(output, target),
        Task::Regression => candle_nn::loss::mse(output, target),
    }
}

/// Loss and accuracy (classification) or RMSE (regression) of `model` on a split.
fn evaluate(
    model: &Network,
    xs: &Tensor,
    ys: &Tensor,
    task: Task,
) -> candle_core::Result<(f64, f64)> {
    let output = model.forward(xs)?;
    let loss_value = f64::from(loss(&output, ys, task)?.to_scalar::<f32>()?);
    let score = match task {
        Task::Classification => {
            let predicted = output.argmax(D::Minus1)?;
            let correct = predicted
                .eq(ys)?
                .to_dtype(DType::F32)?
                .sum_all()?
                .to_scalar::<f32>()?;
            f64::from(correct) / ys.dims()[0] as f64
        }
        Task::Regression => loss_value.sqrt(),
    };
    Ok((loss_value, score))
}

/// Trains a model on `data`. `on_epoch` sees each epoch's metrics and returns `false` to stop
/// (for cancellation); training then ends with the best weights so far.
pub fn train(
    data: &Dataset,
    config: &TrainConfig,
    on_epoch: impl FnMut(&EpochMetrics) -> bool,
) -> Result<Trained, TrainError> {
    train_until(data, config, || false, on_epoch)
}

/// [`train_on`] the default device (see [`crate::devices::training_device`]).
pub fn train_until(
    data: &Dataset,
    config: &TrainConfig,
    stop: impl Fn() -> bool,
    on_epoch: impl FnMut(&EpochMetrics) -> bool,
) -> Result<Trained, TrainError> {
    let device = crate::devices::training_device(None).map_err(TrainError::Config)?;
    train_on(&device, data, config, stop, on_epoch)
}

/// [`train`] on `device`, also asking `stop` before each batch, so that a cancel ends training
/// within one batch rather than one epoch; an epoch cut short counts for nothing.
pub fn train_on(
    device: &candle_core::Device,
    data: &Dataset,
    config: &TrainConfig,
    stop: impl Fn() -> bool,
    mut on_epoch: impl FnMut(&EpochMetrics) -> bool,
) -> Result<Trained, TrainError> {
    let outputs = match data.schema.task {
        Task::Classification => data.schema.classes.len(),
        Task::Regression => 1,
    };
    let task = data.schema.task;
    let split = stratified_split(
        data,
        config.validation_fraction,
        config.test_fraction,
        config.seed,
    );
    if split.train.is_empty() || split.validation.is_empty() || split.test.is_empty() {
        return Err(TrainError::Config(format!(
            "the dataset has {} rows: too few for training, validation and test splits",
            data.len()
        )));
    }
    let (matrix, preprocessing) = encoded(data, &split.train)?;
    let width = preprocessing
        .as_ref()
        .map_or(data.schema.features.len(), Preprocessing::width);
    validate(config, width, outputs)?;
    let device = device.clone();
    let train_labels: Vec<f64> = split.train.iter().map(|&i| data.labels[i]).collect();
    let target = (task == Task::Regression).then(|| TargetScale::fit(&train_labels));
    let baseline = baseline_of(data, &train_labels);
    let train_rows: Vec<&Vec<f64>> = split.train.iter().map(|&i| &matrix[i]).collect();
    let mean: Vec<f64> = (0..width)
        .map(|j| train_rows.iter().map(|row| row[j]).sum::<f64>() / train_rows.len() as f64)
        .collect();
    let std: Vec<f64> = (0..width)
        .map(|j| {
            let variance = train_rows
                .iter()
                .map(|row| (row[j] - mean[j]).powi(2))
                .sum::<f64>()
                / train_rows.len() as f64;
            // A constant feature carries no signal; dividing by 1 keeps it at zero.
            if variance > 1e-12 {
                variance.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    let normalisation = Normalisation { mean, std };
    let part = |indices: &[usize]| -> candle_core::Result<(Tensor, Tensor)> {
        let rows: Vec<&Vec<f64>> = indices.iter().map(|&i| &matrix[i]).collect();
        let labels: Vec<f64> = indices
            .iter()
            .map(|&i| target.map_or(data.labels[i], |t| (data.labels[i] - t.mean) / t.std))
            .collect();
        Ok((
            features(&rows, &normalisation, &device)?,
            targets(&labels, task, &device)?,
        ))
    };
    let (train_x, train_y) = part(&split.train)?;
    let (val_x, val_y) = part(&split.validation)?;
    let (test_x, test_y) = part(&split.test)?;

    let varmap = VarMap::new();
    let model = Network::create(&config.arch, width, outputs, &varmap, config.seed, &device)?;
    let mut optimizer = Stepper::new(config, varmap.all_vars())?;
    let mut dropout_rng = SplitMix64(config.seed ^ 0xD80F);

    let mut rng = SplitMix64(config.seed ^ 0x5EED);
    let mut order: Vec<u32> = (0..split.train.len() as u32).collect();
    let mut history = Vec::new();
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let mut since_best = 0;
    let (mut stopped_early, mut interrupted) = (false, false);
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(config.batch_size) {
            if stop() {
                interrupted = true;
                break;
            }
            let index = Tensor::from_slice(chunk, chunk.len(), &device)?;
            let xs = train_x.index_select(&index, 0)?;
            let ys = train_y.index_select(&index, 0)?;
            let output = model.forward_with(&xs, Some(&mut dropout_rng))?;
            let batch_loss = loss(&output, &ys, task)?;
            optimizer.backward_step(&batch_loss)?;
            total += f64::from(batch_loss.to_scalar::<f32>()?);
            batches += 1;
        }
        if interrupted {
            break;
        }
        let (val_loss, score) = evaluate(&model, &val_x, &val_y, task)?;
        let score = target.map_or(score, |t| score * t.std);
        let metrics = EpochMetrics {
            epoch,
            loss: total / f64::from(batches.max(1)),
            val_loss,
            val_accuracy: (task == Task::Classification).then_some(score),
            val_rmse: (task == Task::Regression).then_some(score),
        };
        let keep_going = on_epoch(&metrics);
        history.push(metrics);
        if best
            .as_ref()
            .is_none_or(|(best_loss, _)| val_loss < *best_loss)
        {
            best = Some((val_loss, snapshot(&varmap)?));
            since_best = 0;
        } else {
            since_best += 1;
        }
        if !keep_going {
            interrupted = true;
            break;
        }
        if since_best >= config.patience {
            stopped_early = true;
            break;
        }
    }
    if let Some((_, weights)) = &best {
        restore(&varmap, weights)?;
    }
    let (test_loss, test_score) = evaluate(&model, &test_x, &test_y, task)?;
    let test_score = target.map_or(test_score, |t| test_score * t.std);
    let mut test_metrics = BTreeMap::from([("test_loss".to_owned(), test_loss)]);
    let test_labels: Vec<f64> = split.test.iter().map(|&i| data.labels[i]).collect();
    test_metrics.extend(baseline_metrics(&baseline, data, &test_labels, test_score));
    Ok(Trained {
        history,
        test_metrics,
        weights: safetensors_bytes(&varmap)?,
        normalisation,
        preprocessing,
        target,
        baseline,
        stopped_early,
        split,
        interrupted,
    })
}

/// Every row's numbers, and the preprocessing that made them (none for plain data).
type Encoded<'a> = (Cow<'a, [Vec<f64>]>, Option<Preprocessing>);

/// The numbers the network reads for every row: the dataset's own for plain data, else the
/// cells through preprocessing fitted on the `train` rows only.
fn encoded<'a>(data: &'a Dataset, train: &[usize]) -> Result<Encoded<'a>, TrainError> {
    let (Some(cells), Some(table)) = (&data.cells, &data.schema.table) else {
        return Ok((Cow::Borrowed(data.features.as_slice()), None));
    };
    let bad = |err: crate::preprocess::CellError| TrainError::Config(err.to_string());
    let train_rows: Vec<&Vec<String>> = train.iter().map(|&i| &cells[i]).collect();
    let fitted = Preprocessing::fit(table, &data.schema.features, &train_rows).map_err(bad)?;
    let matrix = cells
        .iter()
        .map(|row| {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            let mut out = Vec::with_capacity(fitted.width());
            fitted.encode_into(&cells, &mut out).map(|()| out)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    Ok((Cow::Owned(matrix), Some(fitted)))
}

/// The training split's majority class (ties: the first) or mean target.
fn baseline_of(data: &Dataset, train_labels: &[f64]) -> Baseline {
    match data.schema.task {
        Task::Classification => {
            let mut counts = vec![0usize; data.schema.classes.len()];
            for &label in train_labels {
                if let Some(count) = counts.get_mut(label as usize) {
                    *count += 1;
                }
            }
            let best = counts
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(i, _)| i);
            Baseline::Majority(data.schema.classes.get(best).cloned().unwrap_or_default())
        }
        Task::Regression => {
            Baseline::Mean(train_labels.iter().sum::<f64>() / train_labels.len().max(1) as f64)
        }
    }
}

/// The baseline's score on the test labels (`baseline_accuracy` or `baseline_rmse`), R² for
/// regression, and `beats_baseline` (1 or 0) for the model's `score`.
pub(crate) fn baseline_metrics(
    baseline: &Baseline,
    data: &Dataset,
    test_labels: &[f64],
    score: f64,
) -> Vec<(String, f64)> {
    let n = test_labels.len().max(1) as f64;
    match baseline {
        Baseline::Majority(class) => {
            let index = data.schema.classes.iter().position(|c| c == class);
            let right = test_labels
                .iter()
                .filter(|&&l| Some(l as usize) == index)
                .count();
            let accuracy = right as f64 / n;
            vec![
                ("test_accuracy".into(), score),
                ("baseline_accuracy".into(), accuracy),
                (
                    "beats_baseline".into(),
                    f64::from(u8::from(score > accuracy)),
                ),
            ]
        }
        Baseline::Mean(mean) => {
            let rmse = (test_labels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt();
            let test_mean = test_labels.iter().sum::<f64>() / n;
            let total = test_labels
                .iter()
                .map(|l| (l - test_mean).powi(2))
                .sum::<f64>();
            let r2 = if total > 0.0 {
                1.0 - score.powi(2) * n / total
            } else {
                0.0
            };
            vec![
                ("test_rmse".into(), score),
                ("test_r2".into(), r2),
                ("baseline_rmse".into(), rmse),
                ("beats_baseline".into(), f64::from(u8::from(score < rmse))),
            ]
        }
    }
}

/// One optimiser step for either optimiser.
enum Stepper {
    AdamW(Box<candle_nn::AdamW>),
    Sgd(SgdMomentum),
}

impl Stepper {
    fn new(config: &TrainConfig, vars: Vec<Var>) -> candle_core::Result<Self> {
        Ok(match config.optimiser {
            Optimiser::Adamw => Self::AdamW(Box::new(candle_nn::AdamW::new(
                vars,
                ParamsAdamW {
                    lr: config.learning_rate,
                    weight_decay: config.weight_decay,
                    ..ParamsAdamW::default()
                },
            )?)),
            Optimiser::Sgd => Self::Sgd(SgdMomentum {
                velocity: vec![None; vars.len()],
                vars,
                learning_rate: config.learning_rate,
                momentum: config.momentum,
                weight_decay: config.weight_decay,
            }),
        })
    }

    fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        match self {
            Self::AdamW(adam) => adam.backward_step(loss),
            Self::Sgd(sgd) => sgd.step(&loss.backward()?),
        }
    }
}

/// SGD with (heavy-ball) momentum and decoupled weight decay; candle's own SGD has neither.
struct SgdMomentum {
    vars: Vec<Var>,
    velocity: Vec<Option<Tensor>>,
    learning_rate: f64,
    momentum: f64,
    weight_decay: f64,
}

impl SgdMomentum {
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for (var, velocity) in self.vars.iter().zip(&mut self.velocity) {
            let Some(grad) = grads.get(var) else { continue };
            let next = match velocity.take() {
                Some(previous) => ((previous * self.momentum)? + grad)?,
                None => grad.clone(),
            };
            let decayed = (var.as_tensor() * (1.0 - self.learning_rate * self.weight_decay))?;
            var.set(&(decayed - (&next * self.learning_rate)?)?)?;
            *velocity = Some(next);
        }
        Ok(())
    }
}

fn snapshot(varmap: &VarMap) -> candle_core::Result<Vec<(String, Tensor)>> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
    vars.iter()
        .map(|(name, var)| Ok((name.clone(), var.as_tensor().copy()?)))
        .collect()
}

fn restore(varmap: &VarMap, weights: &[(String, Tensor)]) -> candle_core::Result<()> {
    for (name, tensor) in weights {
        set_variable(varmap, name, tensor)?;
    }
    Ok(())
}

/// The weights as safetensors bytes (candle writes files, so through a temporary one).
fn safetensors_bytes(varmap: &VarMap) -> Result<Vec<u8>, TrainError> {
    let dir = std::env::temp_dir().join(format!("slipway-weights-{:016x}", rand_suffix()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("model.safetensors");
    let saved = varmap.save(&path);
    let bytes = saved
        .map_err(TrainError::from)
        .and_then(|()| Ok(std::fs::read(&path)?));
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn rand_suffix() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    SplitMix64(nanos ^ u64::from(std::process::id())).next_u64()
}

#[cfg(test)]
mod tests;
