//! Reading every format and typing every kind of column.

use super::profile::MAX_LEVELS;
use super::*;
use crate::dataset::Task;
use slipway_api::{ColumnType, LevelCount};

const PENGUINS: &[u8] = include_bytes!("../../../datasets/penguins.csv");
const CARS: &[u8] = include_bytes!("../../../datasets/cars.csv");
const IRIS: &[u8] = include_bytes!("../../../datasets/iris.csv");

fn options(label: &str) -> ProfileOptions {
    ProfileOptions {
        label: label.to_owned(),
        ..ProfileOptions::default()
    }
}

fn profile_with(
    bytes: &[u8],
    options: ProfileOptions,
    delimiter: u8,
) -> Result<Profile, TableError> {
    let mut profiler = Profiler::new(options);
    let format = read(
        Input::Memory(bytes.to_vec().into()),
        delimiter,
        &mut profiler,
    )?;
    profiler.finish(format, delimiter)
}

fn profile(bytes: &[u8], label: &str) -> Result<Profile, TableError> {
    profile_with(bytes, options(label), b',')
}

fn types(profile: &Profile) -> Vec<(&str, ColumnType)> {
    profile
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.column_type))
        .collect()
}

fn level(value: &str, count: u64) -> LevelCount {
    LevelCount {
        value: value.to_owned(),
        count,
    }
}

#[test]
fn penguins_have_text_categories_and_missing_values() {
    let p = profile(PENGUINS, "species").unwrap();
    assert_eq!(p.rows, 344);
    assert_eq!(p.task, Task::Classification);
    assert_eq!(p.classes, vec!["Adelie", "Chinstrap", "Gentoo"]);
    use ColumnType::*;
    assert_eq!(
        types(&p),
        vec![
            ("species", Label),
            ("island", Categorical),
            ("bill_length_mm", Numeric),
            ("bill_depth_mm", Numeric),
            ("flipper_length_mm", Numeric),
            ("body_mass_g", Numeric),
            ("sex", Categorical),
            ("year", Numeric),
        ]
    );
    let sex = p.schema.column("sex").unwrap();
    assert_eq!(sex.missing, 11);
    assert_eq!(sex.levels, vec![level("male", 168), level("female", 165)]);
    assert_eq!(p.schema.column("bill_length_mm").unwrap().missing, 2);
    assert_eq!(p.schema.missing_labels, 0);
    // Statistics are of the present numbers of the numeric features only.
    let names: Vec<&str> = p.statistics.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "year"
        ]
    );
    assert_eq!(p.statistics[0].count, 342);
    assert_eq!(p.features.len(), 7);
}

#[test]
fn cars_have_an_identifier_a_date_and_missing_labels() {
    let p = profile(CARS, "Miles_per_Gallon").unwrap();
    assert_eq!(p.rows, 406);
    assert_eq!(p.task, Task::Regression);
    assert_eq!(p.label_range, Some((9.0, 46.6)));
    let t = types(&p);
    assert_eq!(t[0], ("Name", ColumnType::Identifier));
    assert_eq!(t[1], ("Miles_per_Gallon", ColumnType::Label));
    assert_eq!(t[7], ("Year", ColumnType::Datetime));
    assert_eq!(t[8], ("Origin", ColumnType::Categorical));
    assert_eq!(p.schema.missing_labels, 8);
    assert_eq!(p.schema.column("Horsepower").unwrap().missing, 6);
    let origin = &p.schema.column("Origin").unwrap().levels;
    assert_eq!(
        origin,
        &vec![level("USA", 254), level("Japan", 79), level("Europe", 73)]
    );
    assert!(!p.features.contains(&"Name".to_owned()));
    assert!(
        p.schema
            .column("Miles_per_Gallon")
            .unwrap()
            .levels
            .is_empty()
    );
}

#[test]
fn the_uci_files_stay_all_numeric_with_the_same_statistics() {
    let p = profile(IRIS, "species").unwrap();
    let old = crate::Dataset::from_csv(IRIS, "species", None).unwrap();
    assert_eq!(p.features, old.schema.features);
    assert_eq!(p.classes, old.schema.classes);
    assert_eq!(p.statistics, old.statistics());
    assert_eq!(p.schema.format, DataFormat::Csv);
    let species = p.schema.column("species").unwrap();
    assert_eq!(species.levels.len(), 3);
    assert_eq!(species.levels[0].count, 50);
}

#[test]
fn booleans_datetimes_and_identifiers_are_told_apart() {
    let mut csv = String::from("id,flag,when,stamp,code,y\n");
    for i in 0..30 {
        let flag = ["yes", "No", "TRUE", "false"][i % 4];
        csv.push_str(&format!(
            "user-{i},{flag},2024-01-{:02},2024-01-01T10:{:02}:00Z,{},{}\n",
            i % 28 + 1,
            i,
            i % 3,
            i % 2
        ));
    }
    let p = profile(csv.as_bytes(), "y").unwrap();
    use ColumnType::*;
    assert_eq!(
        types(&p),
        vec![
            ("id", Identifier),
            ("flag", Boolean),
            ("when", Datetime),
            ("stamp", Datetime),
            ("code", Numeric),
            ("y", Label)
        ]
    );
    assert_eq!(p.schema.column("flag").unwrap().levels.len(), 4);
    assert_eq!(p.classes, vec!["0", "1"]);
    // Integer codes are categories when named so, and any column can be left out.
    let p = profile_with(
        csv.as_bytes(),
        ProfileOptions {
            label: "y".into(),
            categorical: vec!["code".into()],
            ignore: vec!["when".into()],
            ..ProfileOptions::default()
        },
        b',',
    )
    .unwrap();
    let code = p.schema.column("code").unwrap();
    assert_eq!(code.column_type, Categorical);
    assert_eq!(
        code.levels,
        vec![level("0", 10), level("1", 10), level("2", 10)]
    );
    assert_eq!(p.schema.column("when").unwrap().column_type, Identifier);
    assert_eq!(p.features, vec!["flag", "stamp", "code"]);
    // Few rows of distinct text are categories, not identifiers.
    let p = profile(b"colour,y\nred,1\nblue,2\ngreen,1\n", "y").unwrap();
    assert_eq!(types(&p)[0], ("colour", Categorical));
}

#[test]
fn the_label_may_be_any_column_and_missing_labels_are_counted() {
    let p = profile(b"y,a,b\n1.5,1,x\n,2,y\n2.5,3,x\n", "y").unwrap();
    assert_eq!(p.task, Task::Regression);
    assert_eq!(p.schema.missing_labels, 1);
    assert_eq!(p.rows, 3);
    assert_eq!(p.features, vec!["a", "b"]);
}

#[test]
fn quoted_fields_and_other_delimiters_are_read() {
    let csv = b"name,note,y\n\"Smith, J.\",\"said \"\"hi\"\"\nthen left\",1\nLee,plain,0\n";
    let mut rows = Vec::new();
    struct Collect<'a>(&'a mut Vec<Vec<String>>);
    impl RowSink for Collect<'_> {
        fn header(&mut self, names: &[String]) -> Result<(), TableError> {
            self.0.push(names.to_vec());
            Ok(())
        }
        fn row(&mut self, _: u64, cells: &[&str]) -> Result<(), TableError> {
            self.0.push(cells.iter().map(|c| c.to_string()).collect());
            Ok(())
        }
    }
    read(
        Input::Memory(csv.to_vec().into()),
        b',',
        &mut Collect(&mut rows),
    )
    .unwrap();
    assert_eq!(rows[1], vec!["Smith, J.", "said \"hi\"\nthen left", "1"]);
    assert_eq!(rows.len(), 3);

    let semicolons = b"a;b;y\n1,5;x;0\n2,5;y;1\n";
    let p = profile_with(semicolons, options("y"), b';').unwrap();
    assert_eq!(types(&p)[0], ("a", ColumnType::Categorical), "1,5 is text");
    assert_eq!(p.schema.delimiter, ";");
    assert_eq!(parse_delimiter(Some("\\t")), Ok(b'\t'));
    assert_eq!(parse_delimiter(None), Ok(b','));
    assert_eq!(
        parse_delimiter(Some("::")).unwrap_err().to_string(),
        "delimiter: expected one character such as ',' ';' '|' or '\\t', got '::'"
    );
}

#[test]
fn gzip_is_detected_by_its_magic_bytes() {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(PENGUINS).unwrap();
    let gz = encoder.finish().unwrap();
    let p = profile(&gz, "species").unwrap();
    assert_eq!(p.schema.format, DataFormat::CsvGzip);
    assert_eq!(p.rows, 344);
    assert_eq!(p.schema.column("sex").unwrap().missing, 11);
    // Cut short: a clear error, not a panic.
    let err = profile(&gz[..gz.len() / 2], "species").unwrap_err();
    assert!(matches!(err, TableError::Gzip(_)), "{err}");
}

#[test]
fn parquet_is_read_with_nulls_and_types() {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let schema = Arc::new(
        parse_message_type(
            "message t { REQUIRED BINARY island (UTF8); OPTIONAL DOUBLE mass; REQUIRED INT32 day (DATE); REQUIRED BINARY species (UTF8); }",
        )
        .unwrap(),
    );
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut file = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut file, schema, properties).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let islands: Vec<ByteArray> = ["Biscoe", "Dream", "Biscoe", "Dream"]
        .into_iter()
        .map(ByteArray::from)
        .collect();
    let mut column = group.next_column().unwrap().unwrap();
    column
        .typed::<ByteArrayType>()
        .write_batch(&islands, None, None)
        .unwrap();
    column.close().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    column
        .typed::<DoubleType>()
        .write_batch(&[3750.0, 4200.5, 3900.0], Some(&[1, 0, 1, 1]), None)
        .unwrap();
    column.close().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    column
        .typed::<Int32Type>()
        .write_batch(&[0, 1, 2, 19_000], None, None)
        .unwrap();
    column.close().unwrap();
    let species: Vec<ByteArray> = ["Adelie", "Gentoo", "Adelie", "Gentoo"]
        .into_iter()
        .map(ByteArray::from)
        .collect();
    let mut column = group.next_column().unwrap().unwrap();
    column
        .typed::<ByteArrayType>()
        .write_batch(&species, None, None)
        .unwrap();
    column.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();

    let p = profile(&file, "species").unwrap();
    assert_eq!(p.schema.format, DataFormat::Parquet);
    assert_eq!(p.rows, 4);
    use ColumnType::*;
    assert_eq!(
        types(&p),
        vec![
            ("island", Categorical),
            ("mass", Numeric),
            ("day", Datetime),
            ("species", Label)
        ]
    );
    assert_eq!(p.schema.column("mass").unwrap().missing, 1);
    assert_eq!(p.statistics[0].max, 4200.5);
    assert_eq!(p.classes, vec!["Adelie", "Gentoo"]);
    // The same bytes from a file on disk (how uploads are read).
    let mut staged = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut staged, &file).unwrap();
    let mut profiler = Profiler::new(options("species"));
    assert_eq!(
        read(Input::File(staged), b',', &mut profiler),
        Ok(DataFormat::Parquet)
    );
    assert_eq!(profiler.finish(DataFormat::Parquet, b',').unwrap().rows, 4);
    // A truncated file is refused clearly.
    let err = profile(&file[..file.len() - 10], "species").unwrap_err();
    assert!(err.to_string().starts_with("invalid Parquet file"), "{err}");
}

#[test]
fn errors_name_the_row_and_column() {
    let err = |csv: &[u8], options: ProfileOptions| {
        profile_with(csv, options, b',').unwrap_err().to_string()
    };
    let with = |label: &str, numeric: &[&str]| ProfileOptions {
        label: label.into(),
        numeric: numeric.iter().map(|s| s.to_string()).collect(),
        ..ProfileOptions::default()
    };
    assert!(err(b"", options("y")).contains("empty"));
    assert!(err(b"a,y\n", options("y")).contains("empty"));
    assert_eq!(
        err(b"a,b\n1,2\n", options("y")),
        "label column 'y' not found; the columns are: a, b"
    );
    assert_eq!(
        err(b"a,y\n1,x\n2\n", options("y")),
        "row 3: expected 2 values like the header, found 1"
    );
    assert_eq!(
        err(b"a,y\n1,x\nfoo,z\n", with("y", &["a"])),
        "row 3, column 'a': 'foo' is not a number, and the column is numeric"
    );
    assert_eq!(
        err(b"a,y\n1,x\n", with("y", &["b"])),
        "--numeric: column 'b' not found; the columns are: a, y"
    );
    assert!(err(b"a,y\n1,x\n", with("y", &["y"])).contains("named in both --label and --numeric"));
    assert!(err(b"a,y\n1,x\n2,x\n", options("y")).contains("one class ('x')"));
    assert!(err(b"a,y\n1,\n2,\n", options("y")).contains("every row's label is empty"));
    assert_eq!(
        err(
            b"a,y\n1,2\n2,x\n",
            ProfileOptions {
                task: Some(Task::Regression),
                ..options("y")
            }
        ),
        "row 3, label column 'y': 'x' is not a number, so the column cannot be a regression target"
    );
    assert_eq!(
        err(b"a,,y\n1,2,3\n", options("y")),
        "header: column 2 has no name; name every column"
    );
    assert_eq!(
        err(b"a,a,y\n1,2,3\n", options("y")),
        "header: column 'a' appears more than once"
    );
    assert_eq!(
        err(b"a,y\n\xff,1\n", options("y")),
        "row 2: the text is not valid UTF-8; save the file as UTF-8"
    );
    assert!(
        err(
            b"id,y\n1,0\n2,1\n",
            ProfileOptions {
                ignore: vec!["id".into()],
                ..options("y")
            }
        )
        .contains("no feature columns")
    );
    // A forced category with more levels than a category may have.
    let mut many = String::from("k,y\n");
    for i in 0..(MAX_LEVELS + 5) {
        many.push_str(&format!("{i},{}\n", i % 2));
    }
    assert!(
        err(
            many.as_bytes(),
            ProfileOptions {
                categorical: vec!["k".into()],
                ..options("y")
            }
        )
        .starts_with("column 'k' has more than 1000 distinct values")
    );
}

#[test]
fn large_columns_keep_exact_moments_with_a_bounded_sample() {
    let mut csv = String::from("x,y\n");
    let rows = SAMPLE_ROWS;
    for i in 0..rows {
        csv.push_str(&format!("{i},{}\n", i % 2));
    }
    let p = profile(csv.as_bytes(), "y").unwrap();
    let x = &p.statistics[0];
    assert_eq!(x.count, rows);
    assert_eq!((x.min, x.max), (0.0, (rows - 1) as f64));
    assert!((x.mean - (rows - 1) as f64 / 2.0).abs() < 1e-6);
    // The sampled histogram still spreads evenly over the deciles.
    let total: usize = x.bin_counts.iter().sum();
    assert!(
        x.bin_counts.iter().all(|&c| c * 10 > total * 8 / 10),
        "{:?}",
        x.bin_counts
    );
}

const SAMPLE_ROWS: usize = 100_000;

#[test]
fn missing_tokens_are_missing_at_upload_and_in_training_rows() {
    let csv = b"x,colour,y\n1.5,red,a\nNA,N/A,b\n?,null,a\nnan,blue,b\n2,?,a\n3,red,NA\n";
    let tokens = missing::parse_tokens(None);
    let p = profile_with(
        csv,
        ProfileOptions {
            missing: tokens.clone(),
            ..options("y")
        },
        b',',
    )
    .unwrap();
    let column = |name: &str| p.schema.column(name).unwrap().clone();
    assert_eq!(column("x").column_type, ColumnType::Numeric);
    assert_eq!(column("x").missing, 3);
    assert_eq!(column("colour").column_type, ColumnType::Categorical);
    assert_eq!(column("colour").missing, 3);
    assert_eq!(column("colour").levels, [level("red", 2), level("blue", 1)]);
    assert_eq!(p.schema.missing_labels, 1);
    assert_eq!(p.statistics[0].count, 3);
    assert_eq!(p.schema.missing_tokens.as_deref(), Some(&tokens[..]));
    // Training reads the same cells as missing (empty), and skips the row without a label.
    let features = vec!["x".to_owned(), "colour".to_owned()];
    let data =
        crate::Dataset::from_table(csv, &p.schema, &features, "y", Task::Classification).unwrap();
    assert_eq!(data.skipped_rows, 1);
    let cells = data.cells.unwrap();
    assert_eq!(cells[1], ["", ""]);
    assert_eq!(cells[2], ["", ""]);
    assert_eq!(cells[3], ["", "blue"]);
    assert_eq!(cells[4], ["2", ""]);

    // Named tokens replace the default set; with none, `NA` is text.
    let own = profile_with(
        b"x,y\n1,a\n-,b\nNA,a\n",
        ProfileOptions {
            missing: missing::parse_tokens(Some("-")),
            ..options("y")
        },
        b',',
    )
    .unwrap();
    assert_eq!(own.schema.columns[0].column_type, ColumnType::Categorical);
    assert_eq!(own.schema.columns[0].missing, 1);
    assert_eq!(own.schema.missing_tokens, Some(vec!["-".to_owned()]));
    let numeric = profile_with(
        b"x,y\n1,a\n-,b\n3,a\n",
        ProfileOptions {
            missing: missing::parse_tokens(Some("-")),
            ..options("y")
        },
        b',',
    )
    .unwrap();
    assert_eq!(numeric.schema.columns[0].column_type, ColumnType::Numeric);
    assert_eq!(numeric.schema.columns[0].missing, 1);
}
