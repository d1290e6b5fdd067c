//! `slipway predict`: reads a CSV or JSON file, shapes its rows for the deployed model (the
//! model's features by name, its own label column kept aside for scoring, other columns left
//! out with a note), sends them in parts, and reports which version answered how many rows,
//! and how well when the file has labels.

use super::Cli;
use super::output::{self, OutputFormat, Table};
use anyhow::Context;
use serde::Serialize;
use slipway_api::{Client, ColumnType, InputColumn, PredictRequest, Prediction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows per predict request when a file is sent in parts: under the server's default limit.
const DEFAULT_BATCH_ROWS: u64 = 500;

/// Label column names recognised when the model's metadata names none (an imported model).
const USUAL_LABELS: [&str; 3] = ["label", "target", "y"];

/// The flags of `slipway predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// The deployment.
    pub name: String,
    /// A CSV with a header row: the model's feature columns (by name, in any order), and
    /// optionally the label column of the data it was trained on, which is compared with the
    /// predictions; other columns are left out (with a note on stderr). Or JSON:
    /// `{"instances": [...]}` or a bare array of instances.
    #[arg(long)]
    pub file: PathBuf,
    /// Requests with the same key go to the same variant.
    #[arg(long)]
    pub key: Option<String>,
    /// Rows per request; a file is sent in parts of this many rows, and each part may be
    /// answered by another version while a canary is live.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_rows: u64,
}

/// What the deployed model reads, from its version's metadata.
#[derive(Debug, Clone, Default)]
struct Shape {
    model: String,
    version: u32,
    /// Input features in the model's order (empty when unknown).
    features: Vec<String>,
    /// What each feature is: its type and whether a missing cell may be sent (as null).
    signature: Vec<InputColumn>,
    /// The label column of the dataset it was trained on, when known.
    label: Option<String>,
}

/// A file's rows, shaped for the model.
#[derive(Debug, Default)]
struct Rows {
    instances: Vec<serde_json::Value>,
    /// The label column's name and its cells, when the file has one.
    labels: Option<(String, Vec<String>)>,
    /// Columns the model does not read.
    ignored: Vec<String>,
}

/// What the deployment's primary version reads.
async fn shape(client: &Client, deployment: &str) -> anyhow::Result<Shape> {
    let spec = client.get_deployment(deployment).await?.spec;
    let version = client
        .model_version(&spec.model, &spec.primary.to_string())
        .await?;
    // The label column is the training dataset's; a dataset that cannot be read (or an
    // imported model without one) leaves it to the usual names.
    let mut label = None;
    if let Some(dataset) = &version.dataset
        && let Ok(versions) = client.dataset_versions(&dataset.name).await
    {
        label = versions
            .into_iter()
            .find(|d| d.version == dataset.version)
            .map(|d| d.label);
    }
    Ok(Shape {
        model: spec.model,
        version: spec.primary,
        features: version.features,
        signature: version.signature,
        label,
    })
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A CSV cell as the JSON value the model's signature asks for: a number for a numeric
/// column, text otherwise, null for an empty cell where missing is allowed. Without a
/// signature (an imported model) every cell is a number.
fn json_cell(column: Option<&InputColumn>, cell: &str) -> Result<serde_json::Value, &'static str> {
    let cell = cell.trim();
    let (numeric, missing_allowed) = column.map_or((true, false), |c| {
        (c.column_type == ColumnType::Numeric, c.missing_allowed)
    });
    match (numeric, cell.is_empty()) {
        (_, true) if missing_allowed => Ok(serde_json::Value::Null),
        (true, _) => cell
            .parse::<f64>()
            .map(serde_json::Value::from)
            .map_err(|_| "a number"),
        (false, true) => Err("a value"),
        (false, false) => Ok(serde_json::Value::from(cell)),
    }
}

/// Reads the rows of a CSV file for `shape`.
fn read_csv(bytes: &[u8], path: &Path, shape: &Shape) -> anyhow::Result<Rows> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let is_feature = |name: &str| shape.features.iter().any(|f| f == name);
    let label_column = match &shape.label {
        Some(label) if header.contains(label) => header.iter().position(|h| h == label),
        _ => header
            .iter()
            .position(|h| USUAL_LABELS.contains(&h.as_str()) && !is_feature(h)),
    };
    // Which header column feeds each input: the model's features by name, or (unknown
    // features) every column but the label.
    let inputs: Vec<(usize, String)> = if shape.features.is_empty() {
        header
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != label_column)
            .map(|(i, name)| (i, name.clone()))
            .collect()
    } else {
        let missing: Vec<String> = shape
            .features
            .iter()
            .filter(|f| !header.contains(f))
            .cloned()
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "{}: missing feature columns {} (model '{}' v{} reads {} features: {})",
                path.display(),
                quoted(&missing),
                shape.model,
                shape.version,
                shape.features.len(),
                quoted(&shape.features)
            );
        }
        shape
            .features
            .iter()
            .filter_map(|f| Some((header.iter().position(|h| h == f)?, f.clone())))
            .collect()
    };
    let ignored: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != label_column && !inputs.iter().any(|(c, _)| c == i))
        .map(|(_, name)| name.clone())
        .collect();
    let mut rows = Rows {
        ignored,
        ..Rows::default()
    };
    let mut labels = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let row = line + 1;
        let record = record.with_context(|| format!("{}: row {row}", path.display()))?;
        if let Some(column) = label_column {
            labels.push(record.get(column).unwrap_or_default().trim().to_owned());
        }
        let mut instance = serde_json::Map::new();
        for (column, name) in &inputs {
            let cell = record.get(*column).unwrap_or_default();
            let value = json_cell(shape.signature.iter().find(|c| c.name == *name), cell).map_err(
                |expected| {
                    anyhow::anyhow!(
                        "{}: row {row}, column '{name}': expected {expected}, got '{cell}'",
                        path.display()
                    )
                },
            )?;
            instance.insert(name.clone(), value);
        }
        rows.instances.push(serde_json::Value::Object(instance));
    }
    rows.labels = label_column.map(|column| (header[column].clone(), labels));
    Ok(rows)
}

/// Reads the rows of a CSV or JSON file.
fn read_rows(path: &Path, shape: &Shape) -> anyhow::Result<Rows> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json")
        || bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b'{' | b'['));
    if !is_json {
        return read_csv(&bytes, path, shape);
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let instances = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut fields) => match fields.remove("instances") {
            Some(serde_json::Value::Array(items)) => items,
            _ => anyhow::bail!("{}: expected {{\"instances\": [...]}}", path.display()),
        },
        _ => anyhow::bail!("{}: expected an array of instances", path.display()),
    };
    Ok(Rows {
        instances,
        ..Rows::default()
    })
}

/// How one version did on the rows it answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct VersionShare {
    version: u32,
    /// `primary` or `canary`.
    variant: String,
    rows: usize,
    /// Rows whose predicted class is the file's label (classification with labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    correct: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy: Option<f64>,
}

/// The whole answer, as `--output json` prints it.
#[derive(Debug, Serialize)]
struct Answer {
    deployment: String,
    model: String,
    /// The revision that answered the last part.
    deployment_revision: u32,
    predictions: Vec<Prediction>,
    /// The version that answered each row, in row order.
    model_versions: Vec<u32>,
    /// Each version that answered: its rows and accuracy.
    versions: Vec<VersionShare>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored_columns: Vec<String>,
}

/// Whether `prediction` names the class `actual`; `None` for a value (regression).
fn is_correct(prediction: &Prediction, actual: &str) -> Option<bool> {
    match prediction {
        Prediction::Class { label, .. } => Some(**label == *actual),
        Prediction::Value(_) => None,
    }
}

/// Splits the rows by the version that answered them, scoring each against `labels`.
fn shares(
    predictions: &[Prediction],
    versions: &[u32],
    variants: &BTreeMap<u32, String>,
    labels: Option<&[String]>,
) -> Vec<VersionShare> {
    let mut by_version: BTreeMap<u32, VersionShare> = BTreeMap::new();
    for (row, (prediction, version)) in predictions.iter().zip(versions).enumerate() {
        let share = by_version.entry(*version).or_insert_with(|| VersionShare {
            version: *version,
            variant: variants.get(version).cloned().unwrap_or_default(),
            rows: 0,
            correct: None,
            accuracy: None,
        });
        share.rows += 1;
        if let Some(right) = labels
            .and_then(|l| l.get(row))
            .and_then(|actual| is_correct(prediction, actual))
        {
            *share.correct.get_or_insert(0) += usize::from(right);
        }
    }
    by_version
        .into_values()
        .map(|mut share| {
            share.accuracy = share.correct.map(|c| c as f64 / share.rows as f64);
            share
        })
        .collect()
}

pub async fn predict(cli: &Cli, args: &PredictArgs) -> anyhow::Result<()> {
    let client = super::commands::client(cli)?;
    let shape = shape(&client, &args.name).await?;
    let rows = read_rows(&args.file, &shape)?;
    if rows.instances.is_empty() {
        anyhow::bail!("{}: no rows to predict", args.file.display());
    }
    if !rows.ignored.is_empty() {
        eprintln!(
            "note: {} left out columns model '{}' v{} does not read: {}",
            args.file.display(),
            shape.model,
            shape.version,
            quoted(&rows.ignored)
        );
    }
    let (mut predictions, mut model_versions) = (Vec::new(), Vec::new());
    let (mut variants, mut revision) = (BTreeMap::new(), 0);
    let batch_rows = usize::try_from(args.batch_rows).unwrap_or(usize::MAX);
    for part in rows.instances.chunks(batch_rows) {
        let request = PredictRequest {
            instances: part.to_vec(),
            key: args.key.clone(),
        };
        let answer = client.predict(&args.name, &request).await?;
        model_versions.extend(std::iter::repeat_n(
            answer.model_version,
            answer.predictions.len(),
        ));
        variants
            .entry(answer.model_version)
            .or_insert(answer.variant);
        revision = answer.deployment_revision;
        predictions.extend(answer.predictions);
    }
    let labels = rows.labels.as_ref().map(|(_, cells)| cells.as_slice());
    let versions = shares(&predictions, &model_versions, &variants, labels);
    let correct: Option<usize> = versions.iter().map(|v| v.correct).sum();
    let answer = Answer {
        deployment: args.name.clone(),
        model: shape.model,
        deployment_revision: revision,
        accuracy: correct.map(|c| c as f64 / predictions.len() as f64),
        predictions,
        model_versions,
        versions,
        label_column: rows.labels.as_ref().map(|(name, _)| name.clone()),
        ignored_columns: rows.ignored,
    };
    match cli.output {
        OutputFormat::Json => output::json(&answer),
        OutputFormat::Text => {
            print_answer(&answer, labels);
            Ok(())
        }
    }
}

fn print_answer(answer: &Answer, labels: Option<&[String]>) {
    let mut table = Table::new(&["ROW", "PREDICTION", "CONFIDENCE", "ACTUAL", "VERSION"]);
    for (row, (prediction, version)) in answer
        .predictions
        .iter()
        .zip(&answer.model_versions)
        .enumerate()
    {
        let (shown, confidence) = match prediction {
            Prediction::Class {
                label,
                probabilities,
            } => {
                let p = probabilities.get(label).unwrap_or(0.0);
                (label.to_string(), format!("{:.1}%", p * 100.0))
            }
            Prediction::Value(value) => (format!("{value:.4}"), String::new()),
        };
        table.row(vec![
            row.to_string(),
            shown,
            confidence,
            labels.and_then(|l| l.get(row)).cloned().unwrap_or_default(),
            format!("v{version}"),
        ]);
    }
    table.print();
    for line in summary(answer) {
        println!("{line}");
    }
}

/// The lines under the table: who answered, and how well.
fn summary(answer: &Answer) -> Vec<String> {
    let mut lines = Vec::new();
    let total = answer.predictions.len();
    match answer.versions.as_slice() {
        [only] => lines.push(format!(
            "{total} predictions from {} v{} ({}; deployment {} revision {})",
            answer.model, only.version, only.variant, answer.deployment, answer.deployment_revision
        )),
        shares => {
            lines.push(format!(
                "{total} predictions from {} split between {} versions (deployment {} revision {}):",
                answer.model,
                shares.len(),
                answer.deployment,
                answer.deployment_revision
            ));
            let mut table = Table::new(&["  VERSION", "VARIANT", "ROWS", "ACCURACY"]);
            for share in shares {
                table.row(vec![
                    format!("  v{}", share.version),
                    share.variant.clone(),
                    share.rows.to_string(),
                    share.accuracy.map_or("-".into(), |a| {
                        format!("{a:.4} ({} of {})", share.correct.unwrap_or(0), share.rows)
                    }),
                ]);
            }
            lines.extend(table.render().lines().map(str::to_owned));
        }
    }
    if let (Some(accuracy), Some(column)) = (answer.accuracy, &answer.label_column) {
        lines.push(format!(
            "accuracy {accuracy:.4} against the file's labels (column '{column}')"
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris() -> Shape {
        Shape {
            model: "iris".into(),
            version: 1,
            features: ["sepal_length", "sepal_width", "petal_length", "petal_width"]
                .map(String::from)
                .to_vec(),
            signature: Vec::new(),
            label: Some("species".into()),
        }
    }

    #[test]
    fn table_rows_follow_the_signature_with_empty_cells_as_null() {
        let column = |name: &str, column_type| InputColumn {
            name: name.into(),
            column_type,
            categories: Vec::new(),
            missing_allowed: true,
        };
        let shape = Shape {
            model: "penguins".into(),
            version: 1,
            features: vec!["island".into(), "bill_length_mm".into(), "sex".into()],
            signature: vec![
                column("island", ColumnType::Categorical),
                column("bill_length_mm", ColumnType::Numeric),
                column("sex", ColumnType::Categorical),
            ],
            label: Some("species".into()),
        };
        let csv =
            "species,island,bill_length_mm,sex\nAdelie,Torgersen,,\nGentoo,Biscoe,46.1,female\n";
        let rows = read_csv(csv.as_bytes(), Path::new("penguins.csv"), &shape).unwrap();
        assert_eq!(
            rows.instances,
            [
                serde_json::json!({"island": "Torgersen", "bill_length_mm": null, "sex": null}),
                serde_json::json!({"island": "Biscoe", "bill_length_mm": 46.1, "sex": "female"}),
            ]
        );
        let bad = "species,island,bill_length_mm,sex\nAdelie,Torgersen,long,male\n";
        let err = read_csv(bad.as_bytes(), Path::new("penguins.csv"), &shape)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "penguins.csv: row 1, column 'bill_length_mm': expected a number, got 'long'"
        );
    }

    const CSV: &str = "notes,petal_width,sepal_length,sepal_width,petal_length,species\n\
                       a,0.2,5.1,3.5,1.4,setosa\nb,1.8,6.3,2.9,5.6,virginica\n";

    #[test]
    fn the_models_label_column_is_kept_aside_and_unused_columns_are_left_out() {
        let rows = read_csv(CSV.as_bytes(), Path::new("rows.csv"), &iris()).unwrap();
        assert_eq!(
            rows.labels,
            Some((
                "species".to_owned(),
                vec!["setosa".to_owned(), "virginica".to_owned()]
            ))
        );
        assert_eq!(rows.ignored, vec!["notes".to_owned()]);
        assert_eq!(
            rows.instances[0],
            serde_json::json!({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2})
        );
    }

    #[test]
    fn missing_feature_columns_are_named() {
        let csv = "sepal_length,petal_length,species\n5.1,1.4,setosa\n";
        let err = read_csv(csv.as_bytes(), Path::new("rows.csv"), &iris())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "rows.csv: missing feature columns 'sepal_width', 'petal_width' (model 'iris' v1 reads 4 features"
            ),
            "{err}"
        );
    }

    #[test]
    fn without_metadata_the_usual_label_names_are_used() {
        let csv = "a,b,target\n1,2,x\n";
        let rows = read_csv(csv.as_bytes(), Path::new("rows.csv"), &Shape::default()).unwrap();
        assert_eq!(rows.labels.unwrap().0, "target");
        assert_eq!(rows.instances[0], serde_json::json!({"a": 1.0, "b": 2.0}));
    }

    fn class(label: &str) -> Prediction {
        Prediction::Class {
            label: label.into(),
            probabilities: slipway_api::Probabilities::default(),
        }
    }

    #[test]
    fn rows_are_split_by_the_version_that_answered_them() {
        let predictions = [class("a"), class("b"), class("a"), class("a")];
        let variants = BTreeMap::from([(1, "primary".to_owned()), (2, "canary".to_owned())]);
        let labels = ["a", "a", "a", "b"].map(String::from);
        let split = shares(&predictions, &[1, 1, 2, 2], &variants, Some(&labels));
        assert_eq!(
            split,
            vec![
                VersionShare {
                    version: 1,
                    variant: "primary".into(),
                    rows: 2,
                    correct: Some(1),
                    accuracy: Some(0.5)
                },
                VersionShare {
                    version: 2,
                    variant: "canary".into(),
                    rows: 2,
                    correct: Some(1),
                    accuracy: Some(0.5)
                },
            ]
        );
        let answer = Answer {
            deployment: "iris".into(),
            model: "iris".into(),
            deployment_revision: 2,
            predictions: predictions.to_vec(),
            model_versions: vec![1, 1, 2, 2],
            versions: split,
            label_column: Some("species".into()),
            accuracy: Some(0.5),
            ignored_columns: Vec::new(),
        };
        let text = summary(&answer).join("\n");
        assert!(
            text.starts_with("4 predictions from iris split between 2 versions"),
            "{text}"
        );
        assert!(
            text.contains("v1       primary  2     0.5000 (1 of 2)"),
            "{text}"
        );
        assert!(
            text.contains("v2       canary   2     0.5000 (1 of 2)"),
            "{text}"
        );
        assert!(
            text.ends_with("accuracy 0.5000 against the file's labels (column 'species')"),
            "{text}"
        );
    }
}
