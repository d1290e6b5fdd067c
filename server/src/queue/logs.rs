//! Job logs: lines shipped by workers in batches, read in pages or followed.

use super::jobs::find;
use crate::entity::operations::job_log;
use crate::error::{ServiceError, ServiceResult};
use crate::time::{from_millis, now_millis};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use slipway_api::{JobLogLine, JobLogs, ShipLogs};

/// Most lines in one shipped batch.
const MAX_LINES: usize = 1000;
/// Longest line kept; longer ones are cut.
const MAX_LINE_BYTES: usize = 8192;

/// Stores a batch of lines for the attempt that `logs.lease_id` holds, sent by the token that
/// owns the worker holding it.
pub async fn ship(
    db: &DatabaseConnection,
    owner: &str,
    job_id: i64,
    logs: &ShipLogs,
) -> ServiceResult<u32> {
    if logs.lines.len() > MAX_LINES {
        return Err(ServiceError::too_large(format!(
            "lines: {} in one batch; at most {MAX_LINES}",
            logs.lines.len()
        )));
    }
    let (row, _) = super::leasing::held(db, job_id, &logs.lease_id, owner).await?;
    if logs.lines.is_empty() {
        return Ok(0);
    }
    let now = now_millis();
    let started = row.started_at.unwrap_or(row.created_at);
    let rows = logs.lines.iter().map(|line| {
        let mut message = line.message.clone();
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        job_log::ActiveModel {
            job_id: Set(job_id),
            attempt: Set(row.attempts),
            at: Set(written_at(
                line.at.map(|at| at.timestamp_millis()),
                started,
                now,
            )),
            level: Set(line.level.chars().take(16).collect()),
            message: Set(message),
            ..Default::default()
        }
    });
    job_log::Entity::insert_many(rows).exec(db).await?;
    Ok(logs.lines.len() as u32)
}

/// When a line was written: the worker's time, but never before the attempt started nor after
/// the line arrived (a worker's clock may be wrong; the server's bounds are known). A line
/// without a time was written at the latest when it arrived.
fn written_at(worker: Option<i64>, started: i64, received: i64) -> i64 {
    let earliest = started.min(received);
    worker.map_or(received, |at| at.clamp(earliest, received))
}

/// Lines of a job after line `after`, oldest first.
pub async fn read(
    db: &DatabaseConnection,
    job_id: i64,
    after: i64,
    limit: u32,
) -> ServiceResult<JobLogs> {
    if !(1..=10_000).contains(&limit) {
        return Err(ServiceError::invalid(format!(
            "limit: expected 1 to 10000, got {limit}"
        )));
    }
    find(db, job_id).await?;
    let rows = job_log::Entity::find()
        .filter(job_log::Column::JobId.eq(job_id))
        .filter(job_log::Column::Id.gt(after))
        .order_by_asc(job_log::Column::Id)
        .limit(u64::from(limit))
        .all(db)
        .await?;
    let next_after = rows.last().map_or(after, |row| row.id);
    Ok(JobLogs {
        lines: rows
            .into_iter()
            .map(|row| JobLogLine {
                id: row.id,
                attempt: row.attempt.unsigned_abs(),
                at: from_millis(row.at),
                level: row.level,
                message: row.message,
            })
            .collect(),
        next_after,
    })
}

#[cfg(test)]
mod tests {
    use super::written_at;

    #[test]
    fn a_line_keeps_the_workers_time_within_the_attempt() {
        let (started, received) = (1_000, 5_000);
        assert_eq!(written_at(Some(2_500), started, received), 2_500);
        // A worker clock ahead cannot date a line after its arrival, nor one behind before
        // the attempt began.
        assert_eq!(written_at(Some(9_999_999), started, received), received);
        assert_eq!(written_at(Some(10), started, received), started);
        assert_eq!(written_at(None, started, received), received);
        // Replicas with clocks apart: the arrival bounds both ends.
        assert_eq!(written_at(Some(6_000), 7_000, received), received);
    }
}
