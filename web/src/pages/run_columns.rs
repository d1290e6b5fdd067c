//! The runs table's metric and parameter columns: which exist on a page, which the person
//! chose (a GET form of checkboxes, remembered by the server in a cookie), and the chooser
//! itself. A column no shown run has a value for is left out.

use leptos::prelude::*;
use slipway_api::Run;
use std::collections::{BTreeMap, BTreeSet};

/// Metric columns shown when nothing was chosen.
const DEFAULT_METRIC_COLUMNS: usize = 8;
/// The query parameter of one chosen column (repeats).
pub const COLUMN_PARAM: &str = "col";
/// The query parameter that marks a submitted chooser (so that choosing none is a choice).
pub const CHOSEN_PARAM: &str = "columns";

/// One column: a metric or a parameter, by key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    Metric(String),
    Param(String),
}

impl Column {
    /// The column's name in queries and cookies: `metrics.KEY` or `params.KEY`.
    pub fn id(&self) -> String {
        match self {
            Self::Metric(key) => format!("metrics.{key}"),
            Self::Param(key) => format!("params.{key}"),
        }
    }

    /// The column named `id`, if it names one.
    pub fn parse(id: &str) -> Option<Self> {
        if let Some(key) = id.strip_prefix("metrics.") {
            Some(Self::Metric(key.to_owned()))
        } else {
            id.strip_prefix("params.")
                .map(|key| Self::Param(key.to_owned()))
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Self::Metric(key) | Self::Param(key) => key,
        }
    }
}

/// The columns some shown run has a value for: metrics first, then parameters.
pub fn available(runs: &[Run], params: &BTreeMap<i64, BTreeMap<String, String>>) -> Vec<Column> {
    let metrics: BTreeSet<&String> = runs.iter().flat_map(|run| run.metrics.keys()).collect();
    let param_keys: BTreeSet<&String> = runs
        .iter()
        .filter_map(|run| params.get(&run.id))
        .flat_map(BTreeMap::keys)
        .collect();
    metrics
        .into_iter()
        .map(|key| Column::Metric(key.clone()))
        .chain(param_keys.into_iter().map(|key| Column::Param(key.clone())))
        .collect()
}

/// The columns to show: the chosen ones that have a value on this page, or without a choice
/// the first metrics.
pub fn shown(available: &[Column], chosen: Option<&[String]>) -> Vec<Column> {
    match chosen {
        Some(chosen) => available
            .iter()
            .filter(|column| chosen.contains(&column.id()))
            .cloned()
            .collect(),
        None => available
            .iter()
            .filter(|column| matches!(column, Column::Metric(_)))
            .take(DEFAULT_METRIC_COLUMNS)
            .cloned()
            .collect(),
    }
}

/// The column chooser: a disclosure holding a GET form of checkboxes, so it needs no script.
#[component]
pub fn ColumnChooser(
    available: Vec<Column>,
    shown: Vec<Column>,
    filter: String,
    order_by: String,
) -> impl IntoView {
    let boxes = available
        .into_iter()
        .map(|column| {
            let id = column.id();
            let field = format!("col-{}", crate::layout::encode(&id));
            let kind = match column {
                Column::Metric(_) => "metric",
                Column::Param(_) => "parameter",
            };
            let checked = shown.contains(&column);
            let input_id = field.clone();
            view! {
                <label for=field>
                    <input type="checkbox" id=input_id name=COLUMN_PARAM value=id checked=checked />
                    {format!("{} ({kind})", column.key())}
                </label>
            }
        })
        .collect_view();
    view! {
        <details class="columns" id="columns">
            <summary>"Columns"</summary>
            <form method="get" action="/runs">
                <input type="hidden" name="filter" value=filter />
                <input type="hidden" name="order_by" value=order_by />
                <input type="hidden" name=CHOSEN_PARAM value="chosen" />
                <fieldset>
                    <legend>"Metric and parameter columns to show"</legend>
                    {boxes}
                </fieldset>
                <button type="submit">"Show these columns"</button>
            </form>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::run;

    #[test]
    fn only_columns_with_a_value_are_available_and_a_choice_keeps_to_them() {
        let runs = vec![run(1, "a"), run(2, "b")];
        let params = BTreeMap::from([(2, BTreeMap::from([("lr".to_owned(), "0.1".to_owned())]))]);
        let available = available(&runs, &params);
        let ids: Vec<String> = available.iter().map(Column::id).collect();
        assert_eq!(ids, ["metrics.accuracy", "metrics.loss", "params.lr"]);
        let chosen = vec!["params.lr".to_owned(), "metrics.f1".to_owned()];
        assert_eq!(
            shown(&available, Some(&chosen)),
            [Column::Param("lr".into())]
        );
        assert_eq!(
            shown(&available, None),
            [
                Column::Metric("accuracy".into()),
                Column::Metric("loss".into())
            ]
        );
        assert_eq!(Column::parse("params.lr"), Some(Column::Param("lr".into())));
        assert_eq!(Column::parse("name"), None);
    }
}
