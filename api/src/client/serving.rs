//! The client's registry, deployment and prediction calls.

use super::{Client, encode};
use crate::REASON_HEADER;
use crate::error::ApiError;
use crate::monitoring::*;
use crate::pipelines::*;
use crate::predict::*;
use crate::registry::*;
use crate::replica::{ReplicaReport, ReportReceived};
use reqwest::Method;

impl Client {
    // ------------------------------------------------------------ registry

    pub async fn register_model(
        &self,
        name: &str,
        request: &RegisterModel,
    ) -> Result<ModelVersion, ApiError> {
        let path = format!("/api/v1/models/{}/versions", encode(name));
        self.write(Method::POST, &path, request, None).await
    }

    /// Imports an ONNX file (`onnx`: its bytes) as the next version of model `name`; the
    /// reason goes to the audit log.
    pub async fn import_model(
        &self,
        name: &str,
        request: &ImportModel,
        onnx: Vec<u8>,
        reason: Option<&str>,
    ) -> Result<ModelVersion, ApiError> {
        let mut builder = self
            .request(
                Method::POST,
                &format!("/api/v1/models/{}/import", encode(name)),
            )
            .query(request)
            .header("content-type", "application/octet-stream")
            .body(onnx);
        if let Some(reason) = reason {
            builder = builder.header(REASON_HEADER, reason);
        }
        self.json(builder).await
    }

    /// One stored file of a version: `model.json`, or `model` (its weights, or its `.onnx`
    /// file when imported).
    pub async fn download_model_file(
        &self,
        name: &str,
        selector: &str,
        file: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let request = self.request(
            Method::GET,
            &format!(
                "/api/v1/models/{}/versions/{}/files/{}",
                encode(name),
                encode(selector),
                encode(file)
            ),
        );
        self.bytes(request).await
    }

    pub async fn list_models(&self) -> Result<Vec<RegisteredModel>, ApiError> {
        self.get("/api/v1/models").await
    }

    /// The models whose name contains `text`.
    pub async fn search_models(&self, text: &str) -> Result<Vec<RegisteredModel>, ApiError> {
        self.get_query("/api/v1/models", &[("search", text)]).await
    }

    pub async fn get_model(&self, name: &str) -> Result<RegisteredModel, ApiError> {
        self.get(&format!("/api/v1/models/{}", encode(name))).await
    }

    pub async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, ApiError> {
        self.get(&format!("/api/v1/models/{}/versions", encode(name)))
            .await
    }

    /// One version by number, alias or `latest`.
    pub async fn model_version(
        &self,
        name: &str,
        selector: &str,
    ) -> Result<ModelVersion, ApiError> {
        self.get(&format!(
            "/api/v1/models/{}/versions/{}",
            encode(name),
            encode(selector)
        ))
        .await
    }

    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u32,
        reason: Option<&str>,
    ) -> Result<ModelVersion, ApiError> {
        let path = format!("/api/v1/models/{}/aliases/{}", encode(name), encode(alias));
        self.write(Method::PUT, &path, &SetAlias { version }, reason)
            .await
    }

    pub async fn delete_alias(
        &self,
        name: &str,
        alias: &str,
        reason: Option<&str>,
    ) -> Result<(), ApiError> {
        let path = format!("/api/v1/models/{}/aliases/{}", encode(name), encode(alias));
        let mut request = self.request(Method::DELETE, &path);
        if let Some(reason) = reason {
            request = request.header(crate::REASON_HEADER, reason);
        }
        self.send(request).await.map(|_| ())
    }

    // ------------------------------------------------------------ deployments

    pub async fn deploy(
        &self,
        name: &str,
        request: &DeployRequest,
        reason: Option<&str>,
    ) -> Result<Deployment, ApiError> {
        let path = format!("/api/v1/deployments/{}", encode(name));
        self.write(Method::PUT, &path, request, reason).await
    }

    pub async fn promote(
        &self,
        name: &str,
        request: &ChangeRequest,
        reason: Option<&str>,
    ) -> Result<Deployment, ApiError> {
        let path = format!("/api/v1/deployments/{}/promote", encode(name));
        self.write(Method::POST, &path, request, reason).await
    }

    pub async fn rollback(
        &self,
        name: &str,
        request: &ChangeRequest,
        reason: Option<&str>,
    ) -> Result<Deployment, ApiError> {
        let path = format!("/api/v1/deployments/{}/rollback", encode(name));
        self.write(Method::POST, &path, request, reason).await
    }

    pub async fn list_deployments(&self) -> Result<Vec<Deployment>, ApiError> {
        self.get("/api/v1/deployments").await
    }

    pub async fn get_deployment(&self, name: &str) -> Result<Deployment, ApiError> {
        self.get(&format!("/api/v1/deployments/{}", encode(name)))
            .await
    }

    pub async fn deployment_revisions(
        &self,
        name: &str,
    ) -> Result<Vec<DeploymentRevision>, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/revisions", encode(name)))
            .await
    }

    pub async fn shadow_comparisons(&self, name: &str) -> Result<Vec<ShadowComparison>, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/shadow", encode(name)))
            .await
    }

    // ------------------------------------------------------------ predictions

    pub async fn predict(
        &self,
        name: &str,
        request: &PredictRequest,
    ) -> Result<PredictResponse, ApiError> {
        let path = format!("/api/v1/deployments/{}/predict", encode(name));
        self.write(Method::POST, &path, request, None).await
    }

    /// An Open Inference Protocol (v2) request, sent as JSON; outputs asked for as binary
    /// data come back as JSON `data` all the same.
    pub async fn infer(
        &self,
        name: &str,
        request: &InferRequest,
    ) -> Result<InferResponse, ApiError> {
        self.infer_at(&format!("/v2/models/{}/infer", encode(name)), request)
            .await
    }

    /// An Open Inference Protocol (v2) request answered by `version`, which the deployment
    /// must serve (as primary, canary or shadow).
    pub async fn infer_version(
        &self,
        name: &str,
        version: u32,
        request: &InferRequest,
    ) -> Result<InferResponse, ApiError> {
        let path = format!("/v2/models/{}/versions/{version}/infer", encode(name));
        self.infer_at(&path, request).await
    }

    async fn infer_at(
        &self,
        path: &str,
        request: &InferRequest,
    ) -> Result<InferResponse, ApiError> {
        let response = self
            .send(self.request(Method::POST, path).json(request))
            .await?;
        let header_length = response
            .headers()
            .get(crate::oip::HEADER_LENGTH)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|source| self.transport(source))?;
        crate::oip::decode_response(&body, header_length.as_deref())
            .map_err(|err| ApiError::Decode(err.to_string()))
    }
}

impl Client {
    // ------------------------------------------------------------ monitoring

    pub async fn deployment_metrics(&self, name: &str) -> Result<DeploymentMetrics, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/metrics", encode(name)))
            .await
    }

    pub async fn metrics_history(
        &self,
        name: &str,
        minutes: u32,
    ) -> Result<Vec<MinuteMetrics>, ApiError> {
        self.get_query(
            &format!("/api/v1/deployments/{}/metrics/history", encode(name)),
            &[("minutes", minutes)],
        )
        .await
    }

    pub async fn drift(&self, name: &str) -> Result<DriftReport, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/drift", encode(name)))
            .await
    }

    /// The drift report with each table column's kind, missing rate and category shares.
    pub async fn drift_detail(&self, name: &str) -> Result<DriftDetail, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/drift", encode(name)))
            .await
    }

    /// Each feature's PSI per hour over the last `hours` hours (1 to 168).
    pub async fn drift_hours(&self, name: &str, hours: u32) -> Result<DriftHours, ApiError> {
        self.get_query(
            &format!("/api/v1/deployments/{}/drift/hours", encode(name)),
            &[("hours", hours)],
        )
        .await
    }

    pub async fn slo_policy(&self, name: &str) -> Result<SloPolicy, ApiError> {
        self.get(&format!("/api/v1/deployments/{}/slo", encode(name)))
            .await
    }

    pub async fn set_slo_policy(
        &self,
        name: &str,
        policy: &SloPolicy,
        reason: Option<&str>,
    ) -> Result<SloPolicy, ApiError> {
        let path = format!("/api/v1/deployments/{}/slo", encode(name));
        self.write(Method::PUT, &path, policy, reason).await
    }

    /// Alerts, newest first; only unacknowledged ones when `open`.
    pub async fn alerts(
        &self,
        deployment: Option<&str>,
        open: bool,
    ) -> Result<Vec<Alert>, ApiError> {
        let mut query = vec![("open", open.to_string())];
        if let Some(deployment) = deployment {
            query.push(("deployment", deployment.to_owned()));
        }
        self.get_query("/api/v1/alerts", &query).await
    }

    pub async fn acknowledge_alert(
        &self,
        id: i64,
        reason: Option<&str>,
    ) -> Result<Alert, ApiError> {
        self.write(
            Method::POST,
            &format!("/api/v1/alerts/{id}/ack"),
            &(),
            reason,
        )
        .await
    }

    /// `GET /metrics`: the Prometheus text.
    /// `POST /api/v1/replicas/reports`: a serving replica's counts and input rows, merged
    /// into the server's monitoring.
    pub async fn report_replica(&self, report: &ReplicaReport) -> Result<ReportReceived, ApiError> {
        self.write(Method::POST, "/api/v1/replicas/reports", report, None)
            .await
    }

    pub async fn prometheus_text(&self) -> Result<String, ApiError> {
        let bytes = self.bytes(self.request(Method::GET, "/metrics")).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Client {
    // ------------------------------------------------------------ schedules

    pub async fn create_schedule(&self, request: &CreateSchedule) -> Result<Schedule, ApiError> {
        self.write(Method::POST, "/api/v1/schedules", request, None)
            .await
    }

    pub async fn list_schedules(&self) -> Result<Vec<Schedule>, ApiError> {
        self.get("/api/v1/schedules").await
    }

    pub async fn get_schedule(&self, name: &str) -> Result<Schedule, ApiError> {
        self.get(&format!("/api/v1/schedules/{}", encode(name)))
            .await
    }

    /// `pause`, `resume` or `trigger`, with the reason for the audit log.
    pub async fn schedule_action<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<T, ApiError> {
        let path = format!("/api/v1/schedules/{}/{}", encode(name), encode(action));
        self.write(Method::POST, &path, &(), reason).await
    }

    pub async fn delete_schedule(&self, name: &str, reason: Option<&str>) -> Result<(), ApiError> {
        let path = format!("/api/v1/schedules/{}", encode(name));
        let mut request = self.request(Method::DELETE, &path);
        if let Some(reason) = reason {
            request = request.header(crate::REASON_HEADER, reason);
        }
        self.send(request).await.map(|_| ())
    }

    pub async fn schedule_firings(&self, name: &str) -> Result<Vec<Firing>, ApiError> {
        self.get(&format!("/api/v1/schedules/{}/firings", encode(name)))
            .await
    }
}
