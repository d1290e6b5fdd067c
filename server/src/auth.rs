//! Bearer tokens: creation, verification, listing and revocation.
//!
//! A token reads `slw_<key id>_<secret>`. The key id is stored in clear to find the row; only
//! the SHA-256 of the secret is stored, and it is compared in constant time. Secrets have 192
//! bits of entropy, so a fast hash is the right tool (a password hash would only add latency).
//! Verified tokens are cached for a few seconds so that a busy client does not cost a database
//! read per request; revoking through this server clears the cache at once.

use crate::audit::{self, Change};
use crate::entity::auth::token;
use crate::error::{ServiceError, ServiceResult, conflict_on_unique};
use crate::time::{from_millis, now_millis};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use slipway_api::{CreateToken, CreatedToken, Role, Token};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

const PREFIX: &str = "slw_";
const CACHE_TTL: Duration = Duration::from_secs(5);
/// How often `last_used_at` is written for a busy token.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Who is calling: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The one run a command job's run token may write to (see `run_tokens`): such a caller
    /// reads what a viewer reads and tracks only under that run's paths.
    pub run_scope: Option<i64>,
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read anything but tokens.
    Read,
    /// Create experiments and runs, log to runs, upload artifacts.
    Track,
    /// Deploy, promote, roll back, cancel jobs.
    Operate,
    /// Lease and report jobs.
    Work,
    /// Manage tokens.
    Admin,
}

impl Permission {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Permission::Read => true,
            Permission::Track => role != Role::Viewer,
            Permission::Operate => matches!(role, Role::Engineer | Role::Admin),
            Permission::Work => matches!(role, Role::Worker | Role::Admin),
            Permission::Admin => role == Role::Admin,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Track => "engineer, worker or admin",
            Permission::Operate => "engineer or admin",
            Permission::Work => "worker or admin",
            Permission::Admin => "admin",
        }
    }
}

impl Caller {
    /// The caller of a request without a token, when anonymous read access is on.
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".to_owned(),
            role: Role::Viewer,
            run_scope: None,
        }
    }

    /// Checks that the caller may do what `permission` covers.
    pub fn require(&self, permission: Permission) -> ServiceResult<()> {
        // A run token tracks (the middleware keeps it under its run's paths) and reads.
        let allowed = match self.run_scope {
            Some(_) => matches!(permission, Permission::Read | Permission::Track),
            None => permission.allows(self.role),
        };
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(format!(
                "token '{}' has role {}; this needs the role {}",
                self.name,
                self.role,
                permission.describe()
            )))
        }
    }
}

impl Caller {
    /// [`Caller::require`] for a change to run `run_id`: a run token changes only its own run.
    pub fn require_run(&self, permission: Permission, run_id: i64) -> ServiceResult<()> {
        self.require(permission)?;
        match self.run_scope {
            Some(own) if own != run_id => Err(ServiceError::PermissionDenied(format!(
                "token '{}' is a run token: it may write only to run {own}",
                self.name
            ))),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    secret_hash: [u8; 32],
    caller: Caller,
    revoked: bool,
    fetched: Instant,
    last_used_at: Option<i64>,
}

/// Issues and verifies tokens.
#[derive(Debug, Clone)]
pub struct TokenService {
    db: DatabaseConnection,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

fn invalid_token() -> ServiceError {
    ServiceError::Unauthenticated("invalid or revoked token".to_owned())
}

/// The key id and secret of a bearer token `slw_<key id>_<secret>`.
fn split_bearer(bearer: &str) -> Option<(&str, &str)> {
    bearer.strip_prefix(PREFIX)?.split_once('_')
}

/// The key id of a bearer token (the part that names its row, not a secret).
pub fn key_id_of(bearer: &str) -> Option<&str> {
    split_bearer(bearer).map(|(key_id, _)| key_id)
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn validate_name(name: &str) -> ServiceResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "name: expected 1 to 64 letters, digits, '-', '_', '.' or '@', got '{name}'"
        )))
    }
}

fn to_api(row: &token::Model) -> ServiceResult<Token> {
    Ok(Token {
        name: row.name.clone(),
        role: row
            .role
            .parse()
            .map_err(|err: String| ServiceError::internal(err))?,
        created_at: from_millis(row.created_at),
        revoked_at: row.revoked_at.map(from_millis),
        last_used_at: row.last_used_at.map(from_millis),
    })
}

impl TokenService {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: Arc::default(),
        }
    }

    /// Creates a token; the secret is returned once and never stored.
    pub async fn create(
        &self,
        actor: &str,
        request: &CreateToken,
        reason: Option<&str>,
    ) -> ServiceResult<CreatedToken> {
        validate_name(&request.name)?;
        let key_id = random_hex(6);
        let secret = random_hex(24);
        let row = token::ActiveModel {
            name: Set(request.name.clone()),
            role: Set(request.role.as_str().to_owned()),
            key_id: Set(key_id.clone()),
            secret_hash: Set(hex::encode(hash_secret(&secret))),
            created_at: Set(now_millis()),
            revoked_at: Set(None),
            last_used_at: Set(None),
            ..Default::default()
        };
        let txn = crate::db::begin_write(&self.db).await?;
        let row = row.insert(&txn).await.map_err(|err| {
            conflict_on_unique(err, || {
                format!("a token named '{}' already exists", request.name)
            })
        })?;
        audit::record(
            &txn,
            Change {
                actor,
                action: "token.create",
                target_kind: "token",
                target_id: request.name.clone(),
                reason,
                details: Some(serde_json::json!({ "role": request.role })),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(CreatedToken {
            token: to_api(&row)?,
            secret: format!("{PREFIX}{key_id}_{secret}"),
        })
    }

    /// Creates the first admin token when no token exists yet; returns its secret then.
    pub async fn bootstrap_admin(&self) -> ServiceResult<Option<String>> {
        if token::Entity::find().count(&self.db).await? > 0 {
            return Ok(None);
        }
        let request = CreateToken {
            name: "admin".to_owned(),
            role: Role::Admin,
        };
        let created = self
            .create("slipway", &request, Some("first start"))
            .await?;
        Ok(Some(created.secret))
    }

    /// Every token, oldest first.
    pub async fn list(&self) -> ServiceResult<Vec<Token>> {
        token::Entity::find()
            .order_by_asc(token::Column::Id)
            .all(&self.db)
            .await?
            .iter()
            .map(to_api)
            .collect()
    }

    /// Revokes the token named `name`; it stops working at once on this server.
    pub async fn revoke(
        &self,
        actor: &str,
        name: &str,
        reason: Option<&str>,
    ) -> ServiceResult<Token> {
        let txn = crate::db::begin_write(&self.db).await?;
        let row = token::Entity::find()
            .filter(token::Column::Name.eq(name))
            .one(&txn)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("token '{name}' not found")))?;
        let key_id = row.key_id.clone();
        let row = if row.revoked_at.is_some() {
            row
        } else {
            let mut active = row.into_active_model();
            active.revoked_at = Set(Some(now_millis()));
            let row = active.update(&txn).await?;
            audit::record(
                &txn,
                Change {
                    actor,
                    action: "token.revoke",
                    target_kind: "token",
                    target_id: name.to_owned(),
                    reason,
                    details: None,
                },
            )
            .await?;
            row
        };
        txn.commit().await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(&key_id);
        }
        to_api(&row)
    }

    /// Verifies a bearer token and returns its caller.
    pub async fn verify(&self, bearer: &str) -> ServiceResult<Caller> {
        let (key_id, secret) = split_bearer(bearer).ok_or_else(invalid_token)?;
        if let Some(caller) = crate::run_tokens::verify(&self.db, key_id, secret).await? {
            return Ok(caller);
        }
        let presented = hash_secret(secret);
        let entry = self.entry(key_id).await?;
        let matches: bool = entry.secret_hash.ct_eq(&presented).into();
        if !matches || entry.revoked {
            return Err(invalid_token());
        }
        self.touch(key_id, entry.last_used_at);
        Ok(entry.caller)
    }

    /// The caller of the token with `key_id`, as long as it is not revoked: for credentials
    /// made from a verified token (dashboard sessions), which end with it.
    pub async fn caller_of_key(&self, key_id: &str) -> ServiceResult<Caller> {
        let entry = self.entry(key_id).await?;
        if entry.revoked {
            return Err(invalid_token());
        }
        Ok(entry.caller)
    }

    /// The token row of `key_id`, from the cache while it is fresh.
    async fn entry(&self, key_id: &str) -> ServiceResult<Cached> {
        let cached = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.get(key_id).cloned())
            .filter(|entry| entry.fetched.elapsed() < CACHE_TTL);
        if let Some(entry) = cached {
            return Ok(entry);
        }
        let entry = self.load(key_id).await?.ok_or_else(invalid_token)?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(key_id.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    async fn load(&self, key_id: &str) -> ServiceResult<Option<Cached>> {
        let Some(row) = token::Entity::find()
            .filter(token::Column::KeyId.eq(key_id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let mut secret_hash = [0u8; 32];
        hex::decode_to_slice(&row.secret_hash, &mut secret_hash)
            .map_err(|err| ServiceError::internal(format!("stored token hash: {err}")))?;
        let role = row
            .role
            .parse()
            .map_err(|err: String| ServiceError::internal(err))?;
        Ok(Some(Cached {
            secret_hash,
            caller: Caller {
                name: row.name,
                role,
                run_scope: None,
            },
            revoked: row.revoked_at.is_some(),
            fetched: Instant::now(),
            last_used_at: row.last_used_at,
        }))
    }

    /// Records when a token was last used, at most once a minute, off the request path.
    fn touch(&self, key_id: &str, last_used_at: Option<i64>) {
        let now = now_millis();
        if last_used_at.is_some_and(|last| now - last < LAST_USED_RESOLUTION_MS) {
            return;
        }
        if let Ok(mut cache) = self.cache.write()
            && let Some(entry) = cache.get_mut(key_id)
        {
            entry.last_used_at = Some(now);
        }
        let db = self.db.clone();
        let key_id = key_id.to_owned();
        tokio::spawn(async move {
            let update = token::Entity::update_many()
                .col_expr(
                    token::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::val(now),
                )
                .filter(token::Column::KeyId.eq(key_id))
                .exec(&db)
                .await;
            if let Err(err) = update {
                tracing::warn!(error = %err, "cannot record a token's last use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_permissions() {
        assert!(Permission::Read.allows(Role::Viewer));
        assert!(!Permission::Track.allows(Role::Viewer));
        assert!(Permission::Track.allows(Role::Worker));
        assert!(!Permission::Operate.allows(Role::Worker));
        assert!(Permission::Operate.allows(Role::Engineer));
        assert!(!Permission::Admin.allows(Role::Engineer));
        assert!(Permission::Admin.allows(Role::Admin));
    }

    #[test]
    fn token_names_are_checked() {
        assert!(validate_name("alice").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
    }
}
