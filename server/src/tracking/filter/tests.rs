//! Tests of the filter language: the syntax tree, error positions, and the SQL it compiles to.

use super::ast::{Attribute, Comparison, Field, Filter, Op, Operand};
use super::{MAX_COMPARISONS, check_cost, compile_search, parse_filter, parse_order};
use sea_orm::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder, Value};

fn compare(field: Field, op: Op, value: Operand) -> Filter {
    Filter::Compare(Comparison { field, op, value })
}

/// The SQL and bound values of the search for `filter`.
fn sql(filter: &str) -> (String, Vec<Value>) {
    let filter = parse_filter(filter).unwrap().unwrap();
    let (sql, values) = compile_search(Some(&filter), &[], &[], None).build(SqliteQueryBuilder);
    (sql, values.0)
}

#[test]
fn parses_the_documented_example_with_precedence() {
    let filter = parse_filter("metrics.acc > 0.9 and (params.lr = '0.01' or tags.team = 'vision')")
        .unwrap()
        .unwrap();
    let expected = Filter::And(
        Box::new(compare(
            Field::Metric("acc".into()),
            Op::Gt,
            Operand::Number(0.9),
        )),
        Box::new(Filter::Or(
            Box::new(compare(
                Field::Param("lr".into()),
                Op::Eq,
                Operand::Text("0.01".into()),
            )),
            Box::new(compare(
                Field::Tag("team".into()),
                Op::Eq,
                Operand::Text("vision".into()),
            )),
        )),
    );
    assert_eq!(filter, expected);
}

#[test]
fn and_binds_tighter_than_or_and_not_applies_to_one_term() {
    let filter = parse_filter("not status = 'failed' or name = 'a' and name = 'b'")
        .unwrap()
        .unwrap();
    let Filter::Or(left, right) = filter else {
        panic!("OR must be the root")
    };
    assert!(matches!(*left, Filter::Not(_)));
    assert!(matches!(*right, Filter::And(_, _)));
}

#[test]
fn reads_every_operator_and_attribute_form() {
    for text in [
        "metrics.loss <= 0.5",
        "metrics.`val loss` >= -1e-3",
        "metrics.\"val/loss\" != 2",
        "params.optimizer IN ('adam', 'sgd')",
        "params.optimizer NOT IN ('adam')",
        "tags.team LIKE 'vis%'",
        "tags.team NOT ILIKE 'VIS%'",
        "tags.note IS NULL",
        "metrics.f1 IS NOT NULL",
        "attributes.status = 'finished'",
        "status <> 'RUNNING'",
        "start_time > '2026-01-01T00:00:00Z'",
        "end_time < 1764000000000",
        "experiment = 'vision'",
        "experiment IN (1, 2)",
        "id = 7",
        "created_by = 'alice'",
        "NOT (metrics.a > 1 OR metrics.b < 2)",
    ] {
        assert!(
            parse_filter(text).is_ok(),
            "{text}: {:?}",
            parse_filter(text)
        );
    }
    let status = parse_filter("status = 'finished'").unwrap().unwrap();
    assert_eq!(
        status,
        compare(
            Field::Attribute(Attribute::Status),
            Op::Eq,
            Operand::Text("FINISHED".into())
        )
    );
}

#[test]
fn empty_filters_match_everything() {
    assert_eq!(parse_filter("").unwrap(), None);
    assert_eq!(parse_filter("   ").unwrap(), None);
}

#[test]
fn errors_name_the_position_and_what_was_expected() {
    let cases = [
        ("metrics.acc >", 14, "expected a value"),
        ("metrics.acc > 0.9 and", 22, "expected a field"),
        ("metrics.acc 0.9", 13, "expected an operator"),
        ("(metrics.acc > 1", 17, "expected ')'"),
        ("metrics.acc > 1)", 16, "expected AND, OR or the end"),
        ("foo.bar = 1", 1, "unknown prefix 'foo'"),
        ("colour = 'red'", 1, "unknown field 'colour'"),
        ("params.lr = 0.01", 13, "quote the value"),
        ("metrics.acc = 'high'", 15, "is a number"),
        (
            "metrics.acc LIKE 'a%'",
            18,
            "LIKE and ILIKE compare text fields only",
        ),
        ("status = 'sleeping'", 10, "unknown run status"),
        ("start_time > 'yesterday'", 14, "RFC 3339"),
        ("params.x IN 'a'", 13, "'(' to start the IN list"),
        ("params.x IN ('a' 'b')", 18, "',' or ')'"),
        ("name IS NULL", 1, "always set"),
        ("tags.x NOT = 'a'", 12, "LIKE, ILIKE or IN after NOT"),
    ];
    for (text, position, expected) in cases {
        let err = parse_filter(text).expect_err(text);
        assert_eq!(err.position, position, "{text}: {err}");
        assert!(err.message.contains(expected), "{text}: {err}");
    }
}

#[test]
fn refuses_runaway_nesting_and_length() {
    let deep = format!("{}metrics.a > 1{}", "(".repeat(100), ")".repeat(100));
    assert!(
        parse_filter(&deep)
            .unwrap_err()
            .message
            .contains("nests deeper")
    );
    let long = format!("name = '{}'", "a".repeat(5000));
    assert!(
        parse_filter(&long)
            .unwrap_err()
            .message
            .contains("longer than")
    );
}

#[test]
fn compiles_to_one_join_per_key_with_bound_values() {
    let (text, values) = sql("metrics.acc > 0.9 and params.lr = '0.01' and metrics.acc < 0.99");
    assert!(
        !text.contains("EXISTS"),
        "no correlated sub-queries: {text}"
    );
    assert_eq!(
        text.matches("JOIN").count(),
        2,
        "one join per distinct key: {text}"
    );
    assert!(text.contains("INNER JOIN \"latest_metrics\""), "{text}");
    assert!(text.contains("\"params\""), "{text}");
    assert!(
        !text.contains("0.9") && !text.contains("0.01"),
        "values must be bound: {text}"
    );
    assert_eq!(
        values,
        vec![
            Value::from("acc"),
            Value::from("lr"),
            Value::from(0.9f64),
            Value::from("0.01"),
            Value::from(0.99f64),
        ]
    );
    // A key compared only under OR or NOT may be missing: an outer join.
    let (outer, _) = sql("metrics.acc > 0.9 or not tags.team = 'a'");
    assert_eq!(outer.matches("LEFT JOIN").count(), 2, "{outer}");
}

#[test]
fn cost_is_capped_before_the_search_runs() {
    let many = vec!["metrics.acc > 0.5"; MAX_COMPARISONS + 1].join(" or ");
    let filter = parse_filter(&many).unwrap();
    let err = check_cost(filter.as_ref(), &[]).unwrap_err();
    assert_eq!(
        err.0,
        format!("filter: at most {MAX_COMPARISONS} comparisons, got 51; narrow the filter")
    );
    let list: Vec<String> = (0..60).map(|i| format!("'{i}'")).collect();
    let filter = parse_filter(&format!("params.lr IN ({})", list.join(", "))).unwrap();
    assert!(
        check_cost(filter.as_ref(), &[]).is_err(),
        "each listed value counts"
    );
    let keys: Vec<String> = (0..9).map(|i| format!("metrics.m{i} > 0")).collect();
    let filter = parse_filter(&keys.join(" or ")).unwrap();
    let err = check_cost(filter.as_ref(), &[]).unwrap_err();
    assert!(err.0.contains("at most 8 distinct"), "{}", err.0);
    let order = [parse_order("metrics.m8 DESC").unwrap()];
    let filter = parse_filter(&keys[..8].join(" or ")).unwrap();
    assert!(check_cost(filter.as_ref(), &[]).is_ok());
    assert!(
        check_cost(filter.as_ref(), &order).is_err(),
        "order keys count too"
    );
}

#[test]
fn injection_attempts_stay_values() {
    for attack in [
        "name = 'x'' OR 1=1 --'",
        "params.lr = '0.01''); DROP TABLE runs; --'",
        "tags.`team' OR '1'='1` = 'a'",
        "experiment = 'a'' UNION SELECT secret_hash FROM tokens --'",
    ] {
        let (sql, values) = sql(attack);
        for needle in ["DROP", "OR 1=1", "UNION", "secret_hash", "'1'='1"] {
            assert!(!sql.contains(needle), "{attack} leaked into SQL: {sql}");
        }
        assert!(
            values.iter().any(|v| format!("{v:?}").contains('\'')),
            "{attack}: the quote must be inside a bound value: {values:?}"
        );
    }
}

#[test]
fn experiment_names_compile_to_a_subquery_and_ids_to_the_column() {
    let (by_name, _) = sql("experiment != 'vision'");
    assert!(by_name.contains("NOT IN (SELECT"), "{by_name}");
    let (by_id, values) = sql("experiment IN (3, 4)");
    assert!(by_id.contains("\"experiment_id\" IN (?, ?)"), "{by_id}");
    assert_eq!(values, vec![Value::from(3i64), Value::from(4i64)]);
}

#[test]
fn the_same_tree_compiles_for_postgres() {
    let filter = parse_filter("metrics.acc >= 0.5 and tags.t ILIKE 'A%'")
        .unwrap()
        .unwrap();
    let (sql, _) = compile_search(Some(&filter), &[], &[], None).build(PostgresQueryBuilder);
    assert!(sql.contains("$1") && sql.contains("LOWER"), "{sql}");
}

#[test]
fn order_keys_parse_and_put_missing_metrics_last() {
    let key = parse_order("metrics.acc DESC").unwrap();
    assert!(key.descending);
    let (sql, _) =
        compile_search(None, std::slice::from_ref(&key), &[], None).build(SqliteQueryBuilder);
    assert!(sql.contains("LEFT JOIN"), "{sql}");
    assert!(
        sql.contains("\"k0\".\"value\" IS NULL ASC, \"k0\".\"value\" DESC"),
        "a missing flag, then the value: {sql}"
    );
    // The filter requires the metric: no missing runs, so the index order can be used.
    let filter = parse_filter("metrics.acc > 0.5").unwrap();
    let (sql, _) = compile_search(filter.as_ref(), std::slice::from_ref(&key), &[], None)
        .build(SqliteQueryBuilder);
    assert!(sql.contains("INNER JOIN"), "{sql}");
    assert!(!sql.contains("IS NULL"), "{sql}");
    let key = parse_order("start_time").unwrap();
    assert!(!key.descending);
    let err = parse_order("metrics.acc sideways").unwrap_err();
    assert_eq!(err.position, 13);
}

/// Runs of a small store and the ids each filter selects: the joins keep the meaning the
/// language documents (a missing key fails every comparison, so `NOT` selects it).
#[tokio::test]
async fn filters_select_the_runs_they_describe() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::connect(&crate::db::testing::url(dir.path()).await)
        .await
        .unwrap();
    let statements = [
        "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0)",
        "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) VALUES \
         (1, 1, 'a', 'FINISHED', 1, 'x'), (2, 1, 'b', 'FINISHED', 2, 'x'), \
         (3, 1, 'c', 'FINISHED', 3, 'x')",
        "INSERT INTO latest_metrics (run_id, key, value, step, timestamp) VALUES \
         (1, 'acc', 0.9, 1, 0), (2, 'acc', 0.5, 1, 0)",
        "INSERT INTO params (run_id, key, value) VALUES (1, 'lr', '0.1'), (3, 'lr', '0.01')",
    ];
    for statement in statements {
        db.execute_unprepared(statement).await.unwrap();
    }
    let ids = |filter: &'static str, order: &'static [&'static str]| {
        let db = db.clone();
        async move {
            let filter = parse_filter(filter).unwrap();
            let order: Vec<_> = order.iter().map(|o| parse_order(o).unwrap()).collect();
            let statement = compile_search(filter.as_ref(), &order, &[1], None);
            let rows = db.query_all(&statement).await.unwrap();
            rows.iter()
                .map(|row| row.try_get_by_index::<i64>(0).unwrap())
                .collect::<Vec<i64>>()
        }
    };
    assert_eq!(ids("metrics.acc > 0.6", &[]).await, vec![1]);
    assert_eq!(ids("not metrics.acc > 0.6", &[]).await, vec![3, 2]);
    assert_eq!(ids("metrics.acc != 0.5", &[]).await, vec![1]);
    assert_eq!(ids("metrics.acc IS NULL", &[]).await, vec![3]);
    assert_eq!(
        ids("params.lr = '0.1' or metrics.acc < 0.6", &[]).await,
        vec![2, 1]
    );
    assert_eq!(
        ids("metrics.acc > 0 and metrics.acc < 1", &["metrics.acc"]).await,
        vec![2, 1]
    );
    assert_eq!(
        ids("", &["metrics.acc DESC"]).await,
        vec![1, 2, 3],
        "missing last"
    );
    assert_eq!(ids("", &["params.lr"]).await, vec![3, 1, 2]);
}

/// MLflow's clients write run ids as strings and name some attributes their own way.
#[test]
fn reads_mlflow_names_and_quoted_run_ids() {
    let filter = parse_filter("attributes.run_id IN ('3', '4') and attributes.user_id = 'ann'")
        .unwrap()
        .unwrap();
    let expected = Filter::And(
        Box::new(compare(
            Field::Attribute(Attribute::Id),
            Op::In,
            Operand::Integers(vec![3, 4]),
        )),
        Box::new(compare(
            Field::Attribute(Attribute::CreatedBy),
            Op::Eq,
            Operand::Text("ann".into()),
        )),
    );
    assert_eq!(filter, expected);
    let err = parse_filter("attributes.run_id = 'abc'").unwrap_err();
    assert!(err.message.contains("expected a whole number"), "{err}");
}

#[test]
fn the_selective_comparison_is_marked_for_the_planner_and_nothing_else_changes() {
    let filter = parse_filter(
        "metrics.acc > 0.5 and params.lr = '0.01' and (tags.t = 'a' or metrics.acc < 0.9)",
    )
    .unwrap()
    .unwrap();
    let candidates = super::index_candidates(&filter);
    // The OR branch's comparisons are not candidates: a match need not pass them.
    assert_eq!(
        candidates.iter().map(|c| &c.field).collect::<Vec<_>>(),
        [&Field::Metric("acc".into()), &Field::Param("lr".into())]
    );
    let (plain, plain_values) =
        compile_search(Some(&filter), &[], &[], None).build(SqliteQueryBuilder);
    let (marked, marked_values) =
        compile_search(Some(&filter), &[], &[], Some(candidates[1])).build(SqliteQueryBuilder);
    assert!(!plain.contains("likelihood"), "{plain}");
    assert!(
        marked.contains(r#"likelihood("k1"."value" = ?, 0.0625)"#),
        "{marked}"
    );
    assert_eq!(marked.matches("likelihood").count(), 1, "{marked}");
    assert_eq!(plain_values, marked_values);
}
