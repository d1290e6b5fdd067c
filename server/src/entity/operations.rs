//! Operations: workers, jobs with their logs, cron schedules, and monitoring (per-minute
//! deployment metrics, hourly drift and alerts).
//!
//! Times are integer milliseconds since the Unix epoch (UTC); JSON documents are stored as text.

pub mod worker {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "workers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub version: String,
        pub cpu_cores: i32,
        pub cuda_devices: i32,
        #[sea_orm(column_type = "Text")]
        pub labels: String,
        pub concurrency: i32,
        pub state: String,
        pub registered_at: i64,
        pub last_heartbeat_at: i64,
        /// The name of the token that registered the worker: only it speaks for the worker.
        pub owner_token: Option<String>,
        /// Whether it runs `command` jobs (started with `--allow-commands`).
        pub allow_commands: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod schedule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedules")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub cron: String,
        pub timezone: String,
        #[sea_orm(column_type = "Text")]
        pub template: String,
        pub paused: bool,
        pub misfire_policy: String,
        pub overlap_policy: String,
        pub next_fire_at: Option<i64>,
        pub last_fire_at: Option<i64>,
        pub created_by: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    pub use super::super::job_columns::{StoredJobKind, StoredJobState};
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: StoredJobKind,
        pub state: StoredJobState,
        #[sea_orm(column_type = "Text")]
        pub spec: String,
        pub priority: i32,
        #[sea_orm(column_type = "Text")]
        pub requirements: String,
        pub attempts: i32,
        pub max_attempts: i32,
        pub worker_id: Option<i64>,
        pub lease_id: Option<String>,
        pub lease_expires_at: Option<i64>,
        #[sea_orm(column_type = "Double")]
        pub progress: f64,
        pub progress_message: Option<String>,
        pub result: Option<String>,
        pub error: Option<String>,
        pub cancel_requested: bool,
        pub parent_id: Option<i64>,
        pub schedule_id: Option<i64>,
        pub created_by: String,
        pub created_at: i64,
        pub started_at: Option<i64>,
        pub finished_at: Option<i64>,
        /// The GPU device indices the current lease holds (JSON array), when it holds any.
        #[sea_orm(column_type = "Text", nullable)]
        pub gpu_devices: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_logs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub job_id: i64,
        pub attempt: i32,
        pub at: i64,
        pub level: String,
        #[sea_orm(column_type = "Text")]
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod deployment_metric {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployment_metrics")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: i64,
        pub version: i32,
        pub minute: i64,
        pub requests: i64,
        pub errors: i64,
        #[sea_orm(column_type = "Text")]
        pub latency: String,
        #[sea_orm(column_type = "Text")]
        pub predictions: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod drift_hour {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "drift_hours")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: i64,
        pub hour: i64,
        pub feature: String,
        pub version: i32,
        pub psi: f64,
        pub rows: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: i64,
        pub kind: String,
        pub severity: String,
        #[sea_orm(column_type = "Text")]
        pub message: String,
        #[sea_orm(column_type = "Text")]
        pub details: String,
        pub created_at: i64,
        pub acknowledged_by: Option<String>,
        pub acknowledged_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod schedule_firing {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedule_firings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub schedule_id: i64,
        pub due_at: i64,
        pub fired_at: i64,
        pub outcome: String,
        pub job_id: Option<i64>,
        pub message: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
