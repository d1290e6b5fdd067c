//! What the server replicas on one database share among themselves: the leader of each role.

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
