//! The plans a loaded graph runs: made once per loaded version, never per call.
//!
//! A plan made for a symbolic batch works out every shape again on each call, and its
//! convolutions and matrix products cannot be specialised to the sizes they will see. On the
//! digits models that overhead is most of a call (the MLP's 64 rows took 39 µs on a symbolic
//! plan and 16 µs on one made for 64 rows; the CNN's one row 33 µs against 11). So a small
//! graph gets one plan per power-of-two batch up to [`LARGEST_BATCH`], and a call runs its rows
//! in chunks of those sizes, largest first (70 rows: 64, 4 and 2); rows are independent, so
//! chunking changes no answer. Each plan keeps its own copy of the packed weights, so a graph
//! larger than [`SIZED_PLANS_UP_TO`] keeps a single plan for any batch: there the kernels, not
//! the per-call overhead, take the time.

use super::OnnxError;
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::{
    Datum, InferenceFact, InferenceModel, InferenceModelExt, IntoRunnable, Tensor,
    TypedRunnableModel, TypedSimpleState, tvec,
};
use tract_onnx::tract_hir::internal::{IntoTValue, TDim};

/// The largest batch a plan is made for; larger calls run in chunks of this many rows.
const LARGEST_BATCH: usize = 64;
/// Files up to this size get a plan per batch size: at most seven copies of 4 MiB of weights a
/// loaded version. A larger model's pass is long enough that the symbolic plan's overhead,
/// tens of microseconds a call, is a small share of it.
const SIZED_PLANS_UP_TO: usize = 4 << 20;
/// How many idle run states a plan keeps: about the calls that run on it side by side.
const IDLE_STATES: usize = 16;

/// One planned graph and the run states of its finished calls.
#[derive(Debug)]
pub(super) struct Plan {
    runnable: Arc<TypedRunnableModel>,
    /// Run states of finished calls, reused: making one per call (a slot per node, each
    /// operator's state) costs about as much as a small model's whole pass.
    idle: Mutex<Vec<TypedSimpleState>>,
}

/// A graph's plans: one per power-of-two batch (`sized[i]` runs `2^i` rows), or one for any.
#[derive(Debug)]
pub(super) enum Plans {
    Sized(Vec<Plan>),
    AnyBatch(Plan),
}

impl Plan {
    /// Plans `model` with its input fixed to `shape` (whose first dimension is the batch).
    fn new(model: &InferenceModel, shape: Vec<TDim>) -> Result<Self, OnnxError> {
        let fact = InferenceFact::dt_shape(f32::datum_type(), shape);
        let runnable = model
            .clone()
            .with_input_fact(0, fact)
            .and_then(|model| model.into_optimized())
            .and_then(|model| model.into_runnable())
            .map_err(|err| OnnxError::Graph(format!("the graph cannot be planned: {err:#}")))?;
        Ok(Self {
            runnable,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs the rows of `input` and gives the first output, `output`, as float32 and its shape.
    fn run(&self, input: Tensor, output: &str) -> Result<(Vec<f32>, Vec<usize>), OnnxError> {
        let failed = |err: tract_onnx::prelude::TractError| OnnxError::Run(format!("{err:#}"));
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut state = match idle {
            Some(state) => state,
            None => self.runnable.spawn().map_err(failed)?,
        };
        let outputs = state.run(tvec![input.into_tvalue()]).map_err(failed)?;
        // Only a state whose run succeeded goes back: a failed one may hold a half turn.
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_STATES
        {
            idle.push(state);
        }
        let output = outputs
            .first()
            .ok_or_else(|| OnnxError::Run(format!("the graph gave no output '{output}'")))?;
        let output = output.cast_to::<f32>().map_err(failed)?;
        let values = output
            .to_plain_array_view::<f32>()
            .map_err(failed)?
            .iter()
            .copied()
            .collect();
        Ok((values, output.shape().to_vec()))
    }
}

impl Plans {
    /// Plans `model`, whose input rows have `row_shape` after the batch named `batch`; `bytes`
    /// is the file's size. `batched`, when given, is the same graph rewritten to run batches
    /// faster ([`super::batched`]): it serves every plan but the one-row one, and any
    /// size it cannot be planned for falls back to `model`.
    pub(super) fn new(
        model: &InferenceModel,
        batched: Option<&InferenceModel>,
        batch: &str,
        row_shape: &[usize],
        bytes: usize,
    ) -> Result<Self, OnnxError> {
        // `rows` is None for any batch: the batch is then the symbol of the model planned.
        let plan_on = |model: &InferenceModel, rows: Option<usize>| {
            let first = rows.map_or_else(|| TDim::from(model.symbols.sym(batch)), TDim::from);
            let shape = std::iter::once(first)
                .chain(row_shape.iter().map(|&d| TDim::from(d)))
                .collect();
            Plan::new(model, shape)
        };
        let plan = |rows: Option<usize>| match batched {
            Some(batched) if rows != Some(1) => {
                plan_on(batched, rows).or_else(|_| plan_on(model, rows))
            }
            _ => plan_on(model, rows),
        };
        let any_batch = || plan(None).map(Self::AnyBatch);
        if bytes > SIZED_PLANS_UP_TO {
            return any_batch();
        }
        let sized = (0..=LARGEST_BATCH.ilog2())
            .map(|power| plan(Some(1 << power)))
            .collect::<Result<Vec<_>, _>>();
        // A graph that plans for a symbolic batch but not for a fixed one is still served.
        sized.map(Self::Sized).or_else(|_| any_batch())
    }

    /// Runs `rows` rows (`flat` holds `rows × row_width` values, row after row) and gives the
    /// output as float32, row after row, and its width; `output` names it in errors.
    pub(super) fn run(
        &self,
        flat: &[f32],
        rows: usize,
        row_shape: &[usize],
        output: &str,
    ) -> Result<(Vec<f32>, usize), OnnxError> {
        let row_width: usize = row_shape.iter().product();
        let mut values = Vec::new();
        let mut width = None;
        let mut done = 0;
        while done < rows {
            let (plan, chunk) = match self {
                Self::AnyBatch(plan) => (plan, rows),
                Self::Sized(plans) => {
                    let power = (rows - done).ilog2().min(plans.len() as u32 - 1);
                    (&plans[power as usize], 1 << power)
                }
            };
            let mut shape = Vec::with_capacity(row_shape.len() + 1);
            shape.push(chunk);
            shape.extend_from_slice(row_shape);
            let input = Tensor::from_shape(&shape, &flat[done * row_width..][..chunk * row_width])
                .map_err(|err| OnnxError::Run(format!("{err:#}")))?;
            let (chunk_values, chunk_shape) = plan.run(input, output)?;
            let chunk_width = chunk_values.len().checked_div(chunk).unwrap_or(0);
            if chunk_width * chunk != chunk_values.len()
                || chunk_shape.first() != Some(&chunk)
                || width.is_some_and(|width| width != chunk_width)
            {
                return Err(OnnxError::Run(format!(
                    "output '{output}' has shape {chunk_shape:?} for {chunk} rows"
                )));
            }
            if values.capacity() == 0 {
                values.reserve_exact(rows * chunk_width);
            }
            values.extend_from_slice(&chunk_values);
            width = Some(chunk_width);
            done += chunk;
        }
        Ok((values, width.unwrap_or(0)))
    }
}
