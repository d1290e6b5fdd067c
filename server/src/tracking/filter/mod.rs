//! The run-search filter language, for example
//! `metrics.acc > 0.9 and (params.lr = '0.01' or tags.team = 'vision')`.
//!
//! [`parse`] turns text into a typed syntax tree ([`ast`]), checking each comparison against
//! the type of its field; [`compile`] turns the tree into sea-query expressions whose values
//! are always bound parameters — a value is never spliced into SQL text.
//!
//! Fields: `metrics.KEY` (latest value, a number), `params.KEY` and `tags.KEY` (text), and the
//! attributes `id`, `name`, `status`, `start_time`, `end_time`, `experiment`, `created_by`
//! (bare or as `attributes.NAME`). Keys with other characters are quoted with backticks or
//! double quotes: ``metrics.`val loss` ``. Operators: `= != <> < <= > >=`, `LIKE`, `ILIKE`,
//! `IN (...)`, each negatable with `NOT`, `IS [NOT] NULL`; `AND`, `OR`, `NOT` and parentheses.

pub mod ast;
mod compile;
mod lexer;
mod parse;

pub use compile::{
    CostError, MAX_COMPARISONS, MAX_KEYS, check_cost, compile_search, index_candidates,
    index_matches,
};
pub use parse::{parse_filter, parse_order};

/// A filter or order-by that does not parse, with the 1-based character position of the
/// problem and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
