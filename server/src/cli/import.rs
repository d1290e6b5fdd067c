//! `slipway models import`: an ONNX file made elsewhere becomes the next version of a model.
//! The input columns come from a signature file, from a CSV's header (the CSV is registered as
//! a dataset: the version's data, its drift baseline), or from a registered dataset.

use anyhow::Context;
use slipway_api::{Client, ImportModel, ModelVersion};
use std::path::{Path, PathBuf};

/// The flags of `slipway models import`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  slipway models import digits-onnx --onnx mlp.onnx --features-from digits.csv --label label
  slipway models import churn --onnx churn.onnx --signature churn-signature.json --run 42 \\
      --reason \"PyTorch baseline from the notebook\"

A signature file names the inputs in the order the graph reads them, and may give the labels,
task and output:
  {\"inputs\": [\"age\", \"tenure\", \"spend\"], \"labels\": [\"stays\", \"leaves\"],
   \"task\": \"classification\", \"output_kind\": \"logits\"}
(inputs may also be objects: {\"name\": \"age\", \"type\": \"numeric\"}; only numbers are read).")]
pub struct ImportArgs {
    /// The registered model (created by its first version).
    pub name: String,
    /// The `.onnx` file: one float input [batch, ...] whose other dimensions hold the features
    /// in order, and an output of class scores (or one value for regression).
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,
    /// A JSON signature: the input columns in order, optionally labels, task and output.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["features_from", "dataset"])]
    pub signature: Option<PathBuf>,
    /// A CSV of the model's data: its columns but --label are the inputs, in order. It is
    /// registered as a dataset (named by --dataset-name), the version's drift baseline and
    /// `evaluate` default.
    #[arg(
        long,
        value_name = "CSV",
        requires = "label",
        conflicts_with = "dataset"
    )]
    pub features_from: Option<PathBuf>,
    /// The label column of --features-from.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// The dataset name for --features-from (default: the file's name without extension).
    #[arg(long, value_name = "NAME", requires = "features_from")]
    pub dataset_name: Option<String>,
    /// A registered dataset, NAME or NAME:VERSION, whose feature columns are the inputs.
    #[arg(long, value_name = "DATASET")]
    pub dataset: Option<String>,
    /// Class names by output index, comma-separated (default: 0, 1, …).
    #[arg(long, value_name = "A,B,C")]
    pub labels: Option<String>,
    /// classification or regression (default: the dataset's task, else classification).
    #[arg(long)]
    pub task: Option<String>,
    /// What the graph's output holds: logits (softmax is applied; the default),
    /// probabilities, or value (regression).
    #[arg(long, value_name = "KIND")]
    pub output_kind: Option<String>,
    /// The run that produced the model, recorded as its source.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: Option<i64>,
    /// A note shown with the version.
    #[arg(long)]
    pub description: Option<String>,
    /// Why, for the audit log.
    #[arg(long)]
    pub reason: Option<String>,
}

/// Reads a signature file into the import's query, refusing non-numeric inputs by name.
fn read_signature(path: &Path, request: &mut ImportModel) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--signature: cannot read {}", path.display()))?;
    slipway_api::signature::apply_signature(&text, request)
        .map_err(|err| anyhow::anyhow!("--signature: {}: {err}", path.display()))
}

/// Registers `--features-from` as a dataset and answers its `NAME:VERSION`.
async fn register_features(
    client: &Client,
    csv: &Path,
    label: &str,
    name: Option<&str>,
    task: Option<&str>,
) -> anyhow::Result<String> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => csv
            .file_stem()
            .and_then(|stem| stem.to_str())
            .map(str::to_owned)
            .context(
                "--features-from: the file has no name to register it under; give --dataset-name",
            )?,
    };
    let body = tokio::fs::read(csv)
        .await
        .with_context(|| format!("--features-from: cannot read {}", csv.display()))?;
    let uploaded = client.upload_dataset(&name, label, task, body).await?;
    Ok(format!(
        "{}:{}",
        uploaded.dataset.name, uploaded.dataset.version
    ))
}

/// Runs `slipway models import`.
pub async fn import(client: &Client, args: &ImportArgs) -> anyhow::Result<ModelVersion> {
    let onnx = tokio::fs::read(&args.onnx)
        .await
        .with_context(|| format!("--onnx: cannot read {}", args.onnx.display()))?;
    let mut request = ImportModel {
        features: None,
        dataset: args.dataset.clone(),
        task: args.task.clone(),
        labels: args.labels.clone(),
        output_kind: args.output_kind.clone(),
        run_id: args.run_id,
        description: args.description.clone(),
    };
    if let Some(path) = &args.signature {
        read_signature(path, &mut request)?;
    }
    if let (Some(csv), Some(label)) = (&args.features_from, &args.label) {
        request.dataset = Some(
            register_features(
                client,
                csv,
                label,
                args.dataset_name.as_deref(),
                args.task.as_deref(),
            )
            .await?,
        );
    }
    if request.features.is_none() && request.dataset.is_none() {
        anyhow::bail!(
            "name the model's inputs: --signature FILE, --features-from CSV --label COLUMN, or --dataset NAME"
        );
    }
    Ok(client
        .import_model(&args.name, &request, onnx, args.reason.as_deref())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_file_fills_the_query_and_refuses_text_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sig.json");
        std::fs::write(
            &path,
            r#"{"inputs": ["a", {"name": "b", "type": "numeric"}], "labels": ["no", "yes"], "output_kind": "logits"}"#,
        )
        .unwrap();
        let mut request = ImportModel::default();
        read_signature(&path, &mut request).unwrap();
        assert_eq!(request.features.as_deref(), Some("a,b"));
        assert_eq!(request.labels.as_deref(), Some("no,yes"));
        assert_eq!(request.output_kind.as_deref(), Some("logits"));
        std::fs::write(
            &path,
            r#"{"inputs": [{"name": "city", "type": "categorical"}]}"#,
        )
        .unwrap();
        let err = read_signature(&path, &mut ImportModel::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("inputs[0] ('city') is categorical"), "{err}");
    }
}
