//! The typed columns of the `jobs` table: its kind and state as active enums whose stored text
//! is the wire name (so rows written before they were typed read as they are), and the one
//! place the spec and result documents are read back, with errors that name the row.

use crate::error::{ServiceError, ServiceResult};
use sea_orm::entity::prelude::*;
use slipway_api::{JobKind, JobSpec, JobState};

/// `jobs.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StoredJobKind {
    #[sea_orm(string_value = "sleep")]
    Sleep,
    #[sea_orm(string_value = "fail")]
    Fail,
    #[sea_orm(string_value = "train")]
    Train,
    #[sea_orm(string_value = "evaluate")]
    Evaluate,
    #[sea_orm(string_value = "deploy")]
    Deploy,
    #[sea_orm(string_value = "pipeline")]
    Pipeline,
    #[sea_orm(string_value = "command")]
    Command,
}

impl From<JobKind> for StoredJobKind {
    fn from(kind: JobKind) -> Self {
        match kind {
            JobKind::Sleep => Self::Sleep,
            JobKind::Fail => Self::Fail,
            JobKind::Train => Self::Train,
            JobKind::Evaluate => Self::Evaluate,
            JobKind::Deploy => Self::Deploy,
            JobKind::Pipeline => Self::Pipeline,
            JobKind::Command => Self::Command,
        }
    }
}

impl From<StoredJobKind> for JobKind {
    fn from(kind: StoredJobKind) -> Self {
        match kind {
            StoredJobKind::Sleep => Self::Sleep,
            StoredJobKind::Fail => Self::Fail,
            StoredJobKind::Train => Self::Train,
            StoredJobKind::Evaluate => Self::Evaluate,
            StoredJobKind::Deploy => Self::Deploy,
            StoredJobKind::Pipeline => Self::Pipeline,
            StoredJobKind::Command => Self::Command,
        }
    }
}

/// `jobs.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StoredJobState {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl From<JobState> for StoredJobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => Self::Queued,
            JobState::Running => Self::Running,
            JobState::Succeeded => Self::Succeeded,
            JobState::Failed => Self::Failed,
            JobState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<StoredJobState> for JobState {
    fn from(state: StoredJobState) -> Self {
        match state {
            StoredJobState::Queued => Self::Queued,
            StoredJobState::Running => Self::Running,
            StoredJobState::Succeeded => Self::Succeeded,
            StoredJobState::Failed => Self::Failed,
            StoredJobState::Cancelled => Self::Cancelled,
        }
    }
}

/// Bad data in a stored row: an internal error naming the table, the row and the column.
pub fn corrupt(
    table: &str,
    id: i64,
    column: &str,
    problem: impl std::fmt::Display,
) -> ServiceError {
    ServiceError::internal(format!("{table} row {id}: stored {column}: {problem}"))
}

/// The job rows `query` selects. A typed column (kind, state) holding text that no variant has
/// is an error naming the first such row: the decoder knows the text but not the row, so the
/// row is looked up by its raw text.
pub async fn read_jobs(
    db: &impl ConnectionTrait,
    query: Select<super::operations::job::Entity>,
) -> ServiceResult<Vec<super::operations::job::Model>> {
    use super::operations::job;
    use sea_orm::sea_query::ExprTrait;
    use sea_orm::{QueryOrder, QuerySelect};
    let err = match query.all(db).await {
        Ok(rows) => return Ok(rows),
        Err(DbErr::Type(problem)) => problem,
        Err(other) => return Err(other.into()),
    };
    let kinds = JobKind::ALL.iter().map(|kind| kind.as_str());
    let states = JobState::ALL.iter().map(|state| state.as_str());
    let bad: Option<(i64, String, String)> = job::Entity::find()
        .select_only()
        .columns([job::Column::Id, job::Column::Kind, job::Column::State])
        .filter(
            job::Column::Kind
                .is_not_in(kinds)
                .or(job::Column::State.is_not_in(states)),
        )
        .order_by_asc(job::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    Err(match bad {
        Some((id, kind, state)) => corrupt(
            "jobs",
            id,
            "kind or state",
            format!("'{kind}' / '{state}': {err}"),
        ),
        None => ServiceError::internal(format!("jobs: unreadable row: {err}")),
    })
}

/// The spec of job row `id`, read as its kind's type.
pub fn stored_spec(id: i64, kind: StoredJobKind, text: &str) -> ServiceResult<JobSpec> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| corrupt("jobs", id, "spec", err))?;
    JobSpec::typed(kind.into(), value).map_err(|err| corrupt("jobs", id, "spec", err))
}

/// The result document of job row `id`, if it has one.
pub fn stored_result(id: i64, text: Option<&str>) -> ServiceResult<Option<serde_json::Value>> {
    text.map(|text| serde_json::from_str(text).map_err(|err| corrupt("jobs", id, "result", err)))
        .transpose()
}

/// The spec document to store for `spec`.
pub fn spec_text(spec: &JobSpec) -> ServiceResult<String> {
    Ok(spec.spec_json()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    /// The stored text of every kind and state is its wire name, so the wire enums stay the one
    /// place those names are defined and rows written before the columns were typed still read.
    #[test]
    fn stored_text_is_the_wire_name() {
        for kind in JobKind::ALL {
            assert_eq!(StoredJobKind::from(kind).to_value(), kind.as_str());
        }
        assert_eq!(StoredJobKind::iter().count(), JobKind::ALL.len());
        for state in JobState::ALL {
            assert_eq!(StoredJobState::from(state).to_value(), state.as_str());
        }
        assert_eq!(StoredJobState::iter().count(), JobState::ALL.len());
    }
}
