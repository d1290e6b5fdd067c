//! The dashboard's sessions: the cookie holds a random session id, the table only its SHA-256,
//! with the token it was made from (a session ends with its token), when it was made and when
//! it expires, and when it was signed out.

use crate::helpers::{create_all, drop_all, index, millis, millis_null, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table("sessions")
                .col(big_pk_auto("id"))
                .col(string("id_hash"))
                .col(string("token_name"))
                .col(string("token_key_id"))
                .col(millis("created_at"))
                .col(millis("expires_at"))
                .col(millis_null("revoked_at"))
                .take(),
        ];
        let indexes = vec![
            // A session is found by its id's hash on every dashboard request.
            index("sessions", &["id_hash"], true),
            // Expired sessions are swept by expiry time.
            index("sessions", &["expires_at"], false),
        ];
        create_all(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["sessions"]).await
    }
}
