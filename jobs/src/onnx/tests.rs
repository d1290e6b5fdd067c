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
            matches!(p, Prediction::Class { label, .. } if *label == data.schema.classes[**l as usize])
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
