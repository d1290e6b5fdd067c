//! Logging metrics, params and tags to runs.
//!
//! Batches are validated on the request path, then handed to one writer task that groups all
//! batches waiting at that moment into a single transaction (group commit). A batch is
//! acknowledged only after its transaction commits, so an acknowledged point survives a kill;
//! grouping turns thousands of small transactions per second into a few large ones, which is
//! what lets SQLite keep up. Params are immutable: the same value again is fine, another is a
//! conflict. Tags overwrite. Metrics append, packed one row per run and key and write (see
//! `points`), and the newest point of each key (by step, then time) is kept in
//! `latest_metrics` for search.

use super::points::{StoredPoint, encode};
use crate::error::{ServiceError, ServiceResult};
use crate::time::{now_millis, to_millis};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use slipway_api::limits::{
    MAX_KEY_LENGTH, MAX_METRICS_PER_BATCH, MAX_PARAM_VALUE_LENGTH, MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE_LENGTH, MAX_TAGS_PER_BATCH,
};
use slipway_api::{LogBatch, LogBatchResult};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Rows per multi-row INSERT: well under every backend's bound-parameter limit.
const ROWS_PER_INSERT: usize = 500;
/// Most batches grouped into one transaction.
const MAX_GROUP_BATCHES: usize = 512;
/// Most metric points grouped into one transaction.
const MAX_GROUP_POINTS: usize = 100_000;

/// Checks a metric, param or tag key.
pub fn validate_key(field: &str, key: &str) -> ServiceResult<()> {
    if key.is_empty() {
        return Err(ServiceError::invalid(format!(
            "{field}: expected a non-empty key"
        )));
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(ServiceError::invalid(format!(
            "{field}: key is {} bytes long; at most {MAX_KEY_LENGTH}",
            key.len()
        )));
    }
    let valid = key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':'));
    if !valid || key.starts_with('/') || key.contains("..") {
        return Err(ServiceError::invalid(format!(
            "{field}: key '{}' may hold only letters, digits, '_', '-', '.', ' ', ':' and '/' (no leading '/', no '..')",
            key.escape_debug()
        )));
    }
    Ok(())
}

/// Checks key/value pairs (params or tags) against the key rules and a value length.
pub fn validate_pairs<'a>(
    field: &str,
    pairs: impl Iterator<Item = (&'a String, &'a String)>,
    max_value: usize,
) -> ServiceResult<()> {
    for (index, (key, value)) in pairs.enumerate() {
        validate_key(&format!("{field}[{index}].key"), key)?;
        if value.len() > max_value {
            return Err(ServiceError::invalid(format!(
                "{field}[{index}].value: {} bytes long; at most {max_value}",
                value.len()
            )));
        }
    }
    Ok(())
}

/// A batch that passed validation, with the server's time filled in.
#[derive(Debug)]
struct ValidBatch {
    run_id: i64,
    /// Points by key, in the form they are stored.
    metrics: Vec<(String, StoredPoint)>,
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

fn too_many(field: &str, count: usize, max: usize) -> ServiceError {
    ServiceError::too_large(format!(
        "{field}: {count} in one batch; at most {max} per batch (split it into several)"
    ))
}

fn validate(run_id: i64, batch: LogBatch) -> ServiceResult<ValidBatch> {
    if batch.metrics.len() > MAX_METRICS_PER_BATCH {
        return Err(too_many(
            "metrics",
            batch.metrics.len(),
            MAX_METRICS_PER_BATCH,
        ));
    }
    if batch.params.len() > MAX_PARAMS_PER_BATCH {
        return Err(too_many("params", batch.params.len(), MAX_PARAMS_PER_BATCH));
    }
    if batch.tags.len() > MAX_TAGS_PER_BATCH {
        return Err(too_many("tags", batch.tags.len(), MAX_TAGS_PER_BATCH));
    }
    let now = now_millis();
    let mut keys_seen: HashSet<&str> = HashSet::new();
    for (index, point) in batch.metrics.iter().enumerate() {
        // Most batches repeat a handful of keys; check each distinct key once.
        if keys_seen.insert(point.key.as_str()) {
            validate_key(&format!("metrics[{index}].key"), &point.key)?;
        }
        if !point.value.is_finite() {
            return Err(ServiceError::invalid(format!(
                "metrics[{index}].value: expected a finite number"
            )));
        }
    }
    validate_pairs(
        "params",
        batch.params.iter().map(|kv| (&kv.key, &kv.value)),
        MAX_PARAM_VALUE_LENGTH,
    )?;
    validate_pairs(
        "tags",
        batch.tags.iter().map(|kv| (&kv.key, &kv.value)),
        MAX_TAG_VALUE_LENGTH,
    )?;
    let mut params: HashMap<&str, &str> = HashMap::new();
    for kv in &batch.params {
        if let Some(previous) = params.insert(&kv.key, &kv.value)
            && previous != kv.value
        {
            return Err(ServiceError::invalid(format!(
                "params: '{}' is given twice with different values ('{previous}' and '{}')",
                kv.key, kv.value
            )));
        }
    }
    let metrics = batch
        .metrics
        .into_iter()
        .map(|point| {
            let stored = StoredPoint {
                step: point.step,
                timestamp: point.timestamp.map_or(now, to_millis),
                value: point.value,
            };
            (point.key, stored)
        })
        .collect();
    Ok(ValidBatch {
        run_id,
        metrics,
        params: batch
            .params
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
        tags: batch
            .tags
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
    })
}

struct Pending {
    batch: ValidBatch,
    reply: oneshot::Sender<ServiceResult<LogBatchResult>>,
}

/// The handle through which requests log batches; cheap to clone.
#[derive(Debug, Clone)]
pub struct LogWriter {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("run_id", &self.batch.run_id)
            .finish()
    }
}

impl LogWriter {
    /// Starts the writer task. It ends once every handle is dropped and the queue is drained.
    pub fn spawn(db: DatabaseConnection) -> (Self, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(4096);
        let task = tokio::spawn(write_loop(db, receiver));
        (Self { queue }, task)
    }

    /// Validates and stores one batch; returns once it is committed.
    pub async fn log(&self, run_id: i64, batch: LogBatch) -> ServiceResult<LogBatchResult> {
        let batch = validate(run_id, batch)?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { batch, reply })
            .await
            .map_err(|_| ServiceError::Unavailable("the server is shutting down".to_owned()))?;
        answer
            .await
            .map_err(|_| ServiceError::internal("the metric writer stopped"))?
    }
}

async fn write_loop(db: DatabaseConnection, mut receiver: mpsc::Receiver<Pending>) {
    // Runs seen to exist. Runs are never deleted while the server runs (there is no API for
    // it), so a run checked once needs no second look; this saves a query per group.
    let mut known_runs: HashSet<i64> = HashSet::new();
    while let Some(first) = receiver.recv().await {
        // Let the requests that are already running enqueue too: bigger groups, fewer commits.
        tokio::task::yield_now().await;
        let mut group = vec![first];
        let mut points = group[0].batch.metrics.len();
        while group.len() < MAX_GROUP_BATCHES && points < MAX_GROUP_POINTS {
            match receiver.try_recv() {
                Ok(next) => {
                    points += next.batch.metrics.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let batches: Vec<&ValidBatch> = group.iter().map(|pending| &pending.batch).collect();
        match write_group(&db, &batches, &mut known_runs).await {
            Ok(outcomes) => {
                for (pending, outcome) in group.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batches = group.len(), "cannot store a group of log batches");
                for pending in group {
                    let _ = pending
                        .reply
                        .send(Err(ServiceError::internal("cannot store the batch")));
                }
            }
        }
    }
}

/// Stores a group of batches in one transaction. A batch that is refused (unknown run,
/// conflicting param) gets its own error and writes nothing; the others are stored.
async fn write_group(
    db: &DatabaseConnection,
    batches: &[&ValidBatch],
    known_runs: &mut HashSet<i64>,
) -> Result<Vec<ServiceResult<LogBatchResult>>, sea_orm::DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let unknown: HashSet<i64> = batches
        .iter()
        .map(|batch| batch.run_id)
        .filter(|id| !known_runs.contains(id))
        .collect();
    if !unknown.is_empty() {
        known_runs.extend(existing_runs(&txn, &unknown).await?);
    }
    let existing = &*known_runs;
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut accepted: Vec<&ValidBatch> = Vec::with_capacity(batches.len());
    for batch in batches {
        if !existing.contains(&batch.run_id) {
            outcomes.push(Err(ServiceError::not_found(format!(
                "run {} not found",
                batch.run_id
            ))));
            continue;
        }
        if !batch.params.is_empty()
            && let Err(conflict) = write_params(&txn, batch).await?
        {
            outcomes.push(Err(conflict));
            continue;
        }
        if !batch.tags.is_empty() {
            write_tags(&txn, batch).await?;
        }
        outcomes.push(Ok(LogBatchResult {
            metrics: batch.metrics.len() as u32,
            params: batch.params.len() as u32,
            tags: batch.tags.len() as u32,
        }));
        accepted.push(batch);
    }
    write_metrics(&txn, &accepted).await?;
    txn.commit().await?;
    Ok(outcomes)
}

async fn existing_runs(
    txn: &DatabaseTransaction,
    run_ids: &HashSet<i64>,
) -> Result<HashSet<i64>, sea_orm::DbErr> {
    let mut select = Query::select();
    select
        .column("id")
        .from("runs")
        .and_where(Expr::col("id").is_in(run_ids.iter().copied()));
    let rows = txn.query_all(&select).await?;
    rows.iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect()
}

/// Sets params that are new; a param already set to another value refuses the whole batch.
async fn write_params(
    txn: &DatabaseTransaction,
    batch: &ValidBatch,
) -> Result<Result<(), ServiceError>, sea_orm::DbErr> {
    let mut select = Query::select();
    select
        .columns(["key", "value"])
        .from("params")
        .and_where(Expr::col("run_id").eq(batch.run_id))
        .and_where(Expr::col("key").is_in(batch.params.iter().map(|(key, _)| key.as_str())));
    let mut stored: HashMap<String, String> = HashMap::new();
    for row in txn.query_all(&select).await? {
        stored.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
    }
    for (key, value) in &batch.params {
        if let Some(existing) = stored.get(key)
            && existing != value
        {
            return Ok(Err(ServiceError::conflict(format!(
                "params.{key}: already set to '{existing}' on run {}; params are immutable, so '{value}' cannot replace it",
                batch.run_id
            ))));
        }
    }
    let new: Vec<&(String, String)> = batch
        .params
        .iter()
        .filter(|(key, _)| !stored.contains_key(key))
        .collect();
    if new.is_empty() {
        return Ok(Ok(()));
    }
    let mut insert = Query::insert();
    insert
        .into_table("params")
        .columns(["run_id", "key", "value"]);
    for (key, value) in new {
        insert
            .values([
                Expr::val(batch.run_id),
                Expr::val(key.as_str()),
                Expr::val(value.as_str()),
            ])
            .map_err(|err| sea_orm::DbErr::Custom(err.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns(["run_id", "key"])
            .do_nothing()
            .to_owned(),
    );
    txn.execute(&insert).await?;
    Ok(Ok(()))
}

async fn write_tags(txn: &DatabaseTransaction, batch: &ValidBatch) -> Result<(), sea_orm::DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table("tags")
        .columns(["run_id", "key", "value"]);
    // The last value given for a key wins, as if the tags were set one by one.
    let mut latest: HashMap<&str, &str> = HashMap::new();
    for (key, value) in &batch.tags {
        latest.insert(key, value);
    }
    for (key, value) in latest {
        insert
            .values([Expr::val(batch.run_id), Expr::val(key), Expr::val(value)])
            .map_err(|err| sea_orm::DbErr::Custom(err.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns(["run_id", "key"])
            .update_column("value")
            .to_owned(),
    );
    txn.execute(&insert).await?;
    Ok(())
}

/// Appends the points of every accepted batch, one packed row per run and key, then moves
/// each key's latest point forward.
async fn write_metrics(
    txn: &DatabaseTransaction,
    batches: &[&ValidBatch],
) -> Result<(), sea_orm::DbErr> {
    let mut by_key: HashMap<(i64, &str), Vec<StoredPoint>> = HashMap::new();
    for batch in batches {
        for (key, point) in &batch.metrics {
            by_key
                .entry((batch.run_id, key.as_str()))
                .or_default()
                .push(*point);
        }
    }
    if by_key.is_empty() {
        return Ok(());
    }
    let mut chunks = Vec::with_capacity(by_key.len());
    let mut latest = Vec::with_capacity(by_key.len());
    for ((run_id, key), points) in &by_key {
        let first_step = points.iter().map(|p| p.step).min().unwrap_or(0);
        let last_step = points.iter().map(|p| p.step).max().unwrap_or(0);
        chunks.push([
            Expr::val(*run_id),
            Expr::val(*key),
            Expr::val(first_step),
            Expr::val(last_step),
            Expr::val(points.len() as i32),
            Expr::val(encode(points)),
        ]);
        // The newest point (by step, then time; the later one on a tie).
        if let Some(newest) = points.iter().max_by_key(|p| (p.step, p.timestamp)) {
            latest.push([
                Expr::val(*run_id),
                Expr::val(*key),
                Expr::val(newest.value),
                // The exact bits, which a search page reads (migration 000009).
                Expr::val(newest.value.to_bits() as i64),
                Expr::val(newest.step),
                Expr::val(newest.timestamp),
            ]);
        }
    }
    let chunk_columns = [
        "run_id",
        "key",
        "first_step",
        "last_step",
        "point_count",
        "points",
    ];
    insert_rows(txn, "metrics", chunk_columns, chunks, None).await?;
    let newer = Expr::col(("excluded", "step"))
        .gt(Expr::col(("latest_metrics", "step")))
        .or(Expr::col(("excluded", "step"))
            .eq(Expr::col(("latest_metrics", "step")))
            .and(
                Expr::col(("excluded", "timestamp"))
                    .gte(Expr::col(("latest_metrics", "timestamp"))),
            ));
    let on_conflict = OnConflict::columns(["run_id", "key"])
        .update_columns(["value", "value_bits", "step", "timestamp"])
        .action_and_where(newer)
        .to_owned();
    let latest_columns = ["run_id", "key", "value", "value_bits", "step", "timestamp"];
    insert_rows(
        txn,
        "latest_metrics",
        latest_columns,
        latest,
        Some(on_conflict),
    )
    .await
}

/// Inserts `rows` into `table` with multi-row INSERTs.
async fn insert_rows<const N: usize>(
    txn: &DatabaseTransaction,
    table: &'static str,
    columns: [&'static str; N],
    rows: Vec<[Expr; N]>,
    on_conflict: Option<OnConflict>,
) -> Result<(), sea_orm::DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut insert = Query::insert();
        insert.into_table(table).columns(columns);
        for row in rows.by_ref().take(ROWS_PER_INSERT) {
            insert
                .values(row)
                .map_err(|err| sea_orm::DbErr::Custom(err.to_string()))?;
        }
        if let Some(on_conflict) = &on_conflict {
            insert.on_conflict(on_conflict.clone());
        }
        txn.execute(&insert).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_api::{KeyValue, MetricPoint};

    fn point(key: &str) -> MetricPoint {
        MetricPoint {
            key: key.into(),
            value: 1.0,
            step: 0,
            timestamp: None,
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("k", "val/loss").is_ok());
        assert!(validate_key("k", "").is_err());
        assert!(validate_key("k", &"a".repeat(251)).is_err());
        assert!(validate_key("k", "../etc").is_err());
        assert!(validate_key("k", "a\nb").is_err());
    }

    #[test]
    fn oversized_batches_are_too_large() {
        let batch = LogBatch {
            metrics: (0..1001).map(|_| point("loss")).collect(),
            ..LogBatch::default()
        };
        assert!(matches!(validate(1, batch), Err(ServiceError::TooLarge(_))));
    }

    #[test]
    fn a_param_given_twice_differently_is_refused() {
        let batch = LogBatch {
            params: vec![
                KeyValue {
                    key: "lr".into(),
                    value: "0.1".into(),
                },
                KeyValue {
                    key: "lr".into(),
                    value: "0.2".into(),
                },
            ],
            ..LogBatch::default()
        };
        let err = validate(1, batch).unwrap_err().to_string();
        assert!(err.contains("'lr' is given twice"), "{err}");
    }
}
