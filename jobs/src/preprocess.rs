//! Preprocessing of typed tables: fitted on the training split only and stored in the model's
//! `model.json`, so serving turns a row of cells into the network's numbers exactly as training
//! did. Numbers keep their value (the median when missing), booleans become 0/1, dates become
//! year, month and day-of-year fraction, categories are one-hot with an `(unknown)` slot for
//! levels never seen in training; a column with missing training cells gets a `(missing)`
//! indicator (for categories, the learned "missing" category). Identifiers are not inputs.
//! Standardisation of the resulting numbers is [`crate::model::Normalisation`]'s job.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use slipway_api::{ColumnType, DatasetSchema};
use std::collections::HashMap;

/// How one input column becomes numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ColumnKind {
    /// The value; a missing one is the training median.
    Numeric { median: f64 },
    /// 1 for true/yes, 0 for false/no; a missing one is the training majority.
    Boolean { fill: f64 },
    /// Year, month and day-of-year fraction; a missing one is the training medians.
    Datetime { fill: [f64; 3] },
    /// One-hot over the training levels (most frequent first), then `(unknown)`.
    Categorical { levels: Vec<String> },
}

/// One input column of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputColumn {
    pub name: String,
    #[serde(flatten)]
    pub kind: ColumnKind,
    /// Whether training saw missing cells here: then an indicator input says "missing".
    #[serde(default)]
    pub missing_indicator: bool,
}

/// The fitted preprocessing: the model's input columns in the order rows give them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub columns: Vec<InputColumn>,
    /// The dataset's missing tokens ([`crate::table::missing`]): a named cell holding one is
    /// missing at prediction as it was in training. Absent for models of datasets from before
    /// tokens were recorded (only empty cells are missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_tokens: Option<Vec<String>>,
}

/// A cell the model cannot read, naming its column and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct CellError {
    pub column: String,
    pub reason: String,
}

/// One parsed cell; `None` is missing.
enum Parsed {
    Number(f64),
    Date([f64; 3]),
    Text(String),
}

/// Year, month and day-of-year fraction of an ISO 8601 date or date-time (its date part).
pub fn date_parts(cell: &str) -> Option<[f64; 3]> {
    let date = NaiveDate::parse_from_str(cell.get(..10)?, "%Y-%m-%d").ok()?;
    if !crate::table::profile::is_datetime(cell) {
        return None;
    }
    Some([
        f64::from(date.year()),
        f64::from(date.month()),
        f64::from(date.ordinal0()) / 366.0,
    ])
}

fn boolean(cell: &str) -> Option<f64> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(1.0),
        "false" | "no" | "0" => Some(0.0),
        _ => None,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

impl ColumnKind {
    /// Reads a cell whose missing tokens were already made empty ([`crate::table`] and the
    /// signature do so), so only an empty cell is missing here.
    fn parse(&self, cell: &str) -> Result<Option<Parsed>, String> {
        let cell = cell.trim();
        if cell.is_empty() {
            return Ok(None);
        }
        Ok(Some(match self {
            Self::Numeric { .. } => Parsed::Number(
                cell.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| format!("expected a number, got '{cell}'"))?,
            ),
            Self::Boolean { .. } => Parsed::Number(
                boolean(cell)
                    .ok_or_else(|| format!("expected true, false, yes or no, got '{cell}'"))?,
            ),
            Self::Datetime { .. } => Parsed::Date(date_parts(cell).ok_or_else(|| {
                format!("expected an ISO 8601 date such as 1970-01-01, got '{cell}'")
            })?),
            Self::Categorical { .. } => Parsed::Text(cell.to_owned()),
        }))
    }

    /// The type's name, as in the dataset schema.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Numeric { .. } => "numeric",
            Self::Boolean { .. } => "boolean",
            Self::Datetime { .. } => "datetime",
            Self::Categorical { .. } => "categorical",
        }
    }
}

impl Preprocessing {
    /// Fits on the training rows `rows` (cells in the order of `columns`), whose types come
    /// from the dataset version's `schema`.
    pub fn fit(
        schema: &DatasetSchema,
        columns: &[String],
        rows: &[&Vec<String>],
    ) -> Result<Self, CellError> {
        let types: HashMap<&str, ColumnType> = schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.column_type))
            .collect();
        let mut fitted = Vec::with_capacity(columns.len());
        for (index, name) in columns.iter().enumerate() {
            let placeholder = match types.get(name.as_str()) {
                Some(ColumnType::Boolean) => ColumnKind::Boolean { fill: 0.0 },
                Some(ColumnType::Datetime) => ColumnKind::Datetime { fill: [0.0; 3] },
                Some(ColumnType::Categorical) => ColumnKind::Categorical { levels: Vec::new() },
                _ => ColumnKind::Numeric { median: 0.0 },
            };
            let mut present = Vec::new();
            let mut missing = false;
            for row in rows {
                match placeholder.parse(&row[index]).map_err(|reason| CellError {
                    column: name.clone(),
                    reason,
                })? {
                    Some(cell) => present.push(cell),
                    None => missing = true,
                }
            }
            let kind = match placeholder {
                ColumnKind::Numeric { .. } => ColumnKind::Numeric {
                    median: median(numbers(&present, 0)),
                },
                ColumnKind::Boolean { .. } => ColumnKind::Boolean {
                    fill: median(numbers(&present, 0)).round(),
                },
                ColumnKind::Datetime { .. } => ColumnKind::Datetime {
                    fill: [0, 1, 2].map(|part| median(numbers(&present, part))),
                },
                ColumnKind::Categorical { .. } => {
                    let mut counts: HashMap<&str, usize> = HashMap::new();
                    for cell in &present {
                        if let Parsed::Text(text) = cell {
                            *counts.entry(text.as_str()).or_default() += 1;
                        }
                    }
                    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
                    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    ColumnKind::Categorical {
                        levels: levels.into_iter().map(|(l, _)| l.to_owned()).collect(),
                    }
                }
            };
            fitted.push(InputColumn {
                name: name.clone(),
                kind,
                missing_indicator: missing,
            });
        }
        Ok(Self {
            columns: fitted,
            missing_tokens: schema.missing_tokens.clone(),
        })
    }

    /// The names of the numbers a row becomes, in order.
    pub fn encoded_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for column in &self.columns {
            let name = &column.name;
            match &column.kind {
                ColumnKind::Numeric { .. } | ColumnKind::Boolean { .. } => names.push(name.clone()),
                ColumnKind::Datetime { .. } => names
                    .extend(["year", "month", "day_of_year"].map(|part| format!("{name}.{part}"))),
                ColumnKind::Categorical { levels } => {
                    names.extend(levels.iter().map(|level| format!("{name}={level}")));
                    names.push(format!("{name}=(unknown)"));
                }
            }
            if column.missing_indicator {
                names.push(format!("{name}=(missing)"));
            }
        }
        names
    }

    /// The number of inputs the network takes.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|column| {
                let base = match &column.kind {
                    ColumnKind::Numeric { .. } | ColumnKind::Boolean { .. } => 1,
                    ColumnKind::Datetime { .. } => 3,
                    ColumnKind::Categorical { levels } => levels.len() + 1,
                };
                base + usize::from(column.missing_indicator)
            })
            .sum()
    }

    /// Turns a row of cells (in the columns' order; empty is missing) into numbers, appending
    /// them to `out`.
    pub fn encode_into(&self, cells: &[&str], out: &mut Vec<f64>) -> Result<(), CellError> {
        for (column, cell) in self.columns.iter().zip(cells) {
            let parsed = column.kind.parse(cell).map_err(|reason| CellError {
                column: column.name.clone(),
                reason,
            })?;
            let missing = parsed.is_none();
            match (&column.kind, parsed) {
                (ColumnKind::Numeric { median }, value) => out.push(match value {
                    Some(Parsed::Number(n)) => n,
                    _ => *median,
                }),
                (ColumnKind::Boolean { fill }, value) => out.push(match value {
                    Some(Parsed::Number(n)) => n,
                    _ => *fill,
                }),
                (ColumnKind::Datetime { fill }, value) => out.extend(match value {
                    Some(Parsed::Date(parts)) => parts,
                    _ => *fill,
                }),
                (ColumnKind::Categorical { levels }, value) => {
                    let slot = match value {
                        Some(Parsed::Text(text)) => Some(
                            levels
                                .iter()
                                .position(|l| *l == text)
                                .unwrap_or(levels.len()),
                        ),
                        // Missing: every level slot stays 0 and the indicator says so.
                        _ => None,
                    };
                    out.extend((0..=levels.len()).map(|i| f64::from(u8::from(slot == Some(i)))));
                }
            }
            if column.missing_indicator {
                out.push(f64::from(u8::from(missing)));
            }
        }
        Ok(())
    }
}

fn numbers(cells: &[Parsed], part: usize) -> Vec<f64> {
    cells
        .iter()
        .filter_map(|cell| match cell {
            Parsed::Number(n) => Some(*n),
            Parsed::Date(parts) => Some(parts[part]),
            Parsed::Text(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::{ColumnSchema, DataFormat};

    fn schema() -> DatasetSchema {
        let column = |name: &str, column_type| ColumnSchema {
            name: name.into(),
            column_type,
            missing: 0,
            levels: Vec::new(),
        };
        DatasetSchema {
            format: DataFormat::Csv,
            delimiter: ",".into(),
            columns: vec![
                column("mass", ColumnType::Numeric),
                column("island", ColumnType::Categorical),
                column("tagged", ColumnType::Boolean),
                column("seen", ColumnType::Datetime),
            ],
            missing_labels: 0,
            missing_tokens: None,
        }
    }

    fn row(cells: [&str; 4]) -> Vec<String> {
        cells.map(str::to_owned).to_vec()
    }

    #[test]
    fn fitted_on_training_rows_and_applied_to_any_row() {
        let names: Vec<String> = ["mass", "island", "tagged", "seen"]
            .map(String::from)
            .to_vec();
        let rows = [
            row(["1", "Biscoe", "yes", "2020-01-01"]),
            row(["3", "Dream", "no", "2020-12-31"]),
            row(["", "Biscoe", "true", "2021-07-02T10:00:00"]),
        ];
        let refs: Vec<&Vec<String>> = rows.iter().collect();
        let fitted = Preprocessing::fit(&schema(), &names, &refs).unwrap();
        assert_eq!(
            fitted.encoded_names(),
            [
                "mass",
                "mass=(missing)",
                "island=Biscoe",
                "island=Dream",
                "island=(unknown)",
                "tagged",
                "seen.year",
                "seen.month",
                "seen.day_of_year"
            ]
        );
        assert_eq!(fitted.width(), 9);
        let mut out = Vec::new();
        fitted
            .encode_into(&["", "Torgersen", "", ""], &mut out)
            .unwrap();
        // The median of 1 and 3; an unseen island; the majority; the median date parts.
        assert_eq!(&out[..6], &[2.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(&out[6..8], &[2020.0, 7.0]);
        let err = fitted
            .encode_into(&["heavy", "Dream", "no", "2020-01-01"], &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.to_string(), "mass: expected a number, got 'heavy'");
        let json = serde_json::to_value(&fitted).unwrap();
        assert_eq!(json["columns"][1]["type"], "categorical");
        assert_eq!(
            serde_json::from_value::<Preprocessing>(json).unwrap(),
            fitted
        );
    }
}
