//! What the server replicas on one database share among themselves: the leader of each role,
//! and the serving replicas' reports waiting for the leader.

pub mod leader {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "leaders")]
    pub struct Model {
        /// What the leader does, e.g. `maintenance`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
        /// The replica id of the holder (random per boot).
        pub holder: String,
        /// Until when the holder may act without renewing (milliseconds since the epoch).
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod replica_report {
    use sea_orm::entity::prelude::*;

    /// A serving replica's report waiting for the leader to merge it (see
    /// `monitoring::reports`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "replica_reports")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The serving replica's id (random per boot).
        pub replica: String,
        /// The report's number in that replica's sequence.
        pub sequence: i64,
        /// The report, as JSON.
        pub body: String,
        /// When it was received (milliseconds since the epoch).
        pub received_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
