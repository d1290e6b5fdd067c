//! A dataset: a CSV table with numeric feature columns and one label column, parsed and
//! checked, with its schema inferred and its content digest.

use crate::stats::FeatureStats;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// What a model learns from a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classification,
    Regression,
}

/// The shape of a dataset: feature names in order, the label, and the label's classes (for
/// classification) or range (for regression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub features: Vec<String>,
    pub label: String,
    pub task: Task,
    /// The classes in sorted order; a class's index is its encoded label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_range: Option<(f64, f64)>,
    /// Every column's type, missing count and levels, and how the stored bytes are read, as
    /// recorded at upload; absent in versions stored before columns were typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<slipway_api::DatasetSchema>,
}

/// A parsed dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub schema: Schema,
    /// Row-major features.
    pub features: Vec<Vec<f64>>,
    /// Class indices (classification) or values (regression).
    pub labels: Vec<f64>,
    /// The SHA-256 of the CSV bytes, hex.
    pub digest: String,
    /// For a typed table ([`Dataset::from_table`]): each row's cells in the order of
    /// `schema.features`, as text (empty when missing); `features` is then empty and the
    /// numbers come from the preprocessing fitted on the training split.
    pub cells: Option<Vec<Vec<String>>>,
    /// Rows skipped because their label was missing.
    pub skipped_rows: u64,
}

/// Why a CSV is not a usable dataset. Rows are numbered as in the file (the header is row 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    #[error("the file is empty: expected a header row and at least one data row")]
    Empty,
    #[error("label column '{label}' not found; the columns are: {columns}")]
    MissingLabel { label: String, columns: String },
    #[error("row {row}: expected {expected} values like the header, found {found}")]
    Ragged {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("row {row}, column '{column}': '{value}' is not a number")]
    NotNumeric {
        row: usize,
        column: String,
        value: String,
    },
    #[error("label column '{label}' has one class ('{class}'); classification needs at least two")]
    OneClass { label: String, class: String },
    #[error(
        "label column '{label}' is not numeric at row {row} ('{value}'), so it cannot be a regression target"
    )]
    NonNumericTarget {
        label: String,
        row: usize,
        value: String,
    },
    #[error(
        "label column '{label}' has more than {limit} classes; classification takes at most {limit} (for a numeric target, use --task regression)"
    )]
    TooManyClasses { label: String, limit: usize },
    #[error("the dataset has no feature columns besides the label")]
    NoFeatures,
    #[error("invalid CSV: {0}")]
    Csv(String),
}

/// A numeric label with at most this many distinct whole values is taken for classes.
const MAX_INFERRED_CLASSES: usize = 20;
/// Most classes a classification dataset may have. Real label sets (digits, ImageNet's
/// 1,000) fit; each class is an output of the model and a row and column of the confusion
/// matrix, which grows with its square.
pub const MAX_CLASSES: usize = 1000;

impl Dataset {
    /// Parses `bytes` as CSV with a header, `label` naming the label column. Without `task`,
    /// a non-numeric label, or one with few distinct whole values, means classification.
    pub fn from_csv(bytes: &[u8], label: &str, task: Option<Task>) -> Result<Self, DatasetError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|err| DatasetError::Csv(err.to_string()))?
            .iter()
            .map(str::to_owned)
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(DatasetError::Empty);
        }
        let label_index = header
            .iter()
            .position(|name| name == label)
            .ok_or_else(|| DatasetError::MissingLabel {
                label: label.to_owned(),
                columns: header.join(", "),
            })?;
        let feature_names: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != label_index)
            .map(|(_, name)| name.clone())
            .collect();
        if feature_names.is_empty() {
            return Err(DatasetError::NoFeatures);
        }
        let mut features = Vec::new();
        let mut raw_labels = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let row = index + 2;
            let record = record.map_err(|err| DatasetError::Csv(err.to_string()))?;
            if record.len() != header.len() {
                return Err(DatasetError::Ragged {
                    row,
                    expected: header.len(),
                    found: record.len(),
                });
            }
            let mut values = Vec::with_capacity(feature_names.len());
            for (column, value) in record.iter().enumerate() {
                if column == label_index {
                    raw_labels.push((row, value.to_owned()));
                    continue;
                }
                let number = value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| DatasetError::NotNumeric {
                        row,
                        column: header[column].clone(),
                        value: value.to_owned(),
                    })?;
                values.push(number);
            }
            features.push(values);
        }
        if features.is_empty() {
            return Err(DatasetError::Empty);
        }
        let task = task.unwrap_or_else(|| infer_task(&raw_labels));
        let (labels, classes, label_range) = encode_labels(label, task, &raw_labels)?;
        Ok(Self {
            schema: Schema {
                features: feature_names,
                label: label.to_owned(),
                task,
                classes,
                label_range,
                table: None,
            },
            features,
            labels,
            digest: hex::encode(Sha256::digest(bytes)),
            cells: None,
            skipped_rows: 0,
        })
    }

    /// Reads a typed table (any stored format) with the schema recorded at upload: the input
    /// columns are `features` (neither label nor identifier) kept as text for preprocessing;
    /// rows without a label are skipped and counted.
    pub fn from_table(
        bytes: &[u8],
        table: &slipway_api::DatasetSchema,
        features: &[String],
        label: &str,
        task: Task,
    ) -> Result<Self, DatasetError> {
        let delimiter = crate::table::parse_delimiter(Some(&table.delimiter))
            .map_err(|err| DatasetError::Csv(err.to_string()))?;
        let mut sink = TableRows {
            label: label.to_owned(),
            features: features.to_vec(),
            positions: Vec::new(),
            label_at: 0,
            cells: Vec::new(),
            labels: Vec::new(),
            skipped: 0,
            missing: table.missing_tokens.clone(),
        };
        crate::table::read(
            crate::table::Input::Memory(bytes.to_vec().into()),
            delimiter,
            &mut sink,
        )
        .map_err(|err| DatasetError::Csv(err.to_string()))?;
        if sink.cells.is_empty() {
            return Err(DatasetError::Empty);
        }
        let (labels, classes, label_range) = encode_labels(label, task, &sink.labels)?;
        Ok(Self {
            schema: Schema {
                features: features.to_vec(),
                label: label.to_owned(),
                task,
                classes,
                label_range,
                table: Some(table.clone()),
            },
            features: Vec::new(),
            labels,
            digest: hex::encode(Sha256::digest(bytes)),
            cells: Some(sink.cells),
            skipped_rows: sink.skipped,
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset has no rows (never true for a parsed one).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Per-feature statistics: the baseline that live inputs are compared with for drift.
    pub fn statistics(&self) -> Vec<FeatureStats> {
        (0..self.schema.features.len())
            .map(|column| {
                let values: Vec<f64> = self.features.iter().map(|row| row[column]).collect();
                FeatureStats::from_values(&self.schema.features[column], &values)
            })
            .collect()
    }
}

/// Collects a typed table's input cells and labels, skipping rows without a label.
struct TableRows {
    label: String,
    features: Vec<String>,
    positions: Vec<usize>,
    label_at: usize,
    cells: Vec<Vec<String>>,
    labels: Vec<(usize, String)>,
    skipped: u64,
    /// The schema's missing tokens: such cells are kept as empty, the one way preprocessing
    /// reads "missing".
    missing: Option<Vec<String>>,
}

impl crate::table::RowSink for TableRows {
    fn header(&mut self, names: &[String]) -> Result<(), crate::table::TableError> {
        let find = |wanted: &str| {
            names.iter().position(|n| n == wanted).ok_or_else(|| {
                crate::table::TableError::MissingLabel {
                    label: wanted.to_owned(),
                    columns: names.join(", "),
                }
            })
        };
        self.label_at = find(&self.label)?;
        self.positions = self
            .features
            .iter()
            .map(|name| find(name))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn row(&mut self, row: u64, cells: &[&str]) -> Result<(), crate::table::TableError> {
        let tokens = self.missing.as_deref();
        let label = cells[self.label_at].trim();
        if crate::table::missing::is_missing(label, tokens) {
            self.skipped += 1;
            return Ok(());
        }
        self.labels.push((row as usize, label.to_owned()));
        self.cells.push(
            self.positions
                .iter()
                .map(|&i| {
                    if crate::table::missing::is_missing(cells[i], tokens) {
                        String::new()
                    } else {
                        cells[i].to_owned()
                    }
                })
                .collect(),
        );
        Ok(())
    }
}

/// Whether a typed dataset version is plain: comma-separated CSV, every column numeric (or
/// the label) and nothing missing, like the four UCI datasets. Plain versions are read by
/// [`Dataset::from_csv`] and trained exactly as before; the answer for others names what is
/// not plain, and they are read by [`Dataset::from_table`] and preprocessed.
pub fn check_trainable(schema: &slipway_api::DatasetSchema) -> Result<(), String> {
    use slipway_api::{ColumnType, DataFormat};
    if schema.format != DataFormat::Csv || schema.delimiter != "," {
        return Err(format!(
            "training reads comma-separated CSV for now; this version is {} with delimiter '{}'",
            schema.format.as_str(),
            schema.delimiter
        ));
    }
    let unsupported: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| match c.column_type {
            ColumnType::Numeric | ColumnType::Label => c.missing > 0,
            _ => true,
        })
        .map(|c| match c.missing {
            0 => format!("{} ({})", c.name, c.column_type),
            n => format!("{} ({}, {n} missing)", c.name, c.column_type),
        })
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "training takes numeric columns without missing values for now; these are not: {}",
            unsupported.join(", ")
        ))
    }
}

fn infer_task(labels: &[(usize, String)]) -> Task {
    let numbers: Option<Vec<f64>> = labels.iter().map(|(_, v)| v.parse::<f64>().ok()).collect();
    match numbers {
        None => Task::Classification,
        Some(numbers) => {
            let whole = numbers.iter().all(|n| n.fract() == 0.0);
            let mut distinct: Vec<i64> = numbers.iter().map(|n| *n as i64).collect();
            distinct.sort_unstable();
            distinct.dedup();
            if whole && distinct.len() <= MAX_INFERRED_CLASSES {
                Task::Classification
            } else {
                Task::Regression
            }
        }
    }
}

type EncodedLabels = (Vec<f64>, Vec<String>, Option<(f64, f64)>);

fn encode_labels(
    label: &str,
    task: Task,
    raw: &[(usize, String)],
) -> Result<EncodedLabels, DatasetError> {
    match task {
        Task::Classification => {
            // Distinct values first, refused as soon as there are too many: the sort and the
            // index below then cost at most MAX_CLASSES entries.
            let mut distinct: HashSet<&str> = HashSet::new();
            for (_, value) in raw {
                if distinct.insert(value.as_str()) && distinct.len() > MAX_CLASSES {
                    return Err(DatasetError::TooManyClasses {
                        label: label.to_owned(),
                        limit: MAX_CLASSES,
                    });
                }
            }
            let mut classes: Vec<String> = distinct.into_iter().map(str::to_owned).collect();
            // Numeric classes sort by value (2 before 10), others alphabetically.
            classes.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            if classes.len() < 2 {
                return Err(DatasetError::OneClass {
                    label: label.to_owned(),
                    class: classes.first().cloned().unwrap_or_default(),
                });
            }
            // One hash lookup per row (a linear search per row was quadratic in the classes).
            let index: HashMap<&str, usize> = classes
                .iter()
                .enumerate()
                .map(|(i, class)| (class.as_str(), i))
                .collect();
            let labels = raw
                .iter()
                .map(|(_, v)| index.get(v.as_str()).copied().unwrap_or(0) as f64)
                .collect();
            Ok((labels, classes, None))
        }
        Task::Regression => {
            let mut labels = Vec::with_capacity(raw.len());
            for (row, value) in raw {
                let number = value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| DatasetError::NonNumericTarget {
                        label: label.to_owned(),
                        row: *row,
                        value: value.clone(),
                    })?;
                labels.push(number);
            }
            let min = labels.iter().copied().fold(f64::INFINITY, f64::min);
            let max = labels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Ok((labels, Vec::new(), Some((min, max))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRIS: &[u8] = include_bytes!("../../datasets/iris.csv");
    const DIGITS: &[u8] = include_bytes!("../../datasets/digits.csv");

    #[test]
    fn infers_the_iris_schema() {
        let iris = Dataset::from_csv(IRIS, "species", None).unwrap();
        assert_eq!(iris.len(), 150);
        assert_eq!(iris.schema.task, Task::Classification);
        assert_eq!(iris.schema.features.len(), 4);
        assert_eq!(
            iris.schema.classes,
            vec!["setosa", "versicolor", "virginica"]
        );
        assert_eq!(iris.digest.len(), 64);
    }

    #[test]
    fn digits_labels_are_ten_numeric_classes_in_value_order() {
        let digits = Dataset::from_csv(DIGITS, "label", None).unwrap();
        assert_eq!(digits.schema.features.len(), 64);
        let expected: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        assert_eq!(digits.schema.classes, expected);
    }

    #[test]
    fn regression_keeps_the_range() {
        let csv = b"x,y\n1,0.5\n2,1.5\n3,2.75\n";
        let data = Dataset::from_csv(csv, "y", Some(Task::Regression)).unwrap();
        assert_eq!(data.schema.label_range, Some((0.5, 2.75)));
        assert_eq!(data.labels, vec![0.5, 1.5, 2.75]);
    }

    #[test]
    fn dataset_with_too_many_classes_is_refused() {
        // 100,000 distinct labels in about 1 MB.
        let mut csv = String::from("x,label\n");
        for i in 0..100_000 {
            csv.push_str(&format!("{},c{i:06}\n", i % 97));
        }
        let err = Dataset::from_csv(csv.as_bytes(), "label", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "label column 'label' has more than 1000 classes; classification takes at most 1000 (for a numeric target, use --task regression)"
        );
        // Exactly the limit is fine, and the labels are encoded by their sorted class.
        let mut csv = String::from("x,label\n");
        for i in 0..MAX_CLASSES {
            csv.push_str(&format!("{i},k{:04}\n", MAX_CLASSES - 1 - i));
        }
        let data = Dataset::from_csv(csv.as_bytes(), "label", None).unwrap();
        assert_eq!(data.schema.classes.len(), MAX_CLASSES);
        assert_eq!(data.labels[0], (MAX_CLASSES - 1) as f64);
        assert_eq!(data.schema.classes[data.labels[0] as usize], "k0999");
    }

    #[test]
    fn only_clean_numeric_csv_versions_are_trainable_for_now() {
        use crate::table::{Input, ProfileOptions, Profiler, read};
        let typed = |bytes: &[u8], label: &str| {
            let mut profiler = Profiler::new(ProfileOptions {
                label: label.into(),
                ..ProfileOptions::default()
            });
            let format = read(Input::Memory(bytes.to_vec().into()), b',', &mut profiler).unwrap();
            profiler.finish(format, b',').unwrap().schema
        };
        assert_eq!(check_trainable(&typed(IRIS, "species")), Ok(()));
        let penguins = typed(include_bytes!("../../datasets/penguins.csv"), "species");
        let err = check_trainable(&penguins).unwrap_err();
        assert!(
            err.contains("island (categorical)") && err.contains("sex (categorical, 11 missing)"),
            "{err}"
        );
        assert!(err.contains("bill_length_mm (numeric, 2 missing)"), "{err}");
    }

    #[test]
    fn errors_name_the_row_and_column() {
        let err =
            |csv: &[u8], label: &str| Dataset::from_csv(csv, label, None).unwrap_err().to_string();
        assert!(err(b"", "y").contains("empty"));
        assert!(err(b"a,y\n", "y").contains("empty"));
        assert_eq!(
            err(b"a,b\n1,2\n", "y"),
            "label column 'y' not found; the columns are: a, b"
        );
        assert_eq!(
            err(b"a,y\n1,x\n2\n", "y"),
            "row 3: expected 2 values like the header, found 1"
        );
        assert_eq!(
            err(b"a,y\n1,x\nfoo,z\n", "y"),
            "row 3, column 'a': 'foo' is not a number"
        );
        assert!(err(b"a,y\n1,x\n2,x\n", "y").contains("one class ('x')"));
        let target = Dataset::from_csv(b"a,y\n1,x\n", "y", Some(Task::Regression)).unwrap_err();
        assert!(target.to_string().contains("row 2 ('x')"));
    }
}
