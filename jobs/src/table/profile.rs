//! Typing and profiling a table while it is read: one accumulator per column, never the rows.
//!
//! A column is, in this order: the label; `identifier` when named with `ignore`;
//! `categorical` when named so; `numeric` when every present cell is a number; `boolean`
//! when every one is `true`/`false`/`yes`/`no`; `datetime` when every one is an ISO 8601
//! date or date-time; `identifier` when its text has (nearly) one value per row (a name, a
//! key); else `categorical`. Empty cells and the upload's missing tokens
//! ([`super::missing`]) are missing and counted, whatever the type.

use super::{DataFormat, RowSink, TableError};
use crate::dataset::{MAX_CLASSES, Task};
use crate::stats::FeatureStats;
use slipway_api::{ColumnSchema, ColumnType, DatasetSchema, LevelCount};
use std::collections::{HashMap, HashSet};

/// Most distinct values a categorical column (or a classification label) may have; more is
/// a key, not a category.
pub const MAX_LEVELS: usize = MAX_CLASSES;
/// A numeric label with at most this many distinct whole values is taken for classes.
const MAX_INFERRED_CLASSES: usize = 20;
/// Text with more distinct values than this share of its present cells is an identifier,
/// once there are enough rows to tell.
const IDENTIFIER_SHARE: f64 = 0.5;
const IDENTIFIER_MIN_ROWS: u64 = 20;
/// Numeric values kept per column for the baseline histogram; beyond it a uniform sample
/// (reservoir) stands in, so memory stays bounded whatever the row count. Count, mean,
/// deviation and range stay exact.
const SAMPLE: usize = 65_536;

/// The upload's choices besides the file.
#[derive(Debug, Clone, Default)]
pub struct ProfileOptions {
    pub label: String,
    pub task: Option<Task>,
    pub ignore: Vec<String>,
    pub categorical: Vec<String>,
    pub numeric: Vec<String>,
    /// Cell values read as missing besides empty cells ([`super::missing::parse_tokens`]).
    pub missing: Vec<String>,
}

/// What a table turned out to be.
#[derive(Debug, Clone)]
pub struct Profile {
    pub schema: DatasetSchema,
    /// The columns training may use, in file order: neither the label nor identifiers.
    pub features: Vec<String>,
    pub task: Task,
    /// The label's classes in sorted order (classification).
    pub classes: Vec<String>,
    pub label_range: Option<(f64, f64)>,
    /// Per-numeric-feature statistics, the drift baseline.
    pub statistics: Vec<FeatureStats>,
    /// Data rows, those with a missing label included.
    pub rows: u64,
}

/// Running moments (Welford) and a bounded sample of a column's numbers.
#[derive(Debug, Clone, Default)]
struct Numbers {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    all_whole: bool,
    sample: Vec<f64>,
    /// xorshift state: a fixed seed, so the same file always gives the same baseline.
    rng: u64,
}

impl Numbers {
    fn new() -> Self {
        Self {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            all_whole: true,
            rng: 0x9E37_79B9_7F4A_7C15,
            ..Self::default()
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.all_whole &= value.fract() == 0.0;
        if self.sample.len() < SAMPLE {
            self.sample.push(value);
        } else {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let slot = self.rng % self.count;
            if let Some(kept) = self.sample.get_mut(slot as usize) {
                *kept = value;
            }
        }
    }

    fn statistics(&self, name: &str) -> FeatureStats {
        let mut stats = FeatureStats::from_values(name, &self.sample);
        if self.count > self.sample.len() as u64 {
            stats.count = self.count as usize;
            stats.mean = self.mean;
            stats.std = (self.m2 / self.count as f64).sqrt();
            stats.min = self.min;
            stats.max = self.max;
        }
        stats
    }
}

/// One column's accumulator: every type it may still be, tested only while it may.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    missing: u64,
    present: u64,
    /// `None` once a cell was not a number.
    numbers: Option<Numbers>,
    /// The first cell that was not a number, with its row.
    first_text: Option<(u64, String)>,
    booleans: bool,
    datetimes: bool,
    /// Distinct values and counts, dropped once there are more than [`MAX_LEVELS`].
    levels: HashMap<String, u64>,
    too_many_levels: bool,
    forced: Option<ColumnType>,
}

impl Column {
    fn new(name: &str, forced: Option<ColumnType>) -> Self {
        Self {
            name: name.to_owned(),
            missing: 0,
            present: 0,
            numbers: Some(Numbers::new()),
            first_text: None,
            booleans: true,
            datetimes: true,
            levels: HashMap::new(),
            too_many_levels: false,
            forced,
        }
    }

    fn add(&mut self, row: u64, cell: &str, tokens: &[String]) -> Result<(), TableError> {
        if super::missing::is_missing(cell, Some(tokens)) {
            self.missing += 1;
            return Ok(());
        }
        self.present += 1;
        if let Some(numbers) = &mut self.numbers {
            match cell.parse::<f64>().ok().filter(|n| n.is_finite()) {
                Some(value) => numbers.add(value),
                None => {
                    if self.forced == Some(ColumnType::Numeric) {
                        return Err(TableError::NotNumeric {
                            row,
                            column: self.name.clone(),
                            value: cell.to_owned(),
                        });
                    }
                    self.numbers = None;
                    self.first_text = Some((row, cell.to_owned()));
                }
            }
        }
        if self.booleans {
            self.booleans = is_boolean(cell);
        }
        if self.datetimes {
            self.datetimes = is_datetime(cell);
        }
        if !self.too_many_levels {
            match self.levels.get_mut(cell) {
                Some(count) => *count += 1,
                None => {
                    self.levels.insert(cell.to_owned(), 1);
                    if self.levels.len() > MAX_LEVELS {
                        self.too_many_levels = true;
                        self.levels = HashMap::new();
                    }
                }
            }
        }
        Ok(())
    }

    fn inferred_type(&self) -> ColumnType {
        if let Some(forced) = self.forced {
            return forced;
        }
        if self.present == 0 {
            // Nothing to learn from: left out, like an identifier.
            return ColumnType::Identifier;
        }
        if self.numbers.is_some() {
            ColumnType::Numeric
        } else if self.booleans {
            ColumnType::Boolean
        } else if self.datetimes {
            ColumnType::Datetime
        } else if self.too_many_levels
            || (self.present >= IDENTIFIER_MIN_ROWS
                && self.levels.len() as f64 > IDENTIFIER_SHARE * self.present as f64)
        {
            ColumnType::Identifier
        } else {
            ColumnType::Categorical
        }
    }

    /// Levels most frequent first, ties by value.
    fn level_counts(&self) -> Vec<LevelCount> {
        let mut levels: Vec<LevelCount> = self
            .levels
            .iter()
            .map(|(value, count)| LevelCount {
                value: value.clone(),
                count: *count,
            })
            .collect();
        levels.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        levels
    }
}

fn is_boolean(cell: &str) -> bool {
    ["true", "false", "yes", "no"]
        .iter()
        .any(|word| cell.eq_ignore_ascii_case(word))
}

/// An ISO 8601 date (`1970-01-01`) or date-time, with `T` or a space, optional fraction and
/// optional offset.
pub fn is_datetime(cell: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    // Cheap shape check first: every candidate starts with `dddd-dd-dd`.
    let bytes = cell.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    NaiveDate::parse_from_str(cell, "%Y-%m-%d").is_ok()
        || NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M").is_ok()
        || DateTime::parse_from_rfc3339(cell).is_ok()
        || DateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok()
}

/// Profiles a table as it is read; [`Profiler::finish`] types the columns.
#[derive(Debug)]
pub struct Profiler {
    options: ProfileOptions,
    columns: Vec<Column>,
    label: usize,
    rows: u64,
}

impl Profiler {
    pub fn new(options: ProfileOptions) -> Self {
        Self {
            options,
            columns: Vec::new(),
            label: 0,
            rows: 0,
        }
    }

    /// The column types, levels and statistics, once every row was read.
    pub fn finish(self, format: DataFormat, delimiter: u8) -> Result<Profile, TableError> {
        if self.rows == 0 {
            return Err(TableError::Empty);
        }
        let label_name = self.options.label.clone();
        let label = &self.columns[self.label];
        if label.present == 0 {
            return Err(TableError::NoLabels { label: label_name });
        }
        let task = self.options.task.unwrap_or_else(|| infer_task(label));
        let (classes, label_range) = match task {
            Task::Classification => {
                if label.too_many_levels {
                    return Err(TableError::TooManyClasses {
                        label: label_name,
                        limit: MAX_CLASSES,
                    });
                }
                let mut classes: Vec<String> = label.levels.keys().cloned().collect();
                // Numeric classes sort by value (2 before 10), others alphabetically.
                classes.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => a.cmp(b),
                });
                if classes.len() < 2 {
                    return Err(TableError::OneClass {
                        label: label_name,
                        class: classes.first().cloned().unwrap_or_default(),
                    });
                }
                (classes, None)
            }
            Task::Regression => match (&label.numbers, &label.first_text) {
                (Some(numbers), _) => (Vec::new(), Some((numbers.min, numbers.max))),
                (None, Some((row, value))) => {
                    return Err(TableError::NonNumericTarget {
                        label: label_name,
                        row: *row,
                        value: value.clone(),
                    });
                }
                (None, None) => return Err(TableError::NoLabels { label: label_name }),
            },
        };
        let mut schema_columns = Vec::with_capacity(self.columns.len());
        let mut features = Vec::new();
        let mut statistics = Vec::new();
        for (index, column) in self.columns.iter().enumerate() {
            let column_type = if index == self.label {
                ColumnType::Label
            } else {
                column.inferred_type()
            };
            if column_type == ColumnType::Categorical && column.too_many_levels {
                return Err(TableError::TooManyLevels {
                    column: column.name.clone(),
                    limit: MAX_LEVELS,
                });
            }
            let with_levels = match column_type {
                ColumnType::Categorical | ColumnType::Boolean => true,
                ColumnType::Label => task == Task::Classification,
                _ => false,
            };
            if !matches!(column_type, ColumnType::Label | ColumnType::Identifier) {
                features.push(column.name.clone());
                if column_type == ColumnType::Numeric
                    && let Some(numbers) = &column.numbers
                {
                    statistics.push(numbers.statistics(&column.name));
                }
            }
            schema_columns.push(ColumnSchema {
                name: column.name.clone(),
                column_type,
                missing: column.missing,
                levels: if with_levels {
                    column.level_counts()
                } else {
                    Vec::new()
                },
            });
        }
        if features.is_empty() {
            return Err(TableError::NoFeatures);
        }
        Ok(Profile {
            schema: DatasetSchema {
                format,
                delimiter: char::from(delimiter).to_string(),
                columns: schema_columns,
                missing_labels: self.columns[self.label].missing,
                missing_tokens: Some(self.options.missing.clone()),
            },
            features,
            task,
            classes,
            label_range,
            statistics,
            rows: self.rows,
        })
    }
}

fn infer_task(label: &Column) -> Task {
    match &label.numbers {
        Some(numbers)
            if numbers.all_whole
                && !label.too_many_levels
                && label.levels.len() <= MAX_INFERRED_CLASSES =>
        {
            Task::Classification
        }
        Some(_) => Task::Regression,
        None => Task::Classification,
    }
}

impl RowSink for Profiler {
    fn header(&mut self, names: &[String]) -> Result<(), TableError> {
        let columns = || names.join(", ");
        let label = &self.options.label;
        self.label = names.iter().position(|name| name == label).ok_or_else(|| {
            TableError::MissingLabel {
                label: label.clone(),
                columns: columns(),
            }
        })?;
        let mut forced: HashMap<&str, (ColumnType, &'static str)> = HashMap::new();
        let named = [
            ("--ignore", ColumnType::Identifier, &self.options.ignore),
            (
                "--categorical",
                ColumnType::Categorical,
                &self.options.categorical,
            ),
            ("--numeric", ColumnType::Numeric, &self.options.numeric),
        ];
        let known: HashSet<&str> = names.iter().map(String::as_str).collect();
        for (option, column_type, list) in named {
            for name in list {
                if !known.contains(name.as_str()) {
                    return Err(TableError::UnknownColumn {
                        option,
                        name: name.clone(),
                        columns: columns(),
                    });
                }
                if name == label {
                    return Err(TableError::ConflictingOptions {
                        name: name.clone(),
                        first: "--label",
                        second: option,
                    });
                }
                if let Some((_, first)) = forced.insert(name, (column_type, option))
                    && first != option
                {
                    return Err(TableError::ConflictingOptions {
                        name: name.clone(),
                        first,
                        second: option,
                    });
                }
            }
        }
        self.columns = names
            .iter()
            .map(|name| Column::new(name, forced.get(name.as_str()).map(|(t, _)| *t)))
            .collect();
        Ok(())
    }

    fn row(&mut self, row: u64, cells: &[&str]) -> Result<(), TableError> {
        self.rows += 1;
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            column.add(row, cell, &self.options.missing)?;
        }
        // A regression label must be numbers: refused at the first that is not.
        if self.options.task == Some(Task::Regression) {
            let label = &self.columns[self.label];
            if label.numbers.is_none()
                && let Some((row, value)) = &label.first_text
            {
                return Err(TableError::NonNumericTarget {
                    label: label.name.clone(),
                    row: *row,
                    value: value.clone(),
                });
            }
        }
        Ok(())
    }
}
