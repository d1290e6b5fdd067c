//! Datasets, registered models with their versions and aliases, and deployments with their revisions.
//!
//! Times are integer milliseconds since the Unix epoch (UTC); JSON documents are stored as text.

pub mod dataset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "datasets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub version: i32,
        pub digest: String,
        pub label_column: String,
        pub task: String,
        #[sea_orm(column_type = "Text")]
        pub schema: String,
        #[sea_orm(column_type = "Text")]
        pub statistics: String,
        pub row_count: i64,
        pub size_bytes: i64,
        pub created_by: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "models")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub description: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod model_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "model_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub model_id: i64,
        pub version: i32,
        pub run_id: Option<i64>,
        pub artifact_digest: String,
        pub dataset_digest: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub input_schema: String,
        #[sea_orm(column_type = "Text")]
        pub metrics: String,
        pub created_by: String,
        pub created_at: i64,
        pub manifest_digest: String,
        /// Dataset, parameters, seed and code version of the run it came from (JSON).
        #[sea_orm(column_type = "Text")]
        pub lineage: String,
        pub description: Option<String>,
        /// The MLflow stage: None, Staging, Production or Archived.
        pub stage: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod model_alias {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "model_aliases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub alias: String,
        pub model_version_id: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod deployment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub current_revision: i32,
        pub slo_policy: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod deployment_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployment_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: i64,
        pub revision: i32,
        #[sea_orm(column_type = "Text")]
        pub spec: String,
        pub actor: String,
        pub reason: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod shadow_comparison {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "shadow_comparisons")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub deployment_id: i64,
        pub revision: i32,
        pub primary_version: i32,
        pub shadow_version: i32,
        pub requests: i64,
        pub agreements: i64,
        pub errors: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod live_baseline {
    use sea_orm::entity::prelude::*;

    /// A version's drift baseline gathered from its first live rows (see
    /// `monitoring::live_baseline`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "live_baselines")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub model_version_id: i64,
        pub target: i64,
        pub rows: i64,
        /// JSON rows of feature values, in the model's feature order.
        #[sea_orm(column_type = "Text")]
        pub feature_values: String,
        /// JSON: per row, the class index or the value predicted.
        #[sea_orm(column_type = "Text")]
        pub predicted: String,
        pub completed_at: Option<i64>,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod registry_tag {
    use sea_orm::entity::prelude::*;

    /// A tag of a registered model (`model_id`) or of a model version (`model_version_id`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "registry_tags")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub model_id: Option<i64>,
        pub model_version_id: Option<i64>,
        pub key: String,
        #[sea_orm(column_type = "Text")]
        pub value: String,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
