//! `slipway evaluate --wait` in text: the verdict of a comparison, a table of the metrics (with
//! the other model's and the deltas), and the confusion matrix, read from the job's result.

use super::output::{OutputFormat, Table};
use super::{Cli, EvaluateArgs};
use slipway_api::{EvaluateResult, EvaluateSpec, Job, JobSpec, JobState, SubmitJob};

/// Submits the evaluation and, with `--wait`, follows it and prints its result.
pub async fn submit(cli: &Cli, args: &EvaluateArgs, spec: EvaluateSpec) -> anyhow::Result<()> {
    if !args.wait || cli.output == OutputFormat::Json {
        return super::ml::submit_and_follow(cli, spec.into(), args.wait).await;
    }
    let client = super::commands::client(cli)?;
    let job = client.submit_job(&SubmitJob::new(spec)).await?;
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
    let model = match &job.spec {
        JobSpec::Evaluate(spec) => spec.model.to_string(),
        other => anyhow::bail!("job {} is a {} job, not evaluate", job.id, other.kind()),
    };
    Ok(lines(job, &model)?.into_iter().skip(1).collect())
}

/// `0.9667`, or `-` when absent.
fn value(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.4}"))
}

/// What `evaluate --wait` prints for a finished job.
fn lines(job: &Job, model: &str) -> anyhow::Result<Vec<String>> {
    let (outcome, run_id) = match &job.result {
        Some(_) => {
            let outcome = job.result_as::<EvaluateResult>()?;
            let run_id = outcome.run_id;
            (outcome, Some(run_id))
        }
        None => (
            EvaluateResult {
                run_id: 0,
                metrics: Default::default(),
                confusion: Vec::new(),
                labels: Vec::new(),
                comparison: None,
            },
            None,
        ),
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
    if let Some(run) = run_id {
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
            "id": 12, "kind": "evaluate", "state": "succeeded", "priority": 0,
            "spec": {"model": {"name": "iris", "version": 2}},
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
