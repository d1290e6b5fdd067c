//! Tests of run search: deadlines, step budgets, abandoned searches, exact values, order, the
//! comparison a search starts from, and the plans a search thread reuses.

use super::*;
use crate::entity::tracking::latest_metric;
use sea_orm::sea_query::Query;
use std::time::Instant;

/// A query that runs for many seconds unless interrupted.
fn endless() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::cust(
            "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
             WHERE x < 1000000000) SELECT count(*) FROM c)",
        ))
        .to_owned()
}

/// A pool whose only limit is `deadline` (the step budget is lifted).
async fn pool(deadline: Duration) -> (tempfile::TempDir, SearchPool) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(dir.path()).await;
    crate::db::connect(&url).await.unwrap();
    let mut pool = SearchPool::open(&url, deadline).unwrap();
    pool.max_steps = u64::MAX;
    (dir, pool)
}

#[tokio::test]
async fn a_search_over_its_step_budget_is_refused_whatever_the_time() {
    if crate::db::testing::skip_on_postgres(
        "the step budget counts SQLite's virtual-machine steps; PostgreSQL has only the deadline",
    ) {
        return;
    }
    let (_dir, mut pool) = pool(Duration::from_secs(60)).await;
    pool.max_steps = 200_000;
    let err = pool.runs(endless(), Window::ALL).await.unwrap_err();
    assert!(matches!(err, ServiceError::InvalidArgument(_)), "{err}");
    assert!(
        err.to_string().contains("more than 200000 database steps"),
        "{err}"
    );
    // The budget is per search: the next one starts afresh.
    let quick = Query::select().expr(Expr::val(7i64)).to_owned();
    assert!(pool.runs(quick, Window::ALL).await.unwrap().is_empty());
}

/// A page's metrics come back bit for bit, whether a row keeps its exact bits (run 1) or
/// was written before those were kept (run 2, read as rows instead).
#[tokio::test]
async fn a_page_returns_every_metric_value_exactly() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(dir.path()).await;
    let db = crate::db::connect(&url).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0); \
         INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
         VALUES (1, 1, 'a', 'finished', 0, 'x'), (2, 1, 'b', 'finished', 0, 'x')",
    )
    .await
    .unwrap();
    // (SQLite itself stores -0.0 as 0, so it is not among them.)
    let mut values = vec![
        0.0,
        0.1,
        0.30000000000000004,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        4.425_160_402_714_337_5e284,
    ];
    // Random bit patterns cover every exponent; xorshift keeps the test deterministic.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while values.len() < 5_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let value = f64::from_bits(state);
        if value.is_finite() && value != 0.0 {
            values.push(value);
        }
    }
    for (chunk_index, chunk) in values.chunks(200).enumerate() {
        let mut insert = Query::insert();
        // `value_bits` is written by the logging service's own statements, not the model.
        insert.into_table(latest_metric::Entity).columns([
            "run_id",
            "key",
            "value",
            "value_bits",
            "step",
            "timestamp",
        ]);
        for (i, value) in chunk.iter().enumerate() {
            let key = format!("k{}", chunk_index * 200 + i);
            let bits = value.to_bits() as i64;
            insert.values_panic([
                1i64.into(),
                key.clone().into(),
                (*value).into(),
                Some(bits).into(),
                0i64.into(),
                0i64.into(),
            ]);
            insert.values_panic([
                2i64.into(),
                key.into(),
                (*value).into(),
                None::<i64>.into(),
                0i64.into(),
                0i64.into(),
            ]);
        }
        db.execute(&insert).await.unwrap();
    }
    let searches = SearchPool::open(&url, DEADLINE).unwrap();
    let newest_first = Query::select()
        .column(run::Column::Id)
        .from(run::Entity)
        .order_by(run::Column::Id, sea_orm::Order::Desc)
        .to_owned();
    let page = searches.runs(newest_first, Window::ALL).await.unwrap();
    assert_eq!(
        page.iter().map(|run| run.id).collect::<Vec<_>>(),
        vec![2, 1]
    );
    for run in &page {
        assert_eq!(run.metrics.len(), values.len());
        for (i, value) in values.iter().enumerate() {
            let read = run.metrics[&format!("k{i}")];
            assert_eq!(
                read.to_bits(),
                value.to_bits(),
                "run {}: {value:e} came back as {read:e}",
                run.id
            );
        }
    }
}

/// Pages come back in the order the filter's statement chose, across pages, however the
/// database visits the runs when it packs them.
#[tokio::test]
async fn pages_keep_the_order_asked_for() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(dir.path()).await;
    let db = crate::db::connect(&url).await.unwrap();
    let runs: Vec<(i64, f64)> = (1..=500)
        .map(|id: i64| (id, ((id * 7919) % 500) as f64 / 500.0))
        .collect();
    let mut sql = String::from(
        "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0);",
    );
    for (id, acc) in &runs {
        sql.push_str(&format!(
            "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
             VALUES ({id}, 1, 'r{id}', 'finished', {id}, 'x'); \
             INSERT INTO latest_metrics (run_id, key, value, value_bits, step, timestamp) \
             VALUES ({id}, 'acc', {acc:?}, {}, 0, 0);",
            acc.to_bits() as i64
        ));
    }
    db.execute_unprepared(&sql).await.unwrap();
    let mut expected = runs.clone();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let searches = SearchPool::open(&url, DEADLINE).unwrap();
    let mut request = SearchRuns {
        order_by: vec!["metrics.acc DESC".into()],
        limit: Some(100),
        ..SearchRuns::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = search(&searches, &request).await.unwrap();
        seen.extend(page.items.iter().map(|run| (run.id, run.metrics["acc"])));
        match page.next_page_token {
            Some(token) => request.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_search_past_its_deadline_is_interrupted() {
    let (_dir, pool) = pool(Duration::from_millis(200)).await;
    let started = Instant::now();
    let err = pool.runs(endless(), Window::ALL).await.unwrap_err();
    assert!(matches!(err, ServiceError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("narrow it"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_abandoned_search_stops_and_frees_its_connection() {
    if crate::db::testing::skip_on_postgres(
        "an abandoned search runs on until its statement timeout there (no progress handler)",
    ) {
        return;
    }
    let (_dir, pool) = pool(Duration::from_secs(60)).await;
    // Occupy every connection with a search whose client then goes away.
    let abandoned: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.runs(endless(), Window::ALL).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for task in &abandoned {
        task.abort();
    }
    // Were they still running, this would wait for the 60 s deadline.
    let started = Instant::now();
    let quick = Query::select().expr(Expr::val(7i64)).to_owned();
    assert!(pool.runs(quick, Window::ALL).await.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// Of a filter's comparisons, the one matching the fewest runs leads (when one does, under
/// the count's cap), and a search led by it finds the same runs in the same order.
#[tokio::test]
async fn the_comparison_matching_the_fewest_runs_leads_and_the_answer_is_unchanged() {
    use super::super::filter::ast::Field;
    use sea_orm::ConnectionTrait;
    if crate::db::testing::skip_on_postgres("PostgreSQL plans from its own statistics") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(dir.path()).await;
    let db = crate::db::connect(&url).await.unwrap();
    let mut sql = String::from(
        "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0);",
    );
    // 600 runs: acc spread over [0, 1), lr '0.01' on one run in four (150 runs).
    for id in 1..=600_i64 {
        let acc = ((id * 7919) % 600) as f64 / 600.0;
        let lr = if id % 4 == 0 { "0.01" } else { "0.1" };
        sql.push_str(&format!(
            "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
             VALUES ({id}, 1, 'r{id}', 'finished', {}, 'x'); \
             INSERT INTO latest_metrics (run_id, key, value, step, timestamp) \
             VALUES ({id}, 'acc', {acc:?}, 0, 0); \
             INSERT INTO params (run_id, key, value) VALUES ({id}, 'lr', '{lr}');",
            id % 7
        ));
    }
    db.execute_unprepared(&sql).await.unwrap();
    let searches = SearchPool::open(&url, DEADLINE).unwrap();
    let Pool::Sqlite(threads) = &searches.pool else {
        unreachable!("SQLite")
    };
    for (filter, leader) in [
        // 150 runs against 300 (counted up to 256).
        (
            "metrics.acc > 0.5 and params.lr = '0.01'",
            Some(Field::Param("lr".into())),
        ),
        // 60 against 450.
        (
            "params.lr = '0.1' and metrics.acc >= 0.9",
            Some(Field::Metric("acc".into())),
        ),
        // Both past the cap: SQLite's own choice stands.
        ("metrics.acc > 0.4 and params.lr = '0.1'", None),
    ] {
        let parsed = parse_filter(filter).unwrap().unwrap();
        let counted = parsed.clone();
        let chosen = threads
            .read(searches.limits(), move |connection| {
                let candidates = index_candidates(&counted);
                Ok(sqlite::most_selective(connection, &candidates)?
                    .map(|comparison| comparison.field.clone()))
            })
            .await
            .unwrap();
        assert_eq!(chosen, leader, "{filter}");
        for order in [vec![], vec!["metrics.acc DESC".to_owned()]] {
            let request = SearchRuns {
                filter: Some(filter.into()),
                order_by: order.clone(),
                limit: Some(1000),
                ..SearchRuns::default()
            };
            let led: Vec<i64> = search(&searches, &request)
                .await
                .unwrap()
                .items
                .iter()
                .map(|run| run.id)
                .collect();
            let order: Vec<_> = order.iter().map(|o| parse_order(o).unwrap()).collect();
            let plain = compile_search(Some(&parsed), &order, &[], None);
            let unled: Vec<i64> = searches
                .runs(plain, Window::ALL)
                .await
                .unwrap()
                .iter()
                .map(|run| run.id)
                .collect();
            assert!(!led.is_empty(), "{filter}");
            assert_eq!(led, unled, "{filter} by {order:?}");
        }
    }
}

/// A repeated search reuses its thread's plan (its statement and values, never its answer):
/// a run logged in between is found at once.
#[tokio::test]
async fn a_repeated_search_reuses_its_plan_and_still_finds_new_runs() {
    use sea_orm::ConnectionTrait;
    if crate::db::testing::skip_on_postgres("plans are kept by SQLite's search threads") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::db::testing::url(dir.path()).await;
    let db = crate::db::connect(&url).await.unwrap();
    let insert = |id: i64, acc: f64| {
        format!(
            "INSERT INTO runs (id, experiment_id, name, status, start_time, created_by) \
             VALUES ({id}, 1, 'r{id}', 'finished', {id}, 'x'); \
             INSERT INTO latest_metrics (run_id, key, value, step, timestamp) \
             VALUES ({id}, 'acc', {acc:?}, 0, 0); \
             INSERT INTO params (run_id, key, value) VALUES ({id}, 'lr', '0.01');"
        )
    };
    let mut sql = String::from(
        "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0);",
    );
    for id in 1..=20 {
        sql.push_str(&insert(id, id as f64 / 20.0));
    }
    db.execute_unprepared(&sql).await.unwrap();
    // Plans are kept per thread, and which idle thread takes a search is a race: one thread
    // runs them all here.
    let searches = SearchPool::open_with(&url, DEADLINE, 1).unwrap();
    let Pool::Sqlite(threads) = &searches.pool else {
        unreachable!("SQLite")
    };
    let request = SearchRuns {
        filter: Some("metrics.acc > 0.5 and params.lr = '0.01'".into()),
        limit: Some(100),
        ..SearchRuns::default()
    };
    let found = |page: Page<Run>| page.items.iter().map(|run| run.id).collect::<Vec<_>>();
    let first = found(search(&searches, &request).await.unwrap());
    assert_eq!(first, (11..=20).rev().collect::<Vec<_>>());
    let kept = || async {
        threads
            .read(searches.limits(), |_| Ok(sqlite::plans_kept()))
            .await
            .unwrap()
    };
    assert_eq!(kept().await, 1);
    db.execute_unprepared(&insert(21, 0.9)).await.unwrap();
    let again = found(search(&searches, &request).await.unwrap());
    assert_eq!(again, (11..=21).rev().collect::<Vec<_>>());
    assert_eq!(kept().await, 1, "the same search is planned once");
    let other = SearchRuns {
        filter: Some("metrics.acc > 0.9".into()),
        ..request
    };
    assert_eq!(
        found(search(&searches, &other).await.unwrap()),
        vec![20, 19]
    );
    assert_eq!(kept().await, 2);
}
