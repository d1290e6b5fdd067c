//! Imported ONNX models: reading and checking a file at import (it parses, every operator is
//! one the runtime runs, one float input whose non-batch dimensions hold the features, and a
//! trial pass answers with the expected width), what `model.json` records of it ([`OnnxInfo`]),
//! and the loaded graph the inference engine runs ([`OnnxGraph`]).
//!
//! The graph runs on candle through `candle-onnx`. It is parsed once per loaded version and its
//! weights are turned into tensors once: each pass hands the runtime those tensors (shared, not
//! copied) beside the input, instead of letting it convert every initializer per request.

use crate::model::{ModelManifest, Normalisation};
use candle_core::{DType, Device, Tensor};
use candle_onnx::onnx::{GraphProto, ModelProto, tensor_proto::DataType, type_proto};
use prost::Message;
pub use slipway_api::{OnnxInfo, OutputKind};
use std::collections::HashMap;

/// The operators the runtime evaluates (those `candle_onnx::simple_eval` implements). A file
/// with any other is refused at import, so it never fails on its first request instead.
pub const SUPPORTED_OPERATORS: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Cos",
    "CumSum",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "GatherElements",
    "Gelu",
    "Gemm",
    "Greater",
    "GreaterOrEqual",
    "HardSwish",
    "Identity",
    "If",
    "LSTM",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "RNN",
    "Range",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Tile",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// Why an ONNX file cannot be imported or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    #[error("onnx: the file is not a readable ONNX model ({0})")]
    Corrupt(String),
    #[error(
        "onnx: operator '{operator}' (node '{node}') is not supported by the runtime{more}; supported operators: {}",
        SUPPORTED_OPERATORS.join(", ")
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

/// A loaded graph, ready to run batches.
#[derive(Debug)]
pub struct OnnxGraph {
    /// The model without its initializers, which live in `weights`.
    model: ModelProto,
    weights: HashMap<String, Tensor>,
    input: String,
    /// The input's dimensions after the batch one; a row's features fill them in order.
    row_shape: Vec<usize>,
    output: String,
}

fn graph_of(model: &ModelProto) -> Result<&GraphProto, OnnxError> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::Graph("the model has no graph".into()))
}

/// Every operator of `graph` and its subgraphs as (domain-qualified op, node name).
fn operators(graph: &GraphProto, found: &mut Vec<(String, String)>) {
    for node in &graph.node {
        let mut op = match node.domain.as_str() {
            "" | "ai.onnx" => node.op_type.clone(),
            domain => format!("{domain}.{}", node.op_type),
        };
        // The runtime reads ReduceMean's axes only as an attribute (opset 17 and before); the
        // opset-18 form, axes as a second input, would silently reduce every axis.
        if op == "ReduceMean" && node.input.get(1).is_some_and(|axes| !axes.is_empty()) {
            op = "ReduceMean (axes as an input, opset 18+)".to_owned();
        }
        found.push((op, node.name.clone()));
        for attribute in &node.attribute {
            if let Some(sub) = &attribute.g {
                operators(sub, found);
            }
            for sub in &attribute.graphs {
                operators(sub, found);
            }
        }
    }
}

impl OnnxGraph {
    /// Parses and checks a file, turns its weights into tensors, and finds its input and
    /// output; nothing is run.
    pub fn load(bytes: &[u8]) -> Result<Self, OnnxError> {
        let mut model =
            ModelProto::decode(bytes).map_err(|err| OnnxError::Corrupt(err.to_string()))?;
        let graph = graph_of(&model)?;
        let mut used = Vec::new();
        operators(graph, &mut used);
        let unsupported: Vec<&(String, String)> = used
            .iter()
            .filter(|(op, _)| !SUPPORTED_OPERATORS.contains(&op.as_str()))
            .collect();
        if let Some((operator, node)) = unsupported.first() {
            let mut others: Vec<&str> = unsupported
                .iter()
                .map(|(op, _)| op.as_str())
                .filter(|op| op != operator)
                .collect();
            others.sort_unstable();
            others.dedup();
            return Err(OnnxError::Unsupported {
                operator: operator.clone(),
                node: node.clone(),
                more: if others.is_empty() {
                    String::new()
                } else {
                    format!(" (nor are {})", others.join(", "))
                },
            });
        }
        let initialised: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        // Old exporters list the weights among the inputs too: the real inputs are the rest.
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|input| !initialised.contains(&input.name.as_str()))
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
        use candle_onnx::onnx::tensor_shape_proto::dimension::Value as Dim;
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
        if dims.is_empty() {
            return Err(OnnxError::Graph(format!(
                "input '{}': expected a shape [batch, ...]",
                input.name
            )));
        }
        let input_name = input.name.clone();
        let output = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| OnnxError::Graph("the graph has no output".into()))?;
        let mut weights = HashMap::new();
        for initializer in &graph.initializer {
            let tensor = candle_onnx::eval::get_tensor(initializer, &initializer.name)
                .map_err(|err| OnnxError::Graph(format!("weight '{}': {err}", initializer.name)))?;
            weights.insert(initializer.name.clone(), tensor);
        }
        if let Some(graph) = model.graph.as_mut() {
            graph.initializer.clear();
        }
        Ok(Self {
            model,
            weights,
            input: input_name,
            row_shape,
            output,
        })
    }

    /// Values one row holds: the product of the input's non-batch dimensions.
    pub fn row_width(&self) -> usize {
        self.row_shape.iter().product()
    }

    /// What `model.json` records of this graph.
    pub fn info(&self, output_kind: OutputKind) -> OnnxInfo {
        let opset = self
            .model
            .opset_import
            .iter()
            .find(|set| set.domain.is_empty() || set.domain == "ai.onnx")
            .map_or(0, |set| set.version);
        let mut used = Vec::new();
        if let Some(graph) = &self.model.graph {
            operators(graph, &mut used);
        }
        let mut ops: Vec<String> = used.into_iter().map(|(op, _)| op).collect();
        ops.sort_unstable();
        ops.dedup();
        let mut input_shape = vec![-1];
        input_shape.extend(self.row_shape.iter().map(|&d| d as i64));
        OnnxInfo {
            input: self.input.clone(),
            input_shape,
            output: self.output.clone(),
            output_kind,
            opset,
            producer: self.model.producer_name.clone(),
            producer_version: self.model.producer_version.clone(),
            ir_version: self.model.ir_version,
            operators: ops,
        }
    }

    /// Runs rows (`rows × row_width`) through the graph; the output as `rows × outputs`.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let rows = xs.dim(0)?;
        let mut shape = vec![rows];
        shape.extend_from_slice(&self.row_shape);
        let mut values = self.weights.clone();
        values.insert(self.input.clone(), xs.reshape(shape)?);
        let mut outputs = candle_onnx::simple_eval(&self.model, values)?;
        let output = outputs.remove(&self.output).ok_or_else(|| {
            candle_core::Error::Msg(format!("the graph gave no output '{}'", self.output))
        })?;
        output.to_dtype(DType::F32)?.reshape((rows, ()))
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
    let trial = Tensor::zeros((2, graph.row_width()), DType::F32, &Device::Cpu)
        .and_then(|xs| graph.forward(&xs))
        .map_err(|err| OnnxError::Run(err.to_string()))?;
    let width = trial
        .dim(1)
        .map_err(|err| OnnxError::Run(err.to_string()))?;
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
