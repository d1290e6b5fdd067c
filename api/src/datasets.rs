//! Datasets: the wire types of `/api/v1/datasets`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One version of a named dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub name: String,
    pub version: u32,
    /// SHA-256 of the CSV content.
    pub digest: String,
    pub label: String,
    /// `classification` or `regression`.
    pub task: String,
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    pub rows: u64,
    pub size_bytes: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Every column's type, missing count and categories, as recorded at upload; absent for
    /// versions uploaded before columns were typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<DatasetSchema>,
    /// Per-feature statistics (the drift baseline); in `show`, not in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<serde_json::Value>,
}

/// The answer to an upload: the version, and whether it is new (the same content again
/// answers the existing version).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadedDataset {
    pub dataset: DatasetVersion,
    pub created: bool,
}

/// What a column is for training, inferred at upload and overridable there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Numbers (empty cells are missing).
    Numeric,
    /// A few distinct values: text, or integer codes named with `categorical`.
    Categorical,
    /// `true`/`false` or `yes`/`no`, in any case.
    Boolean,
    /// ISO 8601 dates (`1970-01-01`) or date-times (`1970-01-01T08:30:00Z`).
    Datetime,
    /// A name or key with (nearly) one value per row, or a column named with `ignore`: not
    /// used for training.
    Identifier,
    /// The column the model learns to predict.
    Label,
}

impl ColumnType {
    /// The name used on the wire and in commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Categorical => "categorical",
            Self::Boolean => "boolean",
            Self::Datetime => "datetime",
            Self::Identifier => "identifier",
            Self::Label => "label",
        }
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a categorical column (or of a classification label) and its row count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCount {
    pub value: String,
    pub count: u64,
}

/// One column of a dataset version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Missing cells: empty (CSV), null (Parquet), or one of the schema's missing tokens.
    pub missing: u64,
    /// Distinct values with their counts, most frequent first (ties by value): for
    /// categorical and boolean columns and a classification label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<LevelCount>,
}

/// How the stored bytes are encoded, detected at upload; training reads them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    #[default]
    Csv,
    /// CSV compressed with gzip.
    #[serde(rename = "csv.gz")]
    CsvGzip,
    Parquet,
}

impl DataFormat {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::CsvGzip => "csv.gz",
            Self::Parquet => "parquet",
        }
    }
}

/// The typed schema of a dataset version: what the upload found in every column, in file
/// order, and how to read the stored bytes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSchema {
    pub format: DataFormat,
    /// The CSV field delimiter (a single character); `,` unless named at upload.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    pub columns: Vec<ColumnSchema>,
    /// Rows whose label is missing: kept in the file, skipped by training.
    #[serde(default)]
    pub missing_labels: u64,
    /// The cell values read as missing besides empty cells, matched ignoring ASCII case
    /// (training and prediction apply the same); absent in versions uploaded before tokens
    /// were recorded, where only empty cells were missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_tokens: Option<Vec<String>>,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

impl DatasetSchema {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The options of an upload besides the file: the query of `POST /api/v1/datasets/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadOptions {
    /// The label column; any column, anywhere.
    pub label: String,
    /// `classification` or `regression`; inferred from the label when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The CSV field delimiter, one character (`\t` for a tab); `,` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Columns to leave out of training (comma-separated): typed `identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Columns to type `categorical` even when their values are numbers (comma-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categorical: Option<String>,
    /// Columns that must be `numeric` (comma-separated): a value that is not a number is an
    /// error naming its row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<String>,
    /// Cell values that mean "missing" (comma-separated, matched ignoring ASCII case); when
    /// absent: `NA,N/A,NaN,null,?`. Empty cells are always missing; an empty list means only
    /// they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}
