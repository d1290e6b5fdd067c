//! Imported ONNX models: reading and checking a file at import (it parses, every operator is
//! one the runtime runs, one float input whose non-batch dimensions hold the features, and a
//! trial pass answers with the expected width), what `model.json` records of it ([`OnnxInfo`]),
//! and the loaded graph the inference engine runs ([`OnnxGraph`]).
//!
//! The graph runs on tract (`tract-onnx`, pure Rust), not on candle: candle-onnx's evaluator
//! walks the whole graph per call and candle's CPU convolution is slow, which left imported
//! models 11x to 42x behind onnxruntime (the README's ONNX benchmark has the figures). tract
//! parses, type-checks and optimises the graph once per loaded version into plans (one per
//! power-of-two batch, see [`plans`]; those for more than one row run the graph rewritten for
//! batches, see [`batched`]); a call only fills the input and runs them, on the calling thread
//! (tract runs one call single-threaded; serving runs calls side by side).

mod batched;
mod plans;

use crate::model::{ModelManifest, Normalisation};
use plans::Plans;
pub use slipway_api::{OnnxInfo, OutputKind};
use tract_onnx::pb::{
    self, GraphProto, ModelProto, TensorProto, tensor_proto::DataType,
    tensor_shape_proto::dimension::Value as Dim, type_proto,
};
use tract_onnx::prelude::Framework;

/// Operator domains the runtime knows; tract looks operators up by type alone, so a node of
/// any other domain is refused rather than run as a standard operator of the same name.
const DOMAINS: &[&str] = &["", "ai.onnx", "ai.onnx.ml", "com.microsoft"];

/// The operators the runtime runs (those tract's ONNX front end builds), sorted.
pub fn supported_operators() -> Vec<String> {
    let mut ops: Vec<String> = tract_onnx::onnx().op_register.0.into_keys().collect();
    ops.sort_unstable();
    ops
}

/// Why an ONNX file cannot be imported or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    #[error("onnx: the file is not a readable ONNX model ({0})")]
    Corrupt(String),
    #[error(
        "onnx: operator '{operator}' (node '{node}') is not supported by the runtime{more}; supported operators: {}",
        supported_operators().join(", ")
    )]
    Unsupported {
        operator: String,
        node: String,
        /// The other unsupported operators, if any, for the message.
        more: String,
    },
    #[error("onnx: {0}")]
    Graph(String),
    #[error("{field}: {reason}")]
    Spec { field: String, reason: String },
    #[error("onnx: a trial prediction failed: {0}")]
    Run(String),
}

/// What an import says about the model besides the file.
#[derive(Debug, Clone, Default)]
pub struct ImportSpec {
    /// Input columns, in the order the graph reads them (all numbers).
    pub features: Vec<String>,
    /// `classification` or `regression`.
    pub task: String,
    /// Class names by output index (classification); `0`…`k-1` when empty.
    pub labels: Vec<String>,
    pub output_kind: Option<OutputKind>,
    /// Name, version and digest of the dataset given as the model's data (the drift baseline).
    pub dataset: serde_json::Value,
}

/// A loaded graph, planned once, ready to run batches.
#[derive(Debug)]
pub struct OnnxGraph {
    plans: Plans,
    input: String,
    /// The input's dimensions after the batch one; a row's features fill them in order.
    row_shape: Vec<usize>,
    output: String,
    /// What the file says of itself, for [`OnnxGraph::info`].
    opset: i64,
    producer: String,
    producer_version: String,
    ir_version: i64,
    operators: Vec<String>,
}

fn graph_of(model: &ModelProto) -> Result<&GraphProto, OnnxError> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::Graph("the model has no graph".into()))
}

/// Every operator of `graph` and its subgraphs as (domain-qualified op, node name, known to the
/// runtime), and every tensor it holds (weights and constants) into `tensors`.
fn walk<'a>(
    graph: &'a GraphProto,
    known: &dyn Fn(&str) -> bool,
    found: &mut Vec<(String, String, bool)>,
    tensors: &mut Vec<&'a TensorProto>,
) {
    tensors.extend(&graph.initializer);
    for node in &graph.node {
        let (op, supported) = match node.domain.as_str() {
            "" | "ai.onnx" => (node.op_type.clone(), known(&node.op_type)),
            domain => (
                format!("{domain}.{}", node.op_type),
                DOMAINS.contains(&domain) && known(&node.op_type),
            ),
        };
        found.push((op, node.name.clone(), supported));
        for attribute in &node.attribute {
            tensors.extend(&attribute.t);
            tensors.extend(&attribute.tensors);
            if let Some(sub) = &attribute.g {
                walk(sub, known, found, tensors);
            }
            for sub in &attribute.graphs {
                walk(sub, known, found, tensors);
            }
        }
    }
}

/// Refuses the first operator the runtime lacks, naming its node (and the other missing ones).
fn check_operators(used: &[(String, String, bool)]) -> Result<(), OnnxError> {
    let unsupported: Vec<&(String, String, bool)> = used.iter().filter(|op| !op.2).collect();
    let Some((operator, node, _)) = unsupported.first() else {
        return Ok(());
    };
    let mut others: Vec<&str> = unsupported
        .iter()
        .map(|(op, _, _)| op.as_str())
        .filter(|op| op != operator)
        .collect();
    others.sort_unstable();
    others.dedup();
    Err(OnnxError::Unsupported {
        operator: operator.clone(),
        node: node.clone(),
        more: if others.is_empty() {
            String::new()
        } else {
            format!(" (nor are {})", others.join(", "))
        },
    })
}

/// The rows' input: its name, its dimensions after the batch, and the batch's symbol name.
fn rows_input(graph: &GraphProto) -> Result<(String, Vec<usize>, String), OnnxError> {
    // Old exporters list the weights among the inputs too: the real inputs are the rest.
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|input| !graph.initializer.iter().any(|t| t.name == input.name))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(OnnxError::Graph(format!(
            "expected one input tensor (the rows), the graph has {}",
            inputs.len()
        )));
    };
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(OnnxError::Graph(format!(
            "input '{}' is not a tensor",
            input.name
        )));
    };
    if tensor.elem_type != DataType::Float as i32 {
        return Err(OnnxError::Graph(format!(
            "input '{}': expected float32 elements, got {:?}",
            input.name,
            DataType::try_from(tensor.elem_type)
                .map_or("an unknown type".into(), |t| format!("{t:?}"))
        )));
    }
    let dims = tensor
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or(&[]);
    let Some(batch) = dims.first() else {
        return Err(OnnxError::Graph(format!(
            "input '{}': expected a shape [batch, ...]",
            input.name
        )));
    };
    let mut row_shape = Vec::new();
    for (index, dim) in dims.iter().enumerate().skip(1) {
        match dim.value {
            Some(Dim::DimValue(size)) if size > 0 => row_shape.push(size as usize),
            _ => {
                return Err(OnnxError::Graph(format!(
                    "input '{}': dimension {index} must be a fixed size (only the first, the batch, may vary)",
                    input.name
                )));
            }
        }
    }
    // The exporter's own name for the batch keeps the graph's other shapes consistent with it.
    let symbol = match &batch.value {
        Some(Dim::DimParam(name)) if !name.is_empty() => name.clone(),
        _ => "batch".to_owned(),
    };
    Ok((input.name.clone(), row_shape, symbol))
}

impl OnnxGraph {
    /// Parses and checks a file, finds its input and output, and plans it for any number of
    /// rows; nothing is run.
    pub fn load(bytes: &[u8]) -> Result<Self, OnnxError> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|err| OnnxError::Corrupt(format!("{err:#}")))?;
        let graph = graph_of(&proto)?;
        let known = |op: &str| onnx.op_register.0.contains_key(op);
        let mut used = Vec::new();
        let mut tensors = Vec::new();
        walk(graph, &known, &mut used, &mut tensors);
        check_operators(&used)?;
        // The runtime would read such weights from a path the file names: a model brings its
        // weights inside, or it could make the server read its own files.
        if let Some(tensor) = tensors.iter().find(|t| {
            !t.external_data.is_empty()
                || t.data_location == Some(pb::tensor_proto::DataLocation::External as i32)
        }) {
            return Err(OnnxError::Graph(format!(
                "tensor '{}' keeps its data in an external file; save the model with its weights inside",
                tensor.name
            )));
        }
        let (input, row_shape, symbol) = rows_input(graph)?;
        let output = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| OnnxError::Graph("the graph has no output".into()))?;
        let model = onnx
            .model_for_proto_model(&proto)
            .map_err(|err| OnnxError::Graph(format!("the graph cannot be planned: {err:#}")))?;
        let opset = proto
            .opset_import
            .iter()
            .find(|set| set.domain.is_empty() || set.domain == "ai.onnx")
            .map_or(0, |set| set.version);
        // A rewrite the runtime cannot plan leaves the file's graph to serve every batch.
        let batched = batched::rewrite(&proto, opset)
            .and_then(|rewritten| onnx.model_for_proto_model(&rewritten).ok());
        let plans = Plans::new(&model, batched.as_ref(), &symbol, &row_shape, bytes.len())?;
        let mut operators: Vec<String> = used.into_iter().map(|(op, _, _)| op).collect();
        operators.sort_unstable();
        operators.dedup();
        Ok(Self {
            plans,
            input,
            row_shape,
            output,
            opset,
            producer: proto.producer_name,
            producer_version: proto.producer_version,
            ir_version: proto.ir_version,
            operators,
        })
    }

    /// Values one row holds: the product of the input's non-batch dimensions.
    pub fn row_width(&self) -> usize {
        self.row_shape.iter().product()
    }

    /// What `model.json` records of this graph.
    pub fn info(&self, output_kind: OutputKind) -> OnnxInfo {
        let mut input_shape = vec![-1];
        input_shape.extend(self.row_shape.iter().map(|&d| d as i64));
        OnnxInfo {
            input: self.input.clone(),
            input_shape,
            output: self.output.clone(),
            output_kind,
            opset: self.opset,
            producer: self.producer.clone(),
            producer_version: self.producer_version.clone(),
            ir_version: self.ir_version,
            operators: self.operators.clone(),
        }
    }

    /// Runs `rows` rows (`flat` holds `rows × row_width` values, row after row) through the
    /// graph; the output as float32, row after row, and its width.
    pub fn run(&self, flat: &[f32], rows: usize) -> Result<(Vec<f32>, usize), OnnxError> {
        if flat.len() != rows * self.row_width() {
            return Err(OnnxError::Run(format!(
                "expected {rows} × {} values, got {}",
                self.row_width(),
                flat.len()
            )));
        }
        self.plans.run(flat, rows, &self.row_shape, &self.output)
    }
}

/// Checks an ONNX file against what the import says of it and makes its `model.json`: the
/// file loads, the features fill its input, and a trial pass on two rows of zeros answers one
/// score per label (or one value for regression).
pub fn import_manifest(bytes: &[u8], spec: &ImportSpec) -> Result<ModelManifest, OnnxError> {
    let bad = |field: &str, reason: String| OnnxError::Spec {
        field: field.to_owned(),
        reason,
    };
    let regression = match spec.task.as_str() {
        "classification" => false,
        "regression" => true,
        other => {
            return Err(bad(
                "task",
                format!("expected classification or regression, got '{other}'"),
            ));
        }
    };
    if spec.features.is_empty() {
        return Err(bad(
            "features",
            "expected the model's input columns (a signature or a dataset)".into(),
        ));
    }
    let graph = OnnxGraph::load(bytes)?;
    if graph.row_width() != spec.features.len() {
        return Err(bad(
            "features",
            format!(
                "the graph's input '{}' takes {} values a row ({:?} after the batch), the signature names {} columns",
                graph.input,
                graph.row_width(),
                graph.row_shape,
                spec.features.len()
            ),
        ));
    }
    let output_kind = spec.output_kind.unwrap_or(if regression {
        OutputKind::Value
    } else {
        OutputKind::Logits
    });
    if regression != (output_kind == OutputKind::Value) {
        return Err(bad(
            "output_kind",
            format!(
                "a {} model's output is {}",
                spec.task,
                if regression {
                    "a value"
                } else {
                    "logits or probabilities"
                }
            ),
        ));
    }
    let (_, width) = graph.run(&vec![0.0; 2 * graph.row_width()], 2)?;
    let labels = if regression {
        if width != 1 {
            return Err(bad(
                "task",
                format!(
                    "a regression model answers one value a row; output '{}' has {width}",
                    graph.output
                ),
            ));
        }
        Vec::new()
    } else if spec.labels.is_empty() {
        (0..width).map(|i| i.to_string()).collect()
    } else if spec.labels.len() != width {
        return Err(bad(
            "labels",
            format!(
                "{} labels given, the output '{}' scores {width} classes",
                spec.labels.len(),
                graph.output
            ),
        ));
    } else {
        spec.labels.clone()
    };
    let info = graph.info(output_kind);
    let width = spec.features.len();
    Ok(ModelManifest {
        arch: "onnx".to_owned(),
        hyper_parameters: serde_json::json!({
            "opset": info.opset,
            "producer": format!("{} {}", info.producer, info.producer_version).trim().to_owned(),
        }),
        features: spec.features.clone(),
        labels,
        task: spec.task.clone(),
        // The graph reads the columns as they are: whatever scaling it needs is inside it.
        normalisation: Normalisation {
            mean: vec![0.0; width],
            std: vec![1.0; width],
        },
        preprocessing: None,
        signature: Vec::new(),
        target: None,
        baseline: None,
        dataset: spec.dataset.clone(),
        seed: None,
        code_version: String::new(),
        candle_version: String::new(),
        metrics: Default::default(),
        epochs_run: 0,
        stopped_early: false,
        onnx: Some(info),
    })
}

#[cfg(test)]
mod tests;
