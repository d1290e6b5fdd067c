//! The HTTP API of a serving replica (`slipway serve`): predict, the Open Inference Protocol
//! under `/v2`, `/metrics`, `/healthz` and `/readyz`, answered by the same serving code as the
//! server's. A replica has no database, so it asks the server who a bearer token belongs to
//! (`/api/v1/whoami`) and remembers the answer briefly. Predict and infer spend the caller's
//! budget as on the server (429 with `Retry-After` beyond it).

use super::error::{ApiResult, AppError};
use super::extract::{Json, Path};
use super::inference::{InferAnswer, InferBody, MaxBody};
use super::throttle::{Budgets, PredictQuota};
use crate::auth::{Caller, Permission};
use crate::monitoring::prometheus;
use crate::rate_limit::RateLimits;
use crate::serving::Serving;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use slipway_api::{ErrorCode, Health, ModelMetadata, PredictRequest, PredictResponse};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a token's owner is remembered: a revoked token still predicts on a replica for at
/// most this long.
const TOKEN_TTL: Duration = Duration::from_secs(10);

/// Tokens remembered at most; beyond it the memory is cleared (callers are few, attackers
/// guessing tokens are not).
const TOKENS_KEPT: usize = 10_000;

/// What a replica's handlers share.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub serving: Serving,
    /// The server's URL, which says who a token belongs to.
    pub server: String,
    pub max_body_bytes: usize,
    known: Arc<Mutex<HashMap<String, (Caller, Instant)>>>,
    /// Each caller's prediction budget on this replica (the server's policy, from the same
    /// flags).
    rate_limits: Arc<RateLimits>,
}

impl ReplicaState {
    pub fn new(
        serving: Serving,
        server: String,
        max_body_bytes: usize,
        rate_limits: RateLimits,
    ) -> Self {
        Self {
            serving,
            server,
            max_body_bytes,
            known: Arc::default(),
            rate_limits: Arc::new(rate_limits),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Caller, Instant)>> {
        // Entries are whole values: a panicked holder leaves none half-written.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who `token` belongs to, asking the server unless known recently.
    async fn caller(&self, token: &str) -> Result<Caller, AppError> {
        if let Some((caller, at)) = self.known().get(token)
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(caller.clone());
        }
        let client = slipway_api::Client::new(&self.server, Some(token.to_owned()))
            .map_err(|err| AppError::new(ErrorCode::Internal, err.to_string()))?;
        let identity = client.whoami().await.map_err(|err| match err.code() {
            Some(code @ (ErrorCode::Unauthenticated | ErrorCode::PermissionDenied)) => {
                AppError::new(code, "the server does not accept this bearer token")
            }
            _ => AppError::new(
                ErrorCode::Unavailable,
                format!("cannot check the bearer token with the server: {err}"),
            ),
        })?;
        let caller = Caller {
            name: identity.name,
            role: identity.role,
            run_scope: None,
        };
        let mut known = self.known();
        if known.len() >= TOKENS_KEPT {
            known.clear();
        }
        known.insert(token.to_owned(), (caller.clone(), Instant::now()));
        Ok(caller)
    }
}

impl Budgets for ReplicaState {
    fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }
}

impl MaxBody for ReplicaState {
    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

/// The replica's whole router.
pub fn router(state: ReplicaState) -> Router {
    let guarded = Router::new()
        .route("/api/v1/deployments/{name}/predict", post(predict))
        .route("/metrics", get(metrics))
        .route("/v2", get(super::inference::server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v2/health/live", get(healthz))
        .route("/v2/health/ready", get(readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn(super::inference::errors::render))
        .with_state(state)
}

async fn authenticate(
    State(state): State<ReplicaState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = token else {
        return AppError::new(
            ErrorCode::Unauthenticated,
            "a bearer token is required: send 'Authorization: Bearer <token>'",
        )
        .into_response();
    };
    match state.caller(&token).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".to_owned(),
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    })
}

/// Ready once every deployment's current revision is loaded (or has failed to load).
async fn readyz(State(state): State<ReplicaState>) -> ApiResult<axum::Json<Health>> {
    state
        .serving
        .readiness()
        .await?
        .map_err(|reason| AppError::new(ErrorCode::Unavailable, reason))?;
    Ok(axum::Json(Health {
        status: "ok".to_owned(),
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    }))
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        format!(
            "no route for {}; a serving replica answers predict, /v2 and /metrics only",
            uri.path()
        ),
    )
}

async fn predict(
    State(state): State<ReplicaState>,
    caller: Caller,
    _quota: PredictQuota,
    Path(name): Path<String>,
    Json(request): Json<PredictRequest>,
) -> ApiResult<axum::Json<PredictResponse>> {
    caller.require(Permission::Read)?;
    let answer = state
        .serving
        .predict(
            &name,
            &request.instances,
            request.key.as_deref(),
            &caller.name,
        )
        .await?;
    Ok(axum::Json(answer))
}

/// What this replica answered, in the Prometheus text format.
async fn metrics(
    State(state): State<ReplicaState>,
    caller: Caller,
) -> ApiResult<([(axum::http::header::HeaderName, &'static str); 1], String)> {
    caller.require(Permission::Read)?;
    let mut text = String::with_capacity(4096);
    prometheus::predictions(&mut text, &state.serving.monitor().totals());
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

async fn model_metadata(
    State(state): State<ReplicaState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<ModelMetadata>> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(state.serving.model_metadata(&name, None).await?))
}

async fn version_metadata(
    State(state): State<ReplicaState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<axum::Json<ModelMetadata>> {
    caller.require(Permission::Read)?;
    let version = super::inference::version_number(&version)?;
    Ok(axum::Json(
        state.serving.model_metadata(&name, Some(version)).await?,
    ))
}

async fn model_ready(
    State(state): State<ReplicaState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    state.serving.model_ready(&name, None).await?;
    Ok(axum::Json(json!({ "name": name, "ready": true })))
}

async fn version_ready(
    State(state): State<ReplicaState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Permission::Read)?;
    let number = super::inference::version_number(&version)?;
    state.serving.model_ready(&name, Some(number)).await?;
    Ok(axum::Json(
        json!({ "name": name, "version": version, "ready": true }),
    ))
}

async fn infer(
    State(state): State<ReplicaState>,
    caller: Caller,
    _quota: PredictQuota,
    Path(name): Path<String>,
    body: InferBody,
) -> ApiResult<InferAnswer> {
    caller.require(Permission::Read)?;
    let response = state
        .serving
        .infer(&name, None, &body.request, &body.binary, &caller.name)
        .await?;
    Ok(InferAnswer::new(response, body.binary_outputs))
}

async fn version_infer(
    State(state): State<ReplicaState>,
    caller: Caller,
    _quota: PredictQuota,
    Path((name, version)): Path<(String, String)>,
    body: InferBody,
) -> ApiResult<InferAnswer> {
    caller.require(Permission::Read)?;
    let version = super::inference::version_number(&version)?;
    let response = state
        .serving
        .infer(
            &name,
            Some(version),
            &body.request,
            &body.binary,
            &caller.name,
        )
        .await?;
    Ok(InferAnswer::new(response, body.binary_outputs))
}
