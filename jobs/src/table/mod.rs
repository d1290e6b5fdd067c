//! Reading an uploaded table row by row, in bounded memory: CSV (RFC 4180 quoting, any
//! one-character delimiter), CSV compressed with gzip, and Parquet, told apart by their first
//! bytes rather than by a name the client chose. Cells reach the caller as trimmed text (a
//! Parquet null, like an empty CSV cell, is `""`), so one set of inference rules
//! ([`profile`]) serves every format.
//!
//! Rows are numbered as a person reading the file would: in a CSV the header is row 1 and
//! the first record row 2; in Parquet the first record is row 1.

pub mod missing;
mod parquet_rows;
pub mod profile;
#[cfg(test)]
mod tests;

pub use profile::{Profile, ProfileOptions, Profiler};
pub use slipway_api::DataFormat;
use std::io::{Read, Seek, SeekFrom};

/// Why an uploaded table cannot be read or typed. Every variant that concerns one place
/// names its row and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("the file is empty: expected a header row and at least one data row")]
    Empty,
    #[error("delimiter: expected one character such as ',' ';' '|' or '\\t', got '{0}'")]
    Delimiter(String),
    #[error("header: column {column} has no name; name every column")]
    UnnamedColumn { column: usize },
    #[error("header: column '{name}' appears more than once")]
    DuplicateColumn { name: String },
    #[error("row {row}: expected {expected} values like the header, found {found}")]
    Ragged {
        row: u64,
        expected: usize,
        found: usize,
    },
    #[error("row {row}: the text is not valid UTF-8; save the file as UTF-8")]
    Utf8 { row: u64 },
    #[error("row {row}: invalid CSV: {message}")]
    Csv { row: u64, message: String },
    #[error("the gzip data is corrupt or cut short: {0}")]
    Gzip(String),
    #[error("invalid Parquet file: {0}")]
    Parquet(String),
    #[error(
        "column '{column}': Parquet type {kind} is not supported; expected numbers, text, booleans, dates or timestamps"
    )]
    ParquetType { column: String, kind: String },
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("{option}: column '{name}' not found; the columns are: {columns}")]
    UnknownColumn {
        option: &'static str,
        name: String,
        columns: String,
    },
    #[error("column '{name}' is named in both {first} and {second}; name it in one")]
    ConflictingOptions {
        name: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("label column '{label}' not found; the columns are: {columns}")]
    MissingLabel { label: String, columns: String },
    #[error("the dataset has no feature columns besides the label and the ignored columns")]
    NoFeatures,
    #[error("row {row}, column '{column}': '{value}' is not a number, and the column is numeric")]
    NotNumeric {
        row: u64,
        column: String,
        value: String,
    },
    #[error(
        "column '{column}' has more than {limit} distinct values, too many for a categorical column; leave it out with --ignore"
    )]
    TooManyLevels { column: String, limit: usize },
    #[error("label column '{label}' has no values: every row's label is empty")]
    NoLabels { label: String },
    #[error("label column '{label}' has one class ('{class}'); classification needs at least two")]
    OneClass { label: String, class: String },
    #[error(
        "row {row}, label column '{label}': '{value}' is not a number, so the column cannot be a regression target"
    )]
    NonNumericTarget {
        label: String,
        row: u64,
        value: String,
    },
    #[error(
        "label column '{label}' has more than {limit} classes; classification takes at most {limit} (for a numeric target, use --task regression)"
    )]
    TooManyClasses { label: String, limit: usize },
}

impl From<std::io::Error> for TableError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err.to_string())
    }
}

/// Receives a table: its header once, then each row's cells (as many as the header's).
pub trait RowSink {
    fn header(&mut self, names: &[String]) -> Result<(), TableError>;
    fn row(&mut self, row: u64, cells: &[&str]) -> Result<(), TableError>;
}

/// Where the bytes are: a file (an upload staged on disk) or memory (a dataset fetched for
/// training). Parquet needs to seek to its footer, so a plain stream will not do.
#[derive(Debug)]
pub enum Input {
    File(std::fs::File),
    Memory(bytes::Bytes),
}

/// The CSV delimiter named by an upload option: one character, `\t` (or a tab) for a tab.
pub fn parse_delimiter(text: Option<&str>) -> Result<u8, TableError> {
    match text {
        None | Some("") => Ok(b','),
        Some("\\t" | "\t" | "tab") => Ok(b'\t'),
        Some(other) if other.len() == 1 && other != "\"" && other != "\n" => {
            Ok(other.as_bytes()[0])
        }
        Some(other) => Err(TableError::Delimiter(other.to_owned())),
    }
}

/// The format of a file from its first bytes: gzip's magic number, Parquet's `PAR1`, or
/// else CSV.
pub fn detect(prefix: &[u8]) -> DataFormat {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        DataFormat::CsvGzip
    } else if prefix.starts_with(b"PAR1") {
        DataFormat::Parquet
    } else {
        DataFormat::Csv
    }
}

/// Reads `input` into `sink`, and answers the format it found.
pub fn read(input: Input, delimiter: u8, sink: &mut dyn RowSink) -> Result<DataFormat, TableError> {
    match input {
        Input::File(mut file) => {
            file.seek(SeekFrom::Start(0))?;
            let mut prefix = [0u8; 4];
            let mut filled = 0;
            while filled < prefix.len() {
                let n = file.read(&mut prefix[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            file.seek(SeekFrom::Start(0))?;
            let format = detect(&prefix[..filled]);
            match format {
                DataFormat::Parquet => parquet_rows::read(file, sink)?,
                _ => read_text(format, std::io::BufReader::new(file), delimiter, sink)?,
            }
            Ok(format)
        }
        Input::Memory(bytes) => {
            let format = detect(&bytes);
            match format {
                DataFormat::Parquet => parquet_rows::read(bytes, sink)?,
                _ => read_text(format, std::io::Cursor::new(bytes), delimiter, sink)?,
            }
            Ok(format)
        }
    }
}

/// CSV, or gzip-compressed CSV, streamed through one reused record.
fn read_text<R: Read>(
    format: DataFormat,
    input: R,
    delimiter: u8,
    sink: &mut dyn RowSink,
) -> Result<(), TableError> {
    let source: Box<dyn Read> = match format {
        DataFormat::CsvGzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        _ => Box::new(input),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(source);
    let mut record = csv::StringRecord::new();
    let convert = |err: csv::Error, row: u64| match err.kind() {
        csv::ErrorKind::Utf8 { .. } => TableError::Utf8 { row },
        csv::ErrorKind::Io(io) if format == DataFormat::CsvGzip => TableError::Gzip(io.to_string()),
        csv::ErrorKind::Io(io) => TableError::Io(io.to_string()),
        _ => TableError::Csv {
            row,
            message: err.to_string(),
        },
    };
    if !reader
        .read_record(&mut record)
        .map_err(|err| convert(err, 1))?
    {
        return Err(TableError::Empty);
    }
    let header: Vec<String> = record.iter().map(str::to_owned).collect();
    if header.iter().all(String::is_empty) {
        return Err(TableError::Empty);
    }
    check_header(&header)?;
    sink.header(&header)?;
    let mut row = 1u64;
    loop {
        row += 1;
        if !reader
            .read_record(&mut record)
            .map_err(|err| convert(err, row))?
        {
            break;
        }
        // A blank line (a trailing newline, say) is no row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != header.len() {
            return Err(TableError::Ragged {
                row,
                expected: header.len(),
                found: record.len(),
            });
        }
        let cells: Vec<&str> = record.iter().collect();
        sink.row(row, &cells)?;
    }
    Ok(())
}

/// Every column has a name, and no name is used twice.
fn check_header(names: &[String]) -> Result<(), TableError> {
    let mut seen = std::collections::HashSet::new();
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(TableError::UnnamedColumn { column: index + 1 });
        }
        if !seen.insert(name.as_str()) {
            return Err(TableError::DuplicateColumn { name: name.clone() });
        }
    }
    Ok(())
}
