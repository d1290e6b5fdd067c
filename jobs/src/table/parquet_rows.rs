//! Parquet through the crate's record API: one row at a time, row group by row group, so a
//! large file is never decoded whole. Flat schemas only; each value becomes the text a CSV
//! would hold (numbers as written by Rust, dates as ISO 8601, nulls as empty cells).

use super::{RowSink, TableError};
use chrono::{DateTime, NaiveDate};
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::Field;

fn invalid(err: parquet::errors::ParquetError) -> TableError {
    TableError::Parquet(err.to_string())
}

pub(super) fn read<R: ChunkReader + 'static>(
    input: R,
    sink: &mut dyn RowSink,
) -> Result<(), TableError> {
    let reader = SerializedFileReader::new(input).map_err(invalid)?;
    let schema = reader.metadata().file_metadata().schema();
    let mut header = Vec::new();
    for field in schema.get_fields() {
        if !field.is_primitive() {
            return Err(TableError::ParquetType {
                column: field.name().to_owned(),
                kind: "group (nested)".to_owned(),
            });
        }
        header.push(field.name().to_owned());
    }
    if header.is_empty() {
        return Err(TableError::Empty);
    }
    super::check_header(&header)?;
    sink.header(&header)?;
    let mut texts: Vec<String> = Vec::with_capacity(header.len());
    for (index, row) in reader.get_row_iter(None).map_err(invalid)?.enumerate() {
        let row_number = index as u64 + 1;
        let row = row.map_err(invalid)?;
        texts.clear();
        for (name, field) in row.get_column_iter() {
            texts.push(text(name, field)?);
        }
        let cells: Vec<&str> = texts.iter().map(|t| t.trim()).collect();
        sink.row(row_number, &cells)?;
    }
    Ok(())
}

/// One value as CSV text.
fn text(column: &str, field: &Field) -> Result<String, TableError> {
    let unsupported = |kind: &str| TableError::ParquetType {
        column: column.to_owned(),
        kind: kind.to_owned(),
    };
    Ok(match field {
        Field::Null => String::new(),
        Field::Bool(v) => v.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => f32::from(*v).to_string(),
        Field::Float(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::Str(v) => v.clone(),
        Field::Date(days) => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(*days))))
            .map(|date| date.format("%Y-%m-%d").to_string())
            .ok_or_else(|| unsupported("DATE out of range"))?,
        Field::TimestampMillis(ms) => DateTime::from_timestamp_millis(*ms)
            .map(|t| t.to_rfc3339())
            .ok_or_else(|| unsupported("TIMESTAMP out of range"))?,
        Field::TimestampMicros(us) => DateTime::from_timestamp_micros(*us)
            .map(|t| t.to_rfc3339())
            .ok_or_else(|| unsupported("TIMESTAMP out of range"))?,
        Field::Decimal(_) => return Err(unsupported("DECIMAL")),
        Field::Bytes(_) => return Err(unsupported("BYTE_ARRAY (binary)")),
        Field::TimeMillis(_) | Field::TimeMicros(_) => return Err(unsupported("TIME")),
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
            return Err(unsupported("nested"));
        }
    })
}
