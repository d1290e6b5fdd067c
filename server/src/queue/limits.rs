//! Bounds on what one submission or report may cost: the size of a job's spec and result,
//! a worker's labels and version, a heartbeat's message, and the model a `train` job asks
//! for. Each refusal is a 400 that names the field and the limit.

use crate::error::{ServiceError, ServiceResult};
use sea_orm::ConnectionTrait;
use slipway_api::{JobOutcome, TrainSpec};

/// Largest serialised job spec. A pipeline of a dozen steps is a few KiB; the spec is stored
/// with the job and sent with every listing and lease. Part of the wire contract: a spec is
/// refused while it is read, before its types are checked.
pub const MAX_SPEC_BYTES: usize = slipway_api::MAX_SPEC_BYTES;
/// Largest serialised job result (an evaluation with a 100-class confusion matrix is ~100 KiB).
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// Longest error text a failed attempt reports.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Most labels a worker advertises or a job requires.
pub const MAX_LABELS: usize = 32;
/// Longest label.
pub const MAX_LABEL_BYTES: usize = 64;
/// Longest worker version string.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest progress message of a heartbeat: one line under a progress bar.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Refuses a spec whose JSON text is larger than [`MAX_SPEC_BYTES`].
pub fn check_spec_size(spec: &serde_json::Value) -> ServiceResult<()> {
    let size = spec.to_string().len();
    if size > MAX_SPEC_BYTES {
        return Err(ServiceError::invalid(format!(
            "spec: at most {MAX_SPEC_BYTES} bytes serialised, got {size}"
        )));
    }
    Ok(())
}

/// Refuses a report whose result or error is larger than the limits.
pub fn check_outcome_size(outcome: &JobOutcome) -> ServiceResult<()> {
    match outcome {
        JobOutcome::Succeeded { result } => check_result(result)?,
        JobOutcome::Failed { error, result } => {
            check_text("error", error, MAX_ERROR_BYTES)?;
            check_result(result.as_ref().unwrap_or(&serde_json::Value::Null))?;
        }
        JobOutcome::Cancelled => {}
    }
    Ok(())
}

fn check_result(result: &serde_json::Value) -> ServiceResult<()> {
    let size = result.to_string().len();
    if size > MAX_RESULT_BYTES {
        return Err(ServiceError::invalid(format!(
            "result: at most {MAX_RESULT_BYTES} bytes serialised, got {size}"
        )));
    }
    Ok(())
}

/// Refuses text longer than `most` bytes.
pub fn check_text(field: &str, text: &str, most: usize) -> ServiceResult<()> {
    if text.len() > most {
        return Err(ServiceError::invalid(format!(
            "{field}: at most {most} bytes, got {}",
            text.len()
        )));
    }
    Ok(())
}

/// Refuses more than [`MAX_LABELS`] labels, or one longer than [`MAX_LABEL_BYTES`].
pub fn check_labels(field: &str, labels: &[String]) -> ServiceResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(ServiceError::invalid(format!(
            "{field}: at most {MAX_LABELS} labels, got {}",
            labels.len()
        )));
    }
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() || label.len() > MAX_LABEL_BYTES {
            return Err(ServiceError::invalid(format!(
                "{field}[{i}]: expected 1 to {MAX_LABEL_BYTES} bytes, got {}",
                label.len()
            )));
        }
    }
    Ok(())
}

/// Checks a `train` spec against the dataset it names: the model's parameter count is known
/// only with the data's feature and class counts. A dataset not registered yet is left to
/// the worker, which checks the same before it allocates anything.
pub async fn check_train_model(db: &impl ConnectionTrait, spec: &TrainSpec) -> ServiceResult<()> {
    let Some((inputs, outputs)) =
        crate::datasets::model_shape(db, &spec.dataset, spec.version).await?
    else {
        return Ok(());
    };
    slipway_ml::check_train_spec(spec, inputs, outputs)
        .map(drop)
        .map_err(ServiceError::invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_job_spec_is_refused() {
        let small = serde_json::json!({ "seconds": 1 });
        assert!(check_spec_size(&small).is_ok());
        let big = serde_json::json!({ "padding": "x".repeat(MAX_SPEC_BYTES) });
        let err = check_spec_size(&big).unwrap_err().to_string();
        assert!(
            err.starts_with("spec: at most 65536 bytes serialised, got "),
            "{err}"
        );
    }

    #[test]
    fn oversized_job_result_is_refused() {
        let result = serde_json::json!(["y".repeat(MAX_RESULT_BYTES)]);
        let err = check_outcome_size(&JobOutcome::Succeeded { result })
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("result: at most 1048576 bytes"), "{err}");
        let error = "e".repeat(MAX_ERROR_BYTES + 1);
        assert!(
            check_outcome_size(&JobOutcome::Failed {
                error,
                result: None
            })
            .is_err()
        );
        assert!(check_outcome_size(&JobOutcome::Cancelled).is_ok());
    }

    #[test]
    fn oversized_worker_labels_are_refused() {
        let many: Vec<String> = (0..33).map(|i| format!("l{i}")).collect();
        assert_eq!(
            check_labels("labels", &many).unwrap_err().to_string(),
            "labels: at most 32 labels, got 33"
        );
        let long = vec!["ok".to_owned(), "x".repeat(65)];
        assert_eq!(
            check_labels("labels", &long).unwrap_err().to_string(),
            "labels[1]: expected 1 to 64 bytes, got 65"
        );
        assert!(check_labels("labels", &["gpu".to_owned()]).is_ok());
    }
}
