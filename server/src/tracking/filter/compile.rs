//! Compiles a filter tree to sea-query expressions over the `runs` table. Values are always
//! bound parameters, never SQL text. Metric, param and tag comparisons become correlated
//! `EXISTS` sub-queries on their tables (metrics compare their latest value).

use super::ast::{Attribute, Comparison, Field, Filter, Op, Operand, OrderKey};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement};

const RUNS: &str = "runs";

/// The expression a filter selects runs with.
pub fn compile_filter(filter: &Filter) -> Expr {
    match filter {
        Filter::And(left, right) => compile_filter(left).and(compile_filter(right)),
        Filter::Or(left, right) => compile_filter(left).or(compile_filter(right)),
        Filter::Not(inner) => compile_filter(inner).not(),
        Filter::Compare(comparison) => compile_comparison(comparison),
    }
}

/// The expressions to order by for one key, in order: missing values always sort last, so
/// the first expression puts them there on every backend.
pub fn compile_order(key: &OrderKey) -> Vec<Expr> {
    match &key.field {
        Field::Attribute(attribute) => vec![attribute_column(*attribute)],
        field => {
            let (table, key_name) = keyed_table(field);
            let mut select = Query::select();
            select
                .column("value")
                .from(table)
                .and_where(Expr::col((table, "run_id")).equals((RUNS, "id")))
                .and_where(Expr::col((table, "key")).eq(key_name))
                .limit(1);
            let value = Expr::from(select);
            vec![value.clone().is_null(), value]
        }
    }
}

fn attribute_column(attribute: Attribute) -> Expr {
    let column = match attribute {
        Attribute::Id => "id",
        Attribute::Name => "name",
        Attribute::Status => "status",
        Attribute::StartTime => "start_time",
        Attribute::EndTime => "end_time",
        Attribute::Experiment => "experiment_id",
        Attribute::CreatedBy => "created_by",
    };
    Expr::col((RUNS, column))
}

/// The table of a keyed field and its key.
fn keyed_table(field: &Field) -> (&'static str, &str) {
    match field {
        Field::Metric(key) => ("latest_metrics", key),
        Field::Param(key) => ("params", key),
        Field::Tag(key) => ("tags", key),
        Field::Attribute(_) => ("runs", ""),
    }
}

fn compile_comparison(comparison: &Comparison) -> Expr {
    let Comparison { field, op, value } = comparison;
    match field {
        Field::Attribute(Attribute::Experiment) => compile_experiment(*op, value),
        Field::Attribute(attribute) => apply(attribute_column(*attribute), *op, value),
        keyed => {
            let (table, key) = keyed_table(keyed);
            let mut select = Query::select();
            select
                .expr(Expr::cust("1"))
                .from(table)
                .and_where(Expr::col((table, "run_id")).equals((RUNS, "id")))
                .and_where(Expr::col((table, "key")).eq(key));
            match op {
                Op::IsNull => Expr::not_exists(select),
                Op::IsNotNull => Expr::exists(select),
                _ => {
                    select.and_where(apply(Expr::col((table, "value")), *op, value));
                    Expr::exists(select)
                }
            }
        }
    }
}

/// `experiment = 'name'` matches by name through a sub-query; a number matches the id.
fn compile_experiment(op: Op, value: &Operand) -> Expr {
    let column = Expr::col((RUNS, "experiment_id"));
    match value {
        Operand::Integer(_) | Operand::Integers(_) => apply(column, op, value),
        _ => {
            let (positive, name_op) = match op {
                Op::Ne => (false, Op::Eq),
                Op::NotIn => (false, Op::In),
                Op::NotLike => (false, Op::Like),
                Op::NotILike => (false, Op::ILike),
                other => (true, other),
            };
            let mut select: SelectStatement = Query::select();
            select.column("id").from("experiments").and_where(apply(
                Expr::col(("experiments", "name")),
                name_op,
                value,
            ));
            if positive {
                column.in_subquery(select)
            } else {
                column.not_in_subquery(select)
            }
        }
    }
}

/// `column op value`, with the value bound as a parameter.
fn apply(column: Expr, op: Op, value: &Operand) -> Expr {
    let single = match value {
        Operand::Number(n) => Expr::val(*n),
        Operand::Integer(n) => Expr::val(*n),
        Operand::Text(text) => Expr::val(text.as_str()),
        Operand::Numbers(list) => return list_op(column, op, list.iter().copied()),
        Operand::Integers(list) => return list_op(column, op, list.iter().copied()),
        Operand::Texts(list) => return list_op(column, op, list.iter().cloned()),
        Operand::None => {
            return match op {
                Op::IsNotNull => column.is_not_null(),
                _ => column.is_null(),
            };
        }
    };
    match op {
        Op::Eq => column.eq(single),
        Op::Ne => column.ne(single),
        Op::Lt => column.lt(single),
        Op::Le => column.lte(single),
        Op::Gt => column.gt(single),
        Op::Ge => column.gte(single),
        Op::Like => column.like_expr(single),
        Op::NotLike => column.like_expr(single).not(),
        Op::ILike => Expr::expr(Func::lower(column)).like_expr(Expr::expr(Func::lower(single))),
        Op::NotILike => Expr::expr(Func::lower(column))
            .like_expr(Expr::expr(Func::lower(single)))
            .not(),
        Op::In | Op::NotIn | Op::IsNull | Op::IsNotNull => column.eq(single),
    }
}

fn list_op<V, I>(column: Expr, op: Op, values: I) -> Expr
where
    V: Into<sea_orm::sea_query::Value>,
    I: IntoIterator<Item = V>,
{
    match op {
        Op::NotIn => column.is_not_in(values),
        _ => column.is_in(values),
    }
}

/// `LIKE` with an expression on the right (sea-query's `like` takes only a literal pattern).
trait LikeExpr {
    fn like_expr(self, pattern: Expr) -> Expr;
}

impl LikeExpr for Expr {
    fn like_expr(self, pattern: Expr) -> Expr {
        self.binary(sea_orm::sea_query::BinOper::Like, pattern)
    }
}
