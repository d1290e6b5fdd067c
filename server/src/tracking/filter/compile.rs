//! Compiles a search (filter, order, experiments) to one sea-query `SELECT runs.id …`. Values
//! are always bound parameters, never SQL text.
//!
//! Each distinct metric, param or tag key the search names is joined once (`LEFT JOIN
//! latest_metrics AS k0 ON k0.run_id = runs.id AND k0.key = ?`, an indexed lookup by primary
//! key), and every comparison on it is a plain column test, so a filter costs one lookup per
//! key and run rather than one correlated sub-query per comparison. A comparison on a key holds
//! only when the run has the key (`k0.run_id IS NOT NULL AND k0.value > ?`), which keeps
//! `NOT`, `!=` and `IS NULL` meaning what they meant with `EXISTS`. When a key is required by
//! the filter (it is compared at the top level of an `AND` chain), its join becomes an inner
//! one and an order by that key needs no "missing values last" flag, so the database can walk
//! the `(key, value)` index in order and stop at the page's end.
//!
//! SQLite plans without statistics, so for a filter such as `metrics.acc > 0.5 and params.lr =
//! '0.01'` it guesses which key's index to start from, and may start from the one that matches
//! more runs. The search connection counts, cheaply, how many runs each indexable comparison
//! matches (see `search::sqlite::most_selective`), and the comparison that matches the fewest
//! is marked for the planner as `likelihood(…, 0.0625)`, which leaves it usable by the index
//! and makes SQLite start there.
//!
//! A search's cost is capped before it runs: at most [`MAX_COMPARISONS`] comparisons (each
//! value of an `IN` list counts) and [`MAX_KEYS`] distinct keys.

use super::ast::{Attribute, Comparison, Field, Filter, Op, Operand, OrderKey};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};

const RUNS: &str = "runs";
/// The most comparisons one filter may make.
pub const MAX_COMPARISONS: usize = 50;
/// The most distinct metric, param and tag keys one search may name (filter and order).
pub const MAX_KEYS: usize = 8;

/// Why a search is refused before it runs; the message names the field and the limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CostError(pub String);

/// A keyed table joined once, under an alias.
#[derive(Debug)]
struct Join {
    table: &'static str,
    key: String,
    alias: String,
    /// Every matching run has the key: the join can be an inner one.
    required: bool,
}

/// The joins of one search and the expressions over them.
#[derive(Debug, Default)]
struct Compiler {
    joins: Vec<Join>,
    /// The comparison to mark as matching few runs, so the planner starts from its index.
    selective: Option<Comparison>,
}

/// The comparisons an index on `(key, value)` can answer that every match must pass: those on
/// a metric, param or tag at the top level of the filter's `AND` chain, with `=`, `<`, `<=`,
/// `>` or `>=` and one value.
pub fn index_candidates(filter: &Filter) -> Vec<&Comparison> {
    let mut chain = Vec::new();
    top_level_comparisons(filter, &mut chain);
    chain.retain(|comparison| {
        keyed_table(&comparison.field).is_some()
            && matches!(comparison.op, Op::Eq | Op::Lt | Op::Le | Op::Gt | Op::Ge)
            && matches!(
                comparison.value,
                Operand::Number(_) | Operand::Integer(_) | Operand::Text(_)
            )
    });
    chain
}

/// The comparisons of the filter's top-level `AND` chain: every match passes each of them.
fn top_level_comparisons<'f>(filter: &'f Filter, into: &mut Vec<&'f Comparison>) {
    match filter {
        Filter::And(left, right) => {
            top_level_comparisons(left, into);
            top_level_comparisons(right, into);
        }
        Filter::Compare(comparison) => into.push(comparison),
        _ => {}
    }
}

/// `SELECT 1 FROM <key's table> WHERE key = ? AND value <op> ?`: a row per run `comparison`
/// (one of [`index_candidates`]) matches, read from its key's `(key, value)` index; `None` for
/// any other comparison.
pub fn index_matches(comparison: &Comparison) -> Option<SelectStatement> {
    let (table, key) = keyed_table(&comparison.field)?;
    Some(
        Query::select()
            .expr(Expr::val(1))
            .from(table)
            .and_where(Expr::col("key").eq(key))
            .and_where(apply(Expr::col("value"), comparison.op, &comparison.value))
            .to_owned(),
    )
}

/// The table of a keyed field and its key.
fn keyed_table(field: &Field) -> Option<(&'static str, &str)> {
    match field {
        Field::Metric(key) => Some(("latest_metrics", key)),
        Field::Param(key) => Some(("params", key)),
        Field::Tag(key) => Some(("tags", key)),
        Field::Attribute(_) => None,
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

/// How many comparisons a filter makes (each value of a list counts).
fn comparisons(filter: &Filter) -> usize {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            comparisons(left) + comparisons(right)
        }
        Filter::Not(inner) => comparisons(inner),
        Filter::Compare(comparison) => match &comparison.value {
            Operand::Numbers(list) => list.len().max(1),
            Operand::Integers(list) => list.len().max(1),
            Operand::Texts(list) => list.len().max(1),
            _ => 1,
        },
    }
}

impl Compiler {
    /// The alias of the join for `table`/`key`, added on first use.
    fn alias(&mut self, table: &'static str, key: &str) -> String {
        if let Some(join) = self
            .joins
            .iter()
            .find(|join| join.table == table && join.key == key)
        {
            return join.alias.clone();
        }
        let alias = format!("k{}", self.joins.len());
        self.joins.push(Join {
            table,
            key: key.to_owned(),
            alias: alias.clone(),
            required: false,
        });
        alias
    }

    fn filter(&mut self, filter: &Filter) -> Expr {
        match filter {
            Filter::And(left, right) => self.filter(left).and(self.filter(right)),
            Filter::Or(left, right) => self.filter(left).or(self.filter(right)),
            Filter::Not(inner) => self.filter(inner).not(),
            Filter::Compare(comparison) => self.comparison(comparison),
        }
    }

    fn comparison(&mut self, comparison: &Comparison) -> Expr {
        let Comparison { field, op, value } = comparison;
        let selective = self.selective.as_ref() == Some(comparison);
        match field {
            Field::Metric(key) => self.keyed("latest_metrics", key, *op, value, selective),
            Field::Param(key) => self.keyed("params", key, *op, value, selective),
            Field::Tag(key) => self.keyed("tags", key, *op, value, selective),
            Field::Attribute(Attribute::Experiment) => compile_experiment(*op, value),
            Field::Attribute(attribute) => apply(attribute_column(*attribute), *op, value),
        }
    }

    /// A comparison on a key's joined row: it holds only when the run has the key. A
    /// `selective` one is marked as matching few runs.
    fn keyed(
        &mut self,
        table: &'static str,
        key: &str,
        op: Op,
        value: &Operand,
        selective: bool,
    ) -> Expr {
        let alias = self.alias(table, key);
        let present = Expr::col((Alias::new(alias.as_str()), "run_id"));
        match op {
            Op::IsNull => present.is_null(),
            Op::IsNotNull => present.is_not_null(),
            _ => {
                let test = apply(Expr::col((Alias::new(alias.as_str()), "value")), op, value);
                let test = if selective {
                    // SQLite's `likelihood` takes a literal; it changes the plan, not the result.
                    Expr::expr(Func::cust("likelihood").arg(test).arg(Expr::cust("0.0625")))
                } else {
                    test
                };
                present.is_not_null().and(test)
            }
        }
    }

    /// The expressions to order by for one key: missing values always sort last, so a key a
    /// run may lack gets a leading "is missing" flag (ascending whatever the direction).
    fn order(&mut self, key: &OrderKey) -> Vec<(Expr, Order)> {
        let direction = if key.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let (table, key_name) = match &key.field {
            Field::Attribute(attribute) => return vec![(attribute_column(*attribute), direction)],
            Field::Metric(name) => ("latest_metrics", name.as_str()),
            Field::Param(name) => ("params", name.as_str()),
            Field::Tag(name) => ("tags", name.as_str()),
        };
        let alias = self.alias(table, key_name);
        let value = Expr::col((Alias::new(alias.as_str()), "value"));
        let required = self
            .joins
            .iter()
            .any(|join| join.alias == alias && join.required);
        if required {
            vec![(value, direction)]
        } else {
            vec![(value.clone().is_null(), Order::Asc), (value, direction)]
        }
    }
}

/// Checks a search's cost against the caps.
pub fn check_cost(filter: Option<&Filter>, order: &[OrderKey]) -> Result<(), CostError> {
    let count = filter.map_or(0, comparisons);
    if count > MAX_COMPARISONS {
        return Err(CostError(format!(
            "filter: at most {MAX_COMPARISONS} comparisons, got {count}; narrow the filter"
        )));
    }
    let mut compiler = Compiler::default();
    if let Some(filter) = filter {
        compiler.filter(filter);
    }
    for key in order {
        compiler.order(key);
    }
    if compiler.joins.len() > MAX_KEYS {
        return Err(CostError(format!(
            "filter: at most {MAX_KEYS} distinct metric, param and tag keys (filter and order_by together), got {}",
            compiler.joins.len()
        )));
    }
    Ok(())
}

/// `SELECT runs.id FROM runs …` for a search, in its order (then newest first, then by id),
/// with `selective` (one of [`index_candidates`]) marked as matching few runs; the caller adds
/// the page's offset and limit.
pub fn compile_search(
    filter: Option<&Filter>,
    order: &[OrderKey],
    experiment_ids: &[i64],
    selective: Option<&Comparison>,
) -> SelectStatement {
    let mut compiler = Compiler {
        selective: selective.cloned(),
        ..Compiler::default()
    };
    if let Some(filter) = filter {
        // A keyed field compared (other than `IS NULL`) at the top level is one every match has.
        let mut chain = Vec::new();
        top_level_comparisons(filter, &mut chain);
        for comparison in chain.iter().filter(|c| c.op != Op::IsNull) {
            if let Some((table, key)) = keyed_table(&comparison.field) {
                let alias = compiler.alias(table, key);
                if let Some(join) = compiler.joins.iter_mut().find(|j| j.alias == alias) {
                    join.required = true;
                }
            }
        }
    }
    let condition = filter.map(|filter| compiler.filter(filter));
    let mut ordering: Vec<(Expr, Order)> =
        order.iter().flat_map(|key| compiler.order(key)).collect();
    if order.is_empty() {
        ordering.push((Expr::col((RUNS, "start_time")), Order::Desc));
    }
    ordering.push((tie_breaker(&compiler, order), Order::Desc));

    let mut select = Query::select();
    select.column((RUNS, "id")).from(RUNS);
    for join in &compiler.joins {
        let alias = Alias::new(join.alias.as_str());
        let kind = if join.required {
            JoinType::InnerJoin
        } else {
            JoinType::LeftJoin
        };
        select.join_as(
            kind,
            join.table,
            alias.clone(),
            Expr::col((alias.clone(), "run_id"))
                .equals((RUNS, "id"))
                .and(Expr::col((alias, "key")).eq(join.key.as_str())),
        );
    }
    if !experiment_ids.is_empty() {
        select.and_where(Expr::col((RUNS, "experiment_id")).is_in(experiment_ids.iter().copied()));
    }
    if let Some(condition) = condition {
        select.and_where(condition);
    }
    for (expression, direction) in ordering {
        select.order_by_expr(expression, direction);
    }
    select
}

/// The run id that breaks ties, newest first. When the first order key is a key every match
/// has (an inner join), its own `run_id` is the same id; naming it lets SQLite walk that key's
/// `(key, value)` index, which holds `run_id` after the value, in the whole order asked for and
/// stop at the page's end, instead of sorting every run with the same value apart.
fn tie_breaker(compiler: &Compiler, order: &[OrderKey]) -> Expr {
    let first_key = order.first().and_then(|key| keyed_table(&key.field));
    let walked = first_key.and_then(|(table, key)| {
        compiler
            .joins
            .iter()
            .find(|join| join.required && join.table == table && join.key == key)
    });
    match walked {
        Some(join) => Expr::col((Alias::new(join.alias.as_str()), "run_id")),
        None => Expr::col((RUNS, "id")),
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
