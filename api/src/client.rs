//! [`Client`]: the typed HTTP client of the REST API. Its errors carry the server's error code
//! and message, so callers can show them as they are or branch on the code.

use crate::admin::{GcReport, GcRequest};
use crate::error::{ApiError, ErrorBody, ErrorCode, OipErrorBody};
use crate::jobs::*;
use crate::*;
use crate::{REASON_HEADER, REQUEST_ID_HEADER};
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

mod datasets;
mod events;
mod serving;

pub use datasets::DatasetDownload;

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl ClientBuilder {
    /// The bearer token sent with every request.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.trim().is_empty()).then(|| token.trim().to_owned());
        self
    }

    /// The time allowed for one whole request (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, ApiError> {
        let base = self.base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Usage(format!(
                "invalid server URL '{base}': expected http://HOST:PORT or https://HOST:PORT"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .pool_max_idle_per_host(64)
            // The server closes connections idle for its header timeout (30 s by default):
            // retiring them sooner avoids sending a request down one it is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .tcp_nodelay(true)
            .build()
            .map_err(|err| ApiError::Usage(format!("cannot build the HTTP client: {err}")))?;
        Ok(Client {
            base,
            token: self.token,
            http,
            acting_for: None,
        })
    }
}

/// The typed client of Slipway's REST API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// The job and lease id this client acts for (a worker running an operating job).
    acting_for: Option<(i64, String)>,
}

impl Client {
    /// Starts building a client for the server at `base` (for example `http://127.0.0.1:8080`).
    pub fn builder(base: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            token: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// A client for `base` with `token`.
    pub fn new(base: impl Into<String>, token: Option<String>) -> Result<Self, ApiError> {
        let mut builder = Self::builder(base);
        if let Some(token) = token {
            builder = builder.token(token);
        }
        builder.build()
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A client whose requests act for job `id`, proven by the lease id of the attempt this
    /// worker holds.
    pub fn for_job(&self, id: i64, lease_id: &str) -> Self {
        Self {
            acting_for: Some((id, lease_id.to_owned())),
            ..self.clone()
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((job, lease_id)) = &self.acting_for {
            request = request
                .header(crate::JOB_HEADER, job.to_string())
                .header(crate::LEASE_HEADER, lease_id.as_str());
        }
        request
    }

    fn transport(&self, source: reqwest::Error) -> ApiError {
        ApiError::Transport {
            url: self.base.clone(),
            source,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.unwrap_or_default();
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ApiError::Server {
                status,
                code: body.error.code,
                message: body.error.message,
            },
            // The Open Inference Protocol's shape under `/v2`: the message alone.
            Err(_) => match serde_json::from_slice::<OipErrorBody>(&bytes) {
                Ok(body) => ApiError::Server {
                    status,
                    code: ErrorCode::from_status(status),
                    message: body.error,
                },
                Err(_) => ApiError::Server {
                    status,
                    code: ErrorCode::from_status(status),
                    message: format!(
                        "HTTP {status}{}",
                        request_id
                            .map(|id| format!(" (request {id})"))
                            .unwrap_or_default()
                    ),
                },
            },
        })
    }

    /// The whole body of a successful answer.
    async fn bytes(&self, request: RequestBuilder) -> Result<Vec<u8>, ApiError> {
        let response = self.send(request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|source| self.transport(source))?;
        Ok(bytes.to_vec())
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ApiError> {
        let bytes = self.bytes(request).await?;
        serde_json::from_slice(&bytes).map_err(|err| ApiError::Decode(err.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.json(self.request(Method::GET, path)).await
    }

    async fn get_query<T: DeserializeOwned, Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, ApiError> {
        self.json(self.request(Method::GET, path).query(query))
            .await
    }

    async fn write<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        reason: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = self.request(method, path).json(body);
        if let Some(reason) = reason {
            request = request.header(REASON_HEADER, reason);
        }
        self.json(request).await
    }

    // ------------------------------------------------------------ health and identity

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ApiError> {
        self.get("/healthz").await
    }

    /// `GET /readyz`.
    pub async fn ready(&self) -> Result<Health, ApiError> {
        self.get("/readyz").await
    }

    /// `GET /api/v1/whoami`: the caller's name and role.
    pub async fn whoami(&self) -> Result<Identity, ApiError> {
        self.get("/api/v1/whoami").await
    }

    // ------------------------------------------------------------ experiments

    pub async fn create_experiment(
        &self,
        request: &CreateExperiment,
    ) -> Result<Experiment, ApiError> {
        self.write(Method::POST, "/api/v1/experiments", request, None)
            .await
    }

    /// Gets an experiment by id (all digits) or by name.
    pub async fn get_experiment(&self, id_or_name: &str) -> Result<Experiment, ApiError> {
        self.get(&format!("/api/v1/experiments/{}", encode(id_or_name)))
            .await
    }

    pub async fn list_experiments(&self, page: &PageRequest) -> Result<Page<Experiment>, ApiError> {
        self.get_query("/api/v1/experiments", page).await
    }

    // ------------------------------------------------------------ runs

    pub async fn create_run(&self, request: &CreateRun) -> Result<Run, ApiError> {
        self.write(Method::POST, "/api/v1/runs", request, None)
            .await
    }

    pub async fn get_run(&self, id: i64) -> Result<RunDetail, ApiError> {
        self.get(&format!("/api/v1/runs/{id}")).await
    }

    pub async fn update_run(&self, id: i64, request: &UpdateRun) -> Result<Run, ApiError> {
        self.write(Method::PATCH, &format!("/api/v1/runs/{id}"), request, None)
            .await
    }

    pub async fn search_runs(&self, request: &SearchRuns) -> Result<Page<Run>, ApiError> {
        self.write(Method::POST, "/api/v1/runs/search", request, None)
            .await
    }

    pub async fn log_batch(
        &self,
        run_id: i64,
        batch: &LogBatch,
    ) -> Result<LogBatchResult, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/runs/{run_id}/log-batch"),
            batch,
            None,
        )
        .await
    }

    pub async fn metric_history(
        &self,
        run_id: i64,
        query: &MetricHistoryQuery,
    ) -> Result<MetricHistory, ApiError> {
        self.get_query(&format!("/api/v1/runs/{run_id}/metrics"), query)
            .await
    }

    // ------------------------------------------------------------ artifacts

    pub async fn list_artifacts(&self, run_id: i64) -> Result<Vec<Artifact>, ApiError> {
        self.get(&format!("/api/v1/runs/{run_id}/artifacts")).await
    }

    /// Uploads `bytes` as the run's artifact at relative `path`.
    pub async fn upload_artifact(
        &self,
        run_id: i64,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<Artifact, ApiError> {
        let request = self
            .request(
                Method::PUT,
                &format!("/api/v1/runs/{run_id}/artifacts/{}", encode_path(path)),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes);
        self.json(request).await
    }

    pub async fn download_artifact(&self, run_id: i64, path: &str) -> Result<Vec<u8>, ApiError> {
        let request = self.request(
            Method::GET,
            &format!("/api/v1/runs/{run_id}/artifacts/{}", encode_path(path)),
        );
        self.bytes(request).await
    }

    // ------------------------------------------------------------ tokens and audit

    pub async fn create_token(
        &self,
        request: &CreateToken,
        reason: Option<&str>,
    ) -> Result<CreatedToken, ApiError> {
        self.write(Method::POST, "/api/v1/tokens", request, reason)
            .await
    }

    pub async fn list_tokens(&self) -> Result<Vec<Token>, ApiError> {
        self.get("/api/v1/tokens").await
    }

    pub async fn revoke_token(&self, name: &str, reason: Option<&str>) -> Result<Token, ApiError> {
        let mut request = self.request(Method::DELETE, &format!("/api/v1/tokens/{}", encode(name)));
        if let Some(reason) = reason {
            request = request.header(REASON_HEADER, reason);
        }
        self.json(request).await
    }

    // ------------------------------------------------------------ jobs and workers

    pub async fn submit_job(&self, request: &SubmitJob) -> Result<Job, ApiError> {
        self.write(Method::POST, "/api/v1/jobs", request, None)
            .await
    }

    /// Submits a job given as wire JSON, unchecked here: the server's answer names any
    /// mistake (for tools that forward a document, and for testing the server's checks).
    pub async fn submit_job_json(&self, request: &serde_json::Value) -> Result<Job, ApiError> {
        self.write(Method::POST, "/api/v1/jobs", request, None)
            .await
    }

    pub async fn get_job(&self, id: i64) -> Result<Job, ApiError> {
        self.get(&format!("/api/v1/jobs/{id}")).await
    }

    /// Jobs, newest first, optionally in one state.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        page: &PageRequest,
    ) -> Result<Page<Job>, ApiError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(state) = state {
            query.push(("state", state.as_str().to_owned()));
        }
        if let Some(limit) = page.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = &page.page_token {
            query.push(("page_token", token.clone()));
        }
        self.get_query("/api/v1/jobs", &query).await
    }

    pub async fn cancel_job(&self, id: i64, reason: Option<&str>) -> Result<Job, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/jobs/{id}/cancel"),
            &(),
            reason,
        )
        .await
    }

    pub async fn retry_job(&self, id: i64, reason: Option<&str>) -> Result<Job, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/jobs/{id}/retry"),
            &(),
            reason,
        )
        .await
    }

    pub async fn register_worker(&self, request: &RegisterWorker) -> Result<Worker, ApiError> {
        self.write(Method::POST, "/api/v1/workers", request, None)
            .await
    }

    /// Removes the stored blobs nothing references (admin); `dry_run` only reports them.
    pub async fn gc(&self, dry_run: bool) -> Result<GcReport, ApiError> {
        self.write(
            Method::POST,
            "/api/v1/admin/gc",
            &GcRequest { dry_run },
            None,
        )
        .await
    }

    /// Workers in registration order, a page at a time.
    pub async fn list_workers(&self, page: &PageRequest) -> Result<Page<Worker>, ApiError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(limit) = page.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = &page.page_token {
            query.push(("page_token", token.clone()));
        }
        self.get_query("/api/v1/workers", &query).await
    }

    /// Waits (long-poll) for a job that fits the worker.
    pub async fn lease_job(&self, worker_id: i64, wait_ms: u64) -> Result<LeaseAnswer, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/workers/{worker_id}/lease"),
            &LeaseRequest { wait_ms },
            None,
        )
        .await
    }

    pub async fn job_heartbeat(
        &self,
        job_id: i64,
        heartbeat: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/heartbeat"),
            heartbeat,
            None,
        )
        .await
    }

    pub async fn report_job(&self, job_id: i64, report: &JobReport) -> Result<Job, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/report"),
            report,
            None,
        )
        .await
    }

    pub async fn ship_logs(&self, job_id: i64, logs: &ShipLogs) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .write(
                Method::POST,
                &format!("/api/v1/jobs/{job_id}/logs"),
                logs,
                None,
            )
            .await?;
        Ok(())
    }

    /// A token for the script of command job `job_id` that may write only to `run_id`, while
    /// this worker's attempt holds the lease.
    pub async fn run_token(
        &self,
        job_id: i64,
        request: &crate::RunTokenRequest,
    ) -> Result<crate::RunToken, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/run-token"),
            request,
            None,
        )
        .await
    }

    /// A job's log lines after line `after` (0 for the start).
    pub async fn job_logs(&self, job_id: i64, after: i64, limit: u32) -> Result<JobLogs, ApiError> {
        self.get_query(
            &format!("/api/v1/jobs/{job_id}/logs"),
            &[("after", after.to_string()), ("limit", limit.to_string())],
        )
        .await
    }

    /// Asks a worker to finish its current jobs and take no more.
    pub async fn drain_worker(&self, name: &str, reason: Option<&str>) -> Result<Worker, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/workers/{}/drain", encode(name)),
            &(),
            reason,
        )
        .await
    }

    pub async fn list_audit(&self, page: &PageRequest) -> Result<Page<AuditEvent>, ApiError> {
        self.get_query("/api/v1/audit", page).await
    }
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes each segment of a relative path, keeping the slashes.
fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments_and_keeps_slashes() {
        assert_eq!(encode("my run"), "my%20run");
        assert_eq!(encode_path("plots/roc curve.png"), "plots/roc%20curve.png");
        assert_eq!(encode_path("../x"), "../x");
    }

    #[test]
    fn refuses_a_url_without_scheme() {
        let err = Client::builder("localhost:8080").build().unwrap_err();
        assert!(err.to_string().contains("invalid server URL"));
    }
}
