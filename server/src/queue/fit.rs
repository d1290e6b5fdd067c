//! Which workers can take a job, asked of the database question by question rather than by
//! loading every worker: the names of the workers a page of jobs mentions, and for its queued
//! jobs whether any live worker fits their requirements (the waiting reason). A page of jobs
//! thus costs a few bounded queries however many workers are registered.

use crate::entity::operations::job::StoredJobState;
use crate::entity::operations::{job, worker};
use crate::error::ServiceResult;
use sea_orm::sea_query::LikeExpr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use slipway_api::{Requirements, WorkerState};
use std::collections::{HashMap, HashSet};

/// Workers looked at per query while searching for one that fits.
const BATCH: u64 = 100;

/// Whether a worker can ever run a job with these requirements.
pub fn fits(requirements: &Requirements, worker: &worker::Model) -> bool {
    let labels: Vec<String> = serde_json::from_str(&worker.labels).unwrap_or_default();
    requirements.gpus <= worker.cuda_devices.unsigned_abs()
        && (!requirements.commands || worker.allow_commands)
        && requirements
            .labels
            .iter()
            .all(|label| labels.contains(label))
}

/// What the API view of some jobs needs to know about workers.
#[derive(Debug, Default)]
pub struct WorkerLookup {
    /// Names of the workers the jobs were leased to, by id.
    names: HashMap<i64, String>,
    /// The waiting reason per stored requirements text (queued jobs only).
    reasons: HashMap<String, Option<String>>,
}

impl WorkerLookup {
    /// Looks up what `rows` need: the workers they name, and a waiting reason per distinct
    /// requirement of the queued ones.
    pub async fn for_jobs(db: &impl ConnectionTrait, rows: &[job::Model]) -> ServiceResult<Self> {
        let ids: HashSet<i64> = rows.iter().filter_map(|row| row.worker_id).collect();
        let names = if ids.is_empty() {
            HashMap::new()
        } else {
            worker::Entity::find()
                .select_only()
                .column(worker::Column::Id)
                .column(worker::Column::Name)
                .filter(worker::Column::Id.is_in(ids))
                .into_tuple::<(i64, String)>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        let mut reasons = HashMap::new();
        let mut any_live = None;
        for row in rows {
            if row.state != StoredJobState::Queued || reasons.contains_key(&row.requirements) {
                continue;
            }
            let requirements: Requirements = serde_json::from_str(&row.requirements)?;
            let reason = if any_fits(db, &requirements).await? {
                None
            } else {
                let live = match any_live {
                    Some(live) => live,
                    None => *any_live.insert(live_exists(db).await?),
                };
                Some(waiting_reason(&requirements, live))
            };
            reasons.insert(row.requirements.clone(), reason);
        }
        Ok(Self { names, reasons })
    }

    /// The name of worker `id`, when it was looked up.
    pub fn name(&self, id: i64) -> Option<String> {
        self.names.get(&id).cloned()
    }

    /// Why a queued job with these stored requirements waits, when no live worker fits.
    pub fn waiting_reason(&self, requirements: &str) -> Option<String> {
        self.reasons.get(requirements).cloned().flatten()
    }
}

fn live() -> sea_orm::sea_query::SimpleExpr {
    worker::Column::State.ne(WorkerState::Lost.as_str())
}

async fn live_exists(db: &impl ConnectionTrait) -> ServiceResult<bool> {
    Ok(worker::Entity::find()
        .select_only()
        .column(worker::Column::Id)
        .filter(live())
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// `%"label"%` as a LIKE pattern over the stored JSON array of labels: it matches every
/// worker with the label (and perhaps a few more, which [`fits`] then rules out).
fn label_pattern(label: &str) -> ServiceResult<LikeExpr> {
    let quoted = serde_json::to_string(label)?;
    let escaped = quoted
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Ok(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// Whether any live worker fits `requirements`. The database narrows the candidates (GPUs,
/// labels as text); [`fits`] decides, a batch at a time, stopping at the first that fits.
async fn any_fits(db: &impl ConnectionTrait, requirements: &Requirements) -> ServiceResult<bool> {
    let gpus = i32::try_from(requirements.gpus).unwrap_or(i32::MAX);
    let mut after = i64::MIN;
    loop {
        let mut query = worker::Entity::find()
            .filter(live())
            .filter(worker::Column::CudaDevices.gte(gpus))
            .filter(worker::Column::Id.gt(after));
        if requirements.commands {
            query = query.filter(worker::Column::AllowCommands.eq(true));
        }
        for label in &requirements.labels {
            query = query.filter(worker::Column::Labels.like(label_pattern(label)?));
        }
        let batch = query
            .order_by_asc(worker::Column::Id)
            .limit(BATCH)
            .all(db)
            .await?;
        if batch.iter().any(|w| fits(requirements, w)) {
            return Ok(true);
        }
        match batch.last() {
            Some(last) if batch.len() as u64 == BATCH => after = last.id,
            _ => return Ok(false),
        }
    }
}

/// Why no live worker could take a job with `requirements`; `live` says whether any live
/// worker is registered at all.
fn waiting_reason(requirements: &Requirements, live: bool) -> String {
    let mut wants = Vec::new();
    if requirements.gpus > 0 {
        let plural = if requirements.gpus == 1 { "" } else { "s" };
        wants.push(format!("{} GPU{plural}", requirements.gpus));
    }
    if !requirements.labels.is_empty() {
        wants.push(format!("labels {}", requirements.labels.join(", ")));
    }
    if requirements.commands {
        wants.push(
            "--allow-commands (a command job runs only on a worker started with it)".to_owned(),
        );
    }
    if !live {
        "no worker is registered".to_owned()
    } else if wants.is_empty() {
        "no worker can take it".to_owned()
    } else {
        format!("no worker with {}", wants.join(" and "))
    }
}
