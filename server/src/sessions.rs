//! The dashboard's sessions: signing in with a token makes a random session id (the cookie's
//! value, 256 bits); the database keeps only its SHA-256, the token it was made from, and when
//! it was made and expires. A session is valid until it expires, is signed out, or its token is
//! revoked, so a stolen cookie is worth less than the token and dies with it. The CSRF token
//! of a session's forms is derived from the session id.

use crate::auth::{Caller, TokenService, key_id_of};
use crate::entity::auth::session;
use crate::error::{ServiceError, ServiceResult};
use crate::time::now_millis;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Issues, checks and ends dashboard sessions.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    tokens: TokenService,
    lifetime: Duration,
}

/// A session just made: its id goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub caller: Caller,
}

fn hash_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn ended() -> ServiceError {
    ServiceError::Unauthenticated(
        "the dashboard session has expired or was signed out; sign in again".to_owned(),
    )
}

/// The CSRF token of a session's forms: a digest of the session id, so it needs no storage,
/// cannot be computed without the cookie, and changes with every sign-in.
pub fn csrf_token(session_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"slipway-dashboard-csrf\0");
    hasher.update(session_id.as_bytes());
    hex::encode(hasher.finalize())
}

impl Sessions {
    pub fn new(db: DatabaseConnection, tokens: TokenService, lifetime: Duration) -> Self {
        Self {
            db,
            tokens,
            lifetime,
        }
    }

    /// How long a new session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Verifies `bearer` and makes a session for its caller; sweeps expired sessions on the
    /// way, so the table holds only live ones and recently signed-out ones.
    pub async fn create(&self, bearer: &str) -> ServiceResult<NewSession> {
        let caller = self.tokens.verify(bearer).await?;
        let key_id = key_id_of(bearer)
            .ok_or_else(|| ServiceError::internal("a verified token without a key id"))?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let now = now_millis();
        let lifetime_ms = i64::try_from(self.lifetime.as_millis()).unwrap_or(i64::MAX);
        session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        session::ActiveModel {
            id_hash: Set(hash_id(&id)),
            token_name: Set(caller.name.clone()),
            token_key_id: Set(key_id.to_owned()),
            created_at: Set(now),
            expires_at: Set(now.saturating_add(lifetime_ms)),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(NewSession { id, caller })
    }

    /// The caller of a live session: not expired, not signed out, its token not revoked.
    pub async fn verify(&self, id: &str) -> ServiceResult<Caller> {
        let row = session::Entity::find()
            .filter(session::Column::IdHash.eq(hash_id(id)))
            .one(&self.db)
            .await?
            .ok_or_else(ended)?;
        if row.revoked_at.is_some() || row.expires_at <= now_millis() {
            return Err(ended());
        }
        let caller =
            self.tokens
                .caller_of_key(&row.token_key_id)
                .await
                .map_err(|err| match err {
                    ServiceError::Unauthenticated(_) => ServiceError::Unauthenticated(
                        "the token this session was made from has been revoked; sign in again"
                            .to_owned(),
                    ),
                    other => other,
                })?;
        Ok(caller)
    }

    /// Ends a session (sign-out): its cookie is refused from now on, here and on every replica.
    pub async fn revoke(&self, id: &str) -> ServiceResult<()> {
        session::Entity::update_many()
            .col_expr(
                session::Column::RevokedAt,
                sea_orm::sea_query::Expr::val(now_millis()),
            )
            .filter(session::Column::IdHash.eq(hash_id(id)))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_reveal_nothing() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), hash_id("a"));
    }
}
