//! `slipway evaluate --wait` in text: the verdict of a comparison, a table of the metrics (with
//! the other model's and the deltas), and the confusion matrix, read from the job's result.

use super::output::{OutputFormat, Table};
use super::{Cli, EvaluateArgs};
use serde::Deserialize;
use slipway_api::{Job, JobState, SubmitJob};
use slipway_jobs::evaluation::Comparison;
use std::collections::BTreeMap;

/// The result of an `evaluate` job (see `slipway_jobs::evaluate_job`).
#[derive(Debug, Default, Deserialize)]
struct Outcome {
    run_id: Option<i64>,
    #[serde(default)]
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    confusion: Vec<Vec<u64>>,
    comparison: Option<Comparison>,
}

/// Submits the evaluation and, with `--wait`, follows it and prints its result.
pub async fn submit(cli: &Cli, args: &EvaluateArgs, spec: serde_json::Value) -> anyhow::Result<()> {
    if !args.wait || cli.output == OutputFormat::Json {
        return super::ml::submit_and_follow(cli, "evaluate", spec, args.wait).await;
    }
    let client = super::commands::client(cli)?;
    let job = client
        .submit_job(&SubmitJob {
            kind: "evaluate".into(),
            spec,
            ..SubmitJob::default()
        })
        .await?;
    let job = super::ml::follow(&client, job, true).await?;
    if job.state != JobState::Succeeded {
        super::jobs::show(cli, &job)?;
        anyhow::bail!("job {} ended {}", job.id, job.state);
    }
    for line in lines(&job, &args.model)? {
        println!("{line}");
    }
    Ok(())
}

/// An `evaluate` job's result as `jobs show` prints it: what `evaluate --wait` prints below its
/// first line.
pub(super) fn result_lines(job: &Job) -> anyhow::Result<Vec<String>> {
    let model = job.spec["model"].as_str().unwrap_or("model");
    Ok(lines(job, model)?.into_iter().skip(1).collect())
}

/// `0.9667`, or `-` when absent.
fn value(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.4}"))
}

/// What `evaluate --wait` prints for a finished job.
fn lines(job: &Job, model: &str) -> anyhow::Result<Vec<String>> {
    let outcome: Outcome = match &job.result {
        Some(result) => serde_json::from_value(result.clone())
            .map_err(|err| anyhow::anyhow!("job {}: unexpected result: {err}", job.id))?,
        None => Outcome::default(),
    };
    let mut lines = vec![format!("job {} (evaluate) {}: {model}", job.id, job.state)];
    if let Some(c) = &outcome.comparison {
        let delta = c.deltas.get(&c.metric).copied();
        lines.push(format!(
            "verdict: {} than {} on {} (delta {}, margin {})",
            if c.better { "better" } else { "not better" },
            c.against,
            c.metric,
            delta.map_or("-".into(), |d| format!("{d:+.4}")),
            c.margin
        ));
    }
    let mut header = vec!["METRIC".to_owned(), model.to_owned()];
    if let Some(c) = &outcome.comparison {
        header.extend([c.against.clone(), "DELTA".to_owned()]);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);
    for (key, ours) in &outcome.metrics {
        let mut row = vec![key.clone(), value(Some(*ours))];
        if let Some(c) = &outcome.comparison {
            row.push(value(c.their_metrics.get(key).copied()));
            row.push(c.deltas.get(key).map_or("-".into(), |d| format!("{d:+.4}")));
        }
        table.row(row);
    }
    lines.extend(table.render().lines().map(str::to_owned));
    if !outcome.confusion.is_empty() {
        lines.push("confusion matrix (rows: true class, columns: predicted class):".into());
        let mut header = vec!["  TRUE \\ PREDICTED".to_owned()];
        header.extend(outcome.labels.iter().cloned());
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header);
        for (i, counts) in outcome.confusion.iter().enumerate() {
            let name = outcome
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| i.to_string());
            let mut row = vec![format!("  {name}")];
            row.extend(counts.iter().map(u64::to_string));
            table.row(row);
        }
        lines.extend(table.render().lines().map(str::to_owned));
    }
    if let Some(run) = outcome.run_id {
        lines.push(format!(
            "evaluation run {run} (slipway runs show {run}; artifact evaluation.json)"
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_prints_a_verdict_metrics_and_the_confusion_matrix() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": 12, "kind": "evaluate", "state": "succeeded", "spec": {}, "priority": 0,
            "requirements": {"gpus": 0, "labels": []}, "attempts": 1, "max_attempts": 3,
            "progress": 1.0, "created_by": "admin", "created_at": "2025-01-01T00:00:00Z",
            "result": {
                "run_id": 7,
                "metrics": {"accuracy": 0.9, "log_loss": 0.3},
                "labels": ["setosa", "virginica"],
                "confusion": [[5, 0], [1, 4]],
                "comparison": {
                    "against": "iris@champion",
                    "their_metrics": {"accuracy": 0.8, "log_loss": 0.4},
                    "deltas": {"accuracy": 0.1, "log_loss": -0.1},
                    "metric": "accuracy", "margin": 0.0, "better": true
                }
            }
        }))
        .unwrap();
        let text = lines(&job, "iris:2").unwrap().join("\n");
        assert!(
            text.contains(
                "verdict: better than iris@champion on accuracy (delta +0.1000, margin 0)"
            ),
            "{text}"
        );
        assert!(
            text.contains("METRIC    iris:2  iris@champion  DELTA"),
            "{text}"
        );
        assert!(
            text.contains("accuracy  0.9000  0.8000         +0.1000"),
            "{text}"
        );
        assert!(
            text.contains("TRUE \\ PREDICTED  setosa  virginica"),
            "{text}"
        );
        assert!(text.contains("  virginica         1       4"), "{text}");
        assert!(!text.contains('{'), "no raw JSON: {text}");
    }
}
