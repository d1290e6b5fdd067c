//! What every resource shares: health answers, pages of lists, and the live event stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The health answer of `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A page of a list, with the token for the next page while more remain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `limit` and `page_token` of a list request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One change on the live event stream (`GET /api/v1/events`, server-sent events). Clients
/// refetch what changed; the SSE id lets a reconnecting client resume where it left off, and
/// an event of kind `reset` tells it to refetch everything (the server restarted, or the
/// client was away too long).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// `job`, `worker` or `reset`.
    pub kind: String,
    /// The id of the job or worker.
    pub id: i64,
    /// What happened: `submitted`, `state`, `registered`, `draining`, `lost`, …
    pub change: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub at: DateTime<Utc>,
}
