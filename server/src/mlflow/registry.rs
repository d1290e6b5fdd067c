//! `/api/2.0/mlflow/registered-models/*` and `/model-versions/*`: MLflow's model registry on
//! Slipway's.

use crate::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
