//! A search page written as the native API's JSON (`Page<Run>`) straight from the packed page
//! SQLite answers with (see `page_sql`): names, creators and metric keys are copied as the
//! database wrote them (JSON strings already), and only statuses, times and metric values are
//! converted. Reading the page into `Run`s and writing those out again took about a third of
//! the server's runtime share of a search in a profile, most of it allocating strings and maps
//! that lived only until the answer was written.

use super::PackedPage;
use crate::error::{ServiceError, ServiceResult};
use crate::time::from_millis;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use slipway_api::RunStatus;
use std::collections::HashMap;

/// One run of the packed page, borrowed from its text: id, experiment, name, status, start,
/// end, creator, then its latest metrics as `[key, bits]` pairs.
#[derive(Deserialize)]
struct BorrowedRun<'a>(
    i64,
    i64,
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] &'a str,
    i64,
    Option<i64>,
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] Vec<(&'a RawValue, Option<i64>)>,
);

/// The page as the API's JSON, with at most `limit` runs and `next_page_token` when the
/// window found more; `None` when some metric of the page has no exact bits (rows written
/// before those were kept), which only the typed reading can fill in.
pub(super) fn write(
    packed: &PackedPage,
    limit: usize,
    next_page_token: impl FnOnce() -> String,
) -> ServiceResult<Option<Vec<u8>>> {
    let ids: Vec<i64> =
        serde_json::from_str(packed.ids.as_deref().unwrap_or("[]")).map_err(unreadable)?;
    let runs: Vec<BorrowedRun<'_>> =
        serde_json::from_str(packed.runs.as_deref().unwrap_or("[]")).map_err(unreadable)?;
    if runs
        .iter()
        .any(|run| run.7.iter().any(|(_, bits)| bits.is_none()))
    {
        return Ok(None);
    }
    let by_id: HashMap<i64, &BorrowedRun<'_>> = runs.iter().map(|run| (run.0, run)).collect();
    // The page takes the ids' order (the statement's); a run deleted since is left out.
    let found: Vec<&BorrowedRun<'_>> = ids.iter().filter_map(|id| by_id.get(id).copied()).collect();
    let mut out = Vec::with_capacity(packed.runs.as_ref().map_or(64, |text| text.len() + 64));
    out.extend_from_slice(b"{\"items\":[");
    for (index, run) in found.iter().take(limit).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_run(&mut out, run)?;
    }
    out.push(b']');
    if found.len() > limit {
        out.extend_from_slice(b",\"next_page_token\":");
        json(&mut out, &next_page_token())?;
    }
    out.push(b'}');
    Ok(Some(out))
}

/// One run, its fields in `Run`'s order and spelling.
fn write_run(out: &mut Vec<u8>, run: &BorrowedRun<'_>) -> ServiceResult<()> {
    let BorrowedRun(id, experiment_id, name, status, start, end, created_by, metrics) = run;
    let status: RunStatus = status
        .parse()
        .map_err(|err: String| ServiceError::internal(format!("runs row {id}: status: {err}")))?;
    out.extend_from_slice(b"{\"id\":");
    json(out, id)?;
    out.extend_from_slice(b",\"experiment_id\":");
    json(out, experiment_id)?;
    out.extend_from_slice(b",\"name\":");
    out.extend_from_slice(name.get().as_bytes());
    out.extend_from_slice(b",\"status\":");
    json(out, &status)?;
    out.extend_from_slice(b",\"start_time\":");
    json(out, &from_millis(*start))?;
    if let Some(end) = end {
        out.extend_from_slice(b",\"end_time\":");
        json(out, &from_millis(*end))?;
    }
    out.extend_from_slice(b",\"created_by\":");
    out.extend_from_slice(created_by.get().as_bytes());
    out.extend_from_slice(b",\"metrics\":{");
    for (index, (key, bits)) in metrics.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.get().as_bytes());
        out.push(b':');
        json(out, &bits.map(|bits| f64::from_bits(bits as u64)))?;
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// `value` as serde writes it in `Run` (times, statuses and numbers alike).
fn json(out: &mut Vec<u8>, value: &impl Serialize) -> ServiceResult<()> {
    serde_json::to_writer(out, value)
        .map_err(|err| ServiceError::internal(format!("search: cannot write the page: {err}")))
}

fn unreadable(err: serde_json::Error) -> ServiceError {
    ServiceError::internal(format!("search: unreadable page from the database: {err}"))
}

#[cfg(test)]
mod tests {
    use super::super::{DEADLINE, SearchPool, search, search_json};
    use sea_orm::ConnectionTrait;
    use serde_json::Value;
    use slipway_api::SearchRuns;

    /// The page written straight from the database reads exactly as the page of `Run`s
    /// written by serde: names with quotes, backslashes and non-ASCII letters, times with and
    /// without milliseconds, a run with no end, metric keys in order, and the next page's
    /// token; and a page with a metric kept without exact bits is read the typed way.
    #[tokio::test]
    async fn the_written_page_is_the_page_of_runs() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::db::testing::url(dir.path()).await;
        let db = crate::db::connect(&url).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO experiments (id, name, created_at, updated_at) VALUES (1, 'e', 0, 0); \
             INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, created_by) VALUES \
             (1, 1, 'plain', 'finished', 1700000000000, 1700000000123, 'ann'), \
             (2, 1, 'say \"hi\" \\ then ''bye''', 'running', 1700000000001, NULL, 'björk'), \
             (3, 1, 'tab\there, ünïcødé ✓', 'killed', 5, 7, 'bob'); \
             INSERT INTO latest_metrics (run_id, key, value, value_bits, step, timestamp) VALUES \
             (1, 'acc', 0.5, 4602678819172646912, 0, 0), \
             (1, 'loss \"x\"', 0.1, 4591870180066957722, 0, 0), \
             (2, 'acc', 0.25, 4598175219545276416, 0, 0), \
             (3, 'z', 1e300, 9094988921128908188, 0, 0)",
        )
        .await
        .unwrap();
        let searches = SearchPool::open(&url, DEADLINE).unwrap();
        let request = |limit: u32, page_token: Option<String>| SearchRuns {
            experiment_ids: vec![1],
            filter: None,
            order_by: vec![],
            limit: Some(limit),
            page_token,
        };
        let same = async |request: SearchRuns| {
            let typed = serde_json::to_value(search(&searches, &request).await.unwrap()).unwrap();
            let written: Value =
                serde_json::from_slice(&search_json(&searches, &request).await.unwrap()).unwrap();
            assert_eq!(written, typed);
            typed
        };
        let first = same(request(2, None)).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let token = first["next_page_token"].as_str().unwrap().to_owned();
        let second = same(request(2, Some(token))).await;
        assert!(second.get("next_page_token").is_none(), "{second}");
        assert_eq!(second["items"][0]["id"], 3);
        same(request(10, None)).await;

        // A metric written before exact bits were kept.
        db.execute_unprepared(
            "INSERT INTO latest_metrics (run_id, key, value, value_bits, step, timestamp) \
             VALUES (3, 'old', 0.75, NULL, 0, 0)",
        )
        .await
        .unwrap();
        let all = same(request(10, None)).await;
        let ids: Vec<&Value> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| &run["id"])
            .collect();
        assert_eq!(ids, [2, 1, 3]);
        assert_eq!(all["items"][2]["metrics"]["old"], 0.75);
    }
}
