//! The graph rewritten once at load for the plans that run batches: two rewrites that change
//! how much work a batch costs, never an answer.
//!
//! **The batch as a depth.** Every 2-D convolution and pooling runs the whole batch as one
//! image, the batch becoming a depth axis that the kernel spans one step of. tract gathers a
//! convolution's patches straight from the input only for a batch of one; for a batch it first
//! copies every patch (im2col), one image at a time, and multiplies each image apart. On the
//! digits CNN at 64 rows those copies and small products took most of the call (480 µs). Seen
//! as one image 64 deep, under a kernel one deep, the batch is a single image: the patches are
//! gathered in place and the batch is one matrix product (200 µs). A kernel one deep, with no
//! padding on that axis, never reads two images at once, so the answers are the same to the
//! bit. Each rewritten node is wrapped in the transposes between the two layouts (N×C×H×W and
//! 1×C×N×H×W), which tract's optimiser cancels between neighbouring nodes.
//!
//! **Pooling before the activation.** A Relu whose only reader is a MaxPool moves after it:
//! the largest of a window's values after Relu is Relu of the largest, and the pooled tensor
//! is a quarter the size (2×2 windows) for Relu to walk (the CNN: 189 against 201 µs).
//!
//! A batch of one gains nothing (10.9 against 11.6 µs), so its plan keeps the file's graph.

use std::collections::HashSet;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, attribute_proto::AttributeType,
    tensor_proto::DataType,
};

/// The initializer holding `[0]`, the axes input of Unsqueeze and Squeeze from opset 13.
const AXIS_ZERO: &str = "slipway/batch_as_depth/axis_zero";
/// Swaps the batch and channel axes of a 4-D tensor (its own inverse).
const SWAP_BATCH_AND_CHANNELS: [i64; 4] = [1, 0, 2, 3];

/// The graph of `model` rewritten for batches, or `None` when neither rewrite applies;
/// `opset` is the file's default-domain operator set.
pub(super) fn rewrite(model: &ModelProto, opset: i64) -> Option<ModelProto> {
    let graph = model.graph.as_ref()?;
    let deepens = graph.node.iter().any(|node| rewritable(graph, node));
    let swaps = relus_before_pools(graph);
    if !deepens && swaps.is_empty() {
        return None;
    }
    let mut model = model.clone();
    let graph = model.graph.as_mut()?;
    for (relu, pool) in swaps {
        pool_first(graph, relu, pool);
    }
    if !deepens {
        return Some(model);
    }
    if opset >= 13 {
        graph.initializer.push(TensorProto {
            name: AXIS_ZERO.to_owned(),
            dims: vec![1],
            data_type: DataType::Int64 as i32,
            int64_data: vec![0],
            ..Default::default()
        });
    }
    let mut deepened = HashSet::new();
    let nodes = std::mem::take(&mut graph.node);
    let mut rewritten = Vec::with_capacity(nodes.len() * 5);
    for node in nodes {
        if rewritable(graph, &node) {
            deepen(graph, node, opset, &mut deepened, &mut rewritten);
        } else {
            rewritten.push(node);
        }
    }
    graph.node = rewritten;
    Some(model)
}

fn standard(node: &NodeProto) -> bool {
    node.domain.is_empty() || node.domain == "ai.onnx"
}

/// The (Relu, MaxPool) node index pairs where the pool is the Relu's only reader (and its
/// output is not the graph's).
fn relus_before_pools(graph: &GraphProto) -> Vec<(usize, usize)> {
    let readers = |value: &str| {
        graph
            .node
            .iter()
            .filter(|node| node.input.iter().any(|input| input == value))
            .count()
            + graph
                .output
                .iter()
                .filter(|output| output.name == value)
                .count()
    };
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, pool)| pool.op_type == "MaxPool" && standard(pool) && pool.output.len() == 1)
        .filter_map(|(pool_index, pool)| {
            let input = pool.input.first()?;
            let relu_index = graph.node.iter().position(|node| {
                node.op_type == "Relu"
                    && standard(node)
                    && node.input.len() == 1
                    && node.output.first() == Some(input)
            })?;
            (readers(input) == 1).then_some((relu_index, pool_index))
        })
        .collect()
}

/// Makes `relu` (x → r) and `pool` (r → y) into `pool` (x → r) and `relu` (r → y), each taking
/// the other's place in the node order so that order stays topological.
fn pool_first(graph: &mut GraphProto, relu: usize, pool: usize) {
    let x = graph.node[relu].input[0].clone();
    let r = graph.node[relu].output[0].clone();
    let y = graph.node[pool].output[0].clone();
    graph.node[pool].input[0] = x;
    graph.node[pool].output[0] = r.clone();
    graph.node[relu].input[0] = r;
    graph.node[relu].output[0] = y;
    graph.node.swap(relu, pool);
}

/// Whether `node` is a 2-D convolution (with its kernel among the weights) or a 2-D pooling
/// with a single output, whose attributes have the lengths the rewrite expects.
fn rewritable(graph: &GraphProto, node: &NodeProto) -> bool {
    let single_output = node.output.first().is_some_and(|output| !output.is_empty())
        && node.output.iter().skip(1).all(String::is_empty);
    let two_d = match node.op_type.as_str() {
        "Conv" => node.input.get(1).is_some_and(|kernel| {
            graph
                .initializer
                .iter()
                .any(|t| &t.name == kernel && t.dims.len() == 4)
        }),
        "MaxPool" | "AveragePool" => {
            attribute(node, "kernel_shape").is_some_and(|a| a.ints.len() == 2)
        }
        _ => false,
    };
    let lengths_fit = node.attribute.iter().all(|a| match a.name.as_str() {
        "kernel_shape" | "strides" | "dilations" => a.ints.len() == 2,
        "pads" => a.ints.len() == 4,
        _ => true,
    });
    standard(node) && single_output && two_d && lengths_fit && !node.input.is_empty()
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Pushes `node` as its 3-D form between the layout changes; a convolution's kernel gets a
/// copy one deep (`deepened` names the copies made).
fn deepen(
    graph: &mut GraphProto,
    mut node: NodeProto,
    opset: i64,
    deepened: &mut HashSet<String>,
    out: &mut Vec<NodeProto>,
) {
    let base = format!("{}/batch_as_depth", node.output[0]);
    let name = |step: &str| format!("{base}/{step}");
    if node.op_type == "Conv" {
        let kernel = node.input[1].clone();
        let deep_kernel = format!("{kernel}/batch_as_depth");
        if deepened.insert(deep_kernel.clone())
            && let Some(original) = graph.initializer.iter().find(|t| t.name == kernel)
        {
            let mut copy = original.clone();
            copy.name = deep_kernel.clone();
            copy.dims.insert(2, 1);
            graph.initializer.push(copy);
        }
        node.input[1] = deep_kernel;
    }
    for attribute in &mut node.attribute {
        match attribute.name.as_str() {
            "kernel_shape" | "strides" | "dilations" => attribute.ints.insert(0, 1),
            "pads" => {
                attribute.ints.insert(2, 0);
                attribute.ints.insert(0, 0);
            }
            _ => {}
        }
    }
    let (input, output) = (node.input[0].clone(), node.output[0].clone());
    out.push(transpose(name("swapped"), input, name("swapped")));
    out.push(axis_zero(
        opset,
        "Unsqueeze",
        name("deep"),
        name("swapped"),
        name("deep"),
    ));
    node.input[0] = name("deep");
    node.output[0] = name("deep_out");
    out.push(node);
    out.push(axis_zero(
        opset,
        "Squeeze",
        name("flat_out"),
        name("deep_out"),
        name("flat_out"),
    ));
    out.push(transpose(name("out"), name("flat_out"), output));
}

fn transpose(name: String, input: String, output: String) -> NodeProto {
    NodeProto {
        op_type: "Transpose".to_owned(),
        name,
        input: vec![input],
        output: vec![output],
        attribute: vec![AttributeProto {
            name: "perm".to_owned(),
            r#type: AttributeType::Ints as i32,
            ints: SWAP_BATCH_AND_CHANNELS.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An Unsqueeze or Squeeze of axis 0, in the form `opset` reads (axes as an input from 13).
fn axis_zero(opset: i64, op: &str, name: String, input: String, output: String) -> NodeProto {
    let mut node = NodeProto {
        op_type: op.to_owned(),
        name,
        input: vec![input],
        output: vec![output],
        ..Default::default()
    };
    if opset >= 13 {
        node.input.push(AXIS_ZERO.to_owned());
    } else {
        node.attribute.push(AttributeProto {
            name: "axes".to_owned(),
            r#type: AttributeType::Ints as i32,
            ints: vec![0],
            ..Default::default()
        });
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::prelude::{Datum, IntoRunnable, IntoTValue};
    use tract_onnx::prelude::{Framework, InferenceFact, InferenceModelExt, Tensor, tvec};

    const CNN: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_cnn.onnx");
    const MLP: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_mlp.onnx");

    fn proto(bytes: &[u8]) -> ModelProto {
        tract_onnx::onnx()
            .proto_model_for_read(&mut &bytes[..])
            .expect("fixture parses")
    }

    /// Runs 64 rows of varied pixels through `model` planned for 64 rows.
    fn answers(model: &ModelProto) -> Vec<f32> {
        let rows = 64;
        let pixels: Vec<f32> = (0..rows * 64).map(|i| ((i * 7) % 17) as f32).collect();
        let plan = tract_onnx::onnx()
            .model_for_proto_model(model)
            .and_then(|m| {
                m.with_input_fact(
                    0,
                    InferenceFact::dt_shape(f32::datum_type(), tvec![rows, 1, 8, 8]),
                )
            })
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("the graph plans");
        let input = Tensor::from_shape(&[rows, 1, 8, 8], &pixels).expect("input");
        let output = plan
            .run(tvec![input.into_tvalue()])
            .expect("the graph runs");
        output[0]
            .to_plain_array_view::<f32>()
            .expect("float output")
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn a_cnn_answers_a_batch_exactly_as_before_with_every_convolution_and_pooling_3d() {
        let original = proto(CNN);
        let deep = rewrite(&original, 17).expect("the CNN has convolutions");
        let nodes = &deep.graph.as_ref().expect("graph").node;
        let kernels: Vec<usize> = nodes
            .iter()
            .filter(|n| ["Conv", "MaxPool"].contains(&n.op_type.as_str()))
            .map(|n| attribute(n, "kernel_shape").map_or(0, |a| a.ints.len()))
            .collect();
        assert_eq!(kernels.len(), 4, "two convolutions and two poolings");
        // A Conv without kernel_shape reads its rank from the kernel it was given.
        assert!(
            kernels.iter().all(|&rank| rank == 3 || rank == 0),
            "{kernels:?}"
        );
        // Each pooling now comes straight after its convolution, before the Relu.
        let order: Vec<&str> = nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .filter(|op| ["Conv", "Relu", "MaxPool"].contains(op))
            .collect();
        assert_eq!(
            order[..6],
            ["Conv", "MaxPool", "Relu", "Conv", "MaxPool", "Relu"]
        );
        assert_eq!(answers(&deep), answers(&original));
    }

    #[test]
    fn operator_sets_before_13_get_squeeze_axes_as_an_attribute() {
        let mut original = proto(CNN);
        for set in &mut original.opset_import {
            set.version = 12;
        }
        let deep = rewrite(&original, 12).expect("the CNN has convolutions");
        let graph = deep.graph.as_ref().expect("graph");
        assert!(!graph.initializer.iter().any(|t| t.name == AXIS_ZERO));
        assert!(
            graph
                .node
                .iter()
                .filter(|n| n.op_type == "Unsqueeze")
                .all(|n| attribute(n, "axes").is_some_and(|a| a.ints == [0]))
        );
        assert_eq!(answers(&deep), answers(&original));
    }

    #[test]
    fn a_graph_without_convolutions_is_left_alone() {
        assert!(rewrite(&proto(MLP), 17).is_none());
    }
}
