//! The extractors that spend a request of a caller's budget ([`crate::rate_limit`]): a handler
//! that takes [`PredictQuota`] or [`SearchQuota`] runs only within budget; beyond it the
//! client gets 429 with `Retry-After` (whole seconds) in the API's error shape.

use super::error::AppError;
use crate::auth::Caller;
use crate::rate_limit::{Budget, RateLimits};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::RETRY_AFTER;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_api::ErrorCode;
use std::time::Duration;

/// A request within the caller's prediction budget.
#[derive(Debug)]
pub struct PredictQuota;

/// A request within the caller's search budget.
#[derive(Debug)]
pub struct SearchQuota;

/// Why a request was not let through.
#[derive(Debug)]
pub enum Refused {
    /// No authenticated caller (the route is not behind authentication).
    NoCaller,
    /// The caller's budget is spent for now.
    OverBudget {
        budget: Budget,
        retry_after: Duration,
    },
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (budget, retry_after) = match self {
            Refused::NoCaller => {
                return AppError::new(ErrorCode::Unauthenticated, "a bearer token is required")
                    .into_response();
            }
            Refused::OverBudget {
                budget,
                retry_after,
            } => (budget, retry_after),
        };
        // Whole seconds, rounded up: a client that waits this long is let through.
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let secs = secs.max(1);
        let what = match budget {
            Budget::Predict => "predictions",
            Budget::Search => "run searches",
        };
        let mut response = AppError::new(
            ErrorCode::RateLimited,
            format!("too many {what} for this token; retry in {secs} s"),
        )
        .into_response();
        debug_assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        response
    }
}

/// A state that holds the callers' budgets: the server's, and a serving replica's.
pub trait Budgets {
    fn rate_limits(&self) -> &RateLimits;
}

impl Budgets for AppState {
    fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }
}

fn spend(parts: &Parts, limits: &RateLimits, budget: Budget) -> Result<(), Refused> {
    let caller = parts.extensions.get::<Caller>().ok_or(Refused::NoCaller)?;
    limits
        .check(budget, caller)
        .map_err(|retry_after| Refused::OverBudget {
            budget,
            retry_after,
        })
}

impl<S: Budgets + Send + Sync> FromRequestParts<S> for PredictQuota {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        spend(parts, state.rate_limits(), Budget::Predict).map(|()| Self)
    }
}

impl FromRequestParts<AppState> for SearchQuota {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        spend(parts, &state.rate_limits, Budget::Search).map(|()| Self)
    }
}
