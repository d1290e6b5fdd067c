use super::*;
use crate::dataset::Dataset;
use crate::inference::{Engine, Prediction};

const MLP: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_mlp.onnx");
const CNN: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_cnn.onnx");
const TRANSFORMER: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_transformer.onnx");
const LAYERNORM: &[u8] =
    include_bytes!("../../../tests/fixtures/onnx/digits_transformer_layernorm.onnx");
const LPPOOL: &[u8] = include_bytes!("../../../tests/fixtures/onnx/digits_cnn_lppool.onnx");
const CORRUPT: &[u8] = include_bytes!("../../../tests/fixtures/onnx/corrupt.onnx");

fn digits() -> Dataset {
    Dataset::from_csv(
        include_bytes!("../../../datasets/digits.csv"),
        "label",
        None,
    )
    .unwrap()
}

fn spec(features: &[String]) -> ImportSpec {
    ImportSpec {
        features: features.to_vec(),
        task: "classification".into(),
        ..ImportSpec::default()
    }
}

fn accuracy(file: &[u8], data: &Dataset) -> f64 {
    let manifest = import_manifest(file, &spec(&data.schema.features)).unwrap();
    let engine = Engine::load(&serde_json::to_vec(&manifest).unwrap(), file).unwrap();
    let predictions = engine.predict(&data.features).unwrap();
    let correct = predictions
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| {
            matches!(p, Prediction::Class { label, .. } if **label == *data.schema.classes[**l as usize])
        })
        .count();
    correct as f64 / data.len() as f64
}

#[test]
fn exported_models_import_and_predict_the_digits() {
    let data = digits();
    for (name, file, floor) in [
        ("mlp", MLP, 0.95),
        ("cnn", CNN, 0.95),
        ("transformer", TRANSFORMER, 0.6),
    ] {
        let accuracy = accuracy(file, &data);
        assert!(accuracy > floor, "{name}: accuracy {accuracy}");
    }
}

#[test]
fn layer_normalization_imports() {
    // The file's weights are untrained (it was the fixture of a refused import once), so only
    // the import is checked here; the end-to-end test compares its answers with onnxruntime's.
    let data = digits();
    let manifest = import_manifest(LAYERNORM, &spec(&data.schema.features)).unwrap();
    let operators = manifest.onnx.unwrap().operators;
    assert!(
        operators.contains(&"LayerNormalization".to_owned()),
        "{operators:?}"
    );
}

#[test]
fn the_manifest_records_the_graph_and_its_origin() {
    let data = digits();
    let manifest = import_manifest(CNN, &spec(&data.schema.features)).unwrap();
    let info = manifest.onnx.unwrap();
    assert_eq!(info.input, "image");
    assert_eq!(info.input_shape, [-1, 1, 8, 8]);
    assert_eq!(info.output, "logits");
    assert_eq!(info.opset, 17);
    assert_eq!(info.producer, "pytorch");
    assert!(info.operators.contains(&"Conv".to_owned()));
    assert_eq!(manifest.labels.len(), 10);
    assert_eq!(manifest.arch, "onnx");
}

#[test]
fn unsupported_operators_and_corrupt_files_are_refused_by_name() {
    let data = digits();
    let err = import_manifest(LPPOOL, &spec(&data.schema.features))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("onnx: operator 'LpPool' (node '/features/features.2/LpPool')"),
        "{err}"
    );
    assert!(err.contains("supported operators: Abs, "), "{err}");
    let err = import_manifest(CORRUPT, &spec(&data.schema.features))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("onnx: the file is not a readable ONNX model"),
        "{err}"
    );
}

#[test]
fn the_signature_and_labels_must_fit_the_graph() {
    let data = digits();
    let err = import_manifest(MLP, &spec(&data.schema.features[..10]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("features: the graph's input 'pixels' takes 64 values"),
        "{err}"
    );
    let mut three = spec(&data.schema.features);
    three.labels = vec!["a".into(), "b".into(), "c".into()];
    let err = import_manifest(MLP, &three).unwrap_err().to_string();
    assert_eq!(
        err,
        "labels: 3 labels given, the output 'logits' scores 10 classes"
    );
    let mut regression = spec(&data.schema.features);
    regression.task = "regression".into();
    let err = import_manifest(MLP, &regression).unwrap_err().to_string();
    assert!(
        err.starts_with("task: a regression model answers one value"),
        "{err}"
    );
}

#[test]
fn operators_of_other_domains_are_refused_even_when_a_standard_one_has_their_name() {
    use tract_onnx::pb::NodeProto;
    let node = |op: &str, domain: &str, name: &str| NodeProto {
        op_type: op.into(),
        domain: domain.into(),
        name: name.into(),
        ..NodeProto::default()
    };
    let graph = GraphProto {
        node: vec![
            node("Relu", "", "relu"),
            node("Relu", "com.example", "custom"),
            node("Det", "", "det"),
        ],
        ..GraphProto::default()
    };
    let onnx = tract_onnx::onnx();
    let known = |op: &str| onnx.op_register.0.contains_key(op);
    let (mut used, mut tensors) = (Vec::new(), Vec::new());
    walk(&graph, &known, &mut used, &mut tensors);
    let Err(OnnxError::Unsupported {
        operator,
        node,
        more,
    }) = check_operators(&used)
    else {
        panic!("{used:?} passed")
    };
    assert_eq!(
        (operator.as_str(), node.as_str()),
        ("com.example.Relu", "custom")
    );
    assert_eq!(more, " (nor are Det)");
}

#[test]
fn a_call_of_any_size_answers_as_its_rows_one_by_one() {
    let data = digits();
    for file in [MLP, CNN, TRANSFORMER] {
        let graph = OnnxGraph::load(file).unwrap();
        let width = graph.row_width();
        // 70 and 130 rows run in chunks (64 + 4 + 2; 64 + 64 + 2), 63 in six.
        for rows in [1, 3, 63, 64, 70, 130] {
            let flat: Vec<f32> = data.features[..rows]
                .iter()
                .flatten()
                .map(|&v| v as f32)
                .collect();
            let (together, out_width) = graph.run(&flat, rows).unwrap();
            assert_eq!(together.len(), rows * out_width);
            for (row, answer) in together.chunks(out_width).enumerate() {
                let (alone, _) = graph.run(&flat[row * width..][..width], 1).unwrap();
                for (a, b) in answer.iter().zip(&alone) {
                    assert!((a - b).abs() < 1e-5, "{rows} rows, row {row}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn values_that_are_not_whole_rows_are_refused() {
    let graph = OnnxGraph::load(MLP).unwrap();
    let err = graph.run(&[0.0; 65], 1).unwrap_err();
    assert_eq!(err, OnnxError::Run("expected 1 × 64 values, got 65".into()));
}

#[test]
fn a_large_graph_keeps_one_plan_for_any_batch_that_answers_the_same() {
    let data = digits();
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &CNN[..]).unwrap();
    let model = onnx.model_for_proto_model(&proto).unwrap();
    let rewritten = batched::rewrite(&proto, 17).unwrap();
    let batched = onnx.model_for_proto_model(&rewritten).unwrap();
    let row_shape = [1, 8, 8];
    // The file's graph in sized plans against the rewritten one planned for any batch.
    let sized = plans::Plans::new(&model, None, "batch", &row_shape, CNN.len()).unwrap();
    let any = plans::Plans::new(&model, Some(&batched), "batch", &row_shape, usize::MAX).unwrap();
    assert!(matches!(sized, plans::Plans::Sized(_)));
    assert!(matches!(any, plans::Plans::AnyBatch(_)));
    let flat: Vec<f32> = data.features[..70]
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    let (a, width) = sized.run(&flat, 70, &row_shape, "out").unwrap();
    let (b, any_width) = any.run(&flat, 70, &row_shape, "out").unwrap();
    assert_eq!((width, any_width), (10, 10));
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
