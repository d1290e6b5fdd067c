//! The typed syntax tree of a run filter and of an order-by clause.

/// A boolean filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Comparison),
}

/// One comparison of a field with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: Field,
    pub op: Op,
    pub value: Operand,
}

/// What a comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The latest value of a metric.
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(Attribute),
}

/// A column of the run itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Id,
    Name,
    Status,
    StartTime,
    EndTime,
    Experiment,
    CreatedBy,
}

impl Attribute {
    pub const ALL: [(&'static str, Attribute); 7] = [
        ("id", Attribute::Id),
        ("name", Attribute::Name),
        ("status", Attribute::Status),
        ("start_time", Attribute::StartTime),
        ("end_time", Attribute::EndTime),
        ("experiment", Attribute::Experiment),
        ("created_by", Attribute::CreatedBy),
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            // The MLflow API's names for the same attributes.
            "run_id" | "run_uuid" => "id",
            "run_name" => "name",
            "user_id" => "created_by",
            "created" => "start_time",
            "experiment_id" => "experiment",
            other => other,
        };
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, attribute)| *attribute)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    ILike,
    NotILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

/// The right-hand side of a comparison, already converted to the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Number(f64),
    Integer(i64),
    Text(String),
    Numbers(Vec<f64>),
    Integers(Vec<i64>),
    Texts(Vec<String>),
    /// For `IS [NOT] NULL`.
    None,
}

/// One key of an order-by clause.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: Field,
    pub descending: bool,
}
