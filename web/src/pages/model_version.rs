//! One model version: its test metrics, its lineage (the run that trained it, the dataset and
//! parameters), its aliases and the deployments it serves in with its role there.

use super::models::{placement_links, placements};
use crate::layout::{Frame, Section, Table, encode, number, when};
use leptos::prelude::*;
use slipway_api::{Deployment, ModelVersion};

/// A model version's page.
#[derive(Debug, Clone)]
pub struct ModelVersionView {
    pub version: ModelVersion,
    /// Every deployment; those serving this version are listed.
    pub deployments: Vec<Deployment>,
}

/// A model version's page as a complete HTML document.
pub fn render_model_version(frame: &Frame, view: ModelVersionView) -> String {
    let version = view.version;
    let name = version.model.clone();
    let model_href = format!("/models/{}", encode(&name));
    let title = format!("{name} v{}", version.version);
    let deployed = placement_links(placements(&view.deployments, &name, version.version));
    let metrics = if version.metrics.is_empty() {
        view! { <p class="muted">"No test metrics were recorded."</p> }.into_any()
    } else {
        let rows = version
            .metrics
            .iter()
            .map(|(key, value)| {
                view! { <tr><th scope="row">{key.clone()}</th><td class="num">{number(*value)}</td></tr> }
            })
            .collect_view();
        view! { <Table caption="Test metrics" id="metrics"><tbody>{rows}</tbody></Table> }
            .into_any()
    };
    let run = version.run_id.map_or_else(
        || view! { <span class="muted">"none recorded"</span> }.into_any(),
        |id| view! { <a href=format!("/runs/{id}")>{format!("run #{id}")}</a> }.into_any(),
    );
    let dataset = version.dataset.as_ref().map_or_else(
        || "none recorded".to_owned(),
        |dataset| {
            format!(
                "{} v{} · sha256:{}",
                dataset.name, dataset.version, dataset.digest
            )
        },
    );
    let params = version
        .params
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ");
    let aliases = if version.aliases.is_empty() {
        "none".to_owned()
    } else {
        version.aliases.join(", ")
    };
    let body = view! {
        <nav aria-label="Breadcrumb"><p>
            <a href="/models">"Models"</a>" › "<a href=model_href>{name.clone()}</a>" › "
            {format!("v{}", version.version)}
        </p></nav>
        <h1>{title.clone()}</h1>
        <p class="muted">{version.description.clone().unwrap_or_default()}</p>
        <dl class="facts">
            <dt>"Aliases"</dt><dd>{aliases}</dd>
            <dt>"Deployed"</dt><dd id="deployed">{deployed}</dd>
            <dt>"Arch"</dt><dd>{version.arch.clone()}" · "{version.task.clone()}</dd>
            <dt>"Registered"</dt><dd>{format!("{} UTC by {}", when(&version.created_at), version.created_by)}</dd>
        </dl>
        <h2>"Test metrics"</h2>
        {metrics}
        <h2>"Lineage"</h2>
        <dl class="facts" id="lineage">
            <dt>"Trained by"</dt><dd>{run}</dd>
            <dt>"Dataset"</dt><dd><code>{dataset}</code></dd>
            <dt>"Parameters"</dt><dd><code>{params}</code></dd>
            <dt>"Seed"</dt><dd>{version.seed.map_or_else(|| "–".to_owned(), |seed| seed.to_string())}</dd>
            <dt>"Code version"</dt><dd>{version.code_version.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Artifact"</dt><dd><code>{format!("sha256:{}", version.artifact_digest)}</code></dd>
        </dl>
    }
    .to_html();
    frame.document(&format!("Model {title}"), Section::Models, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::Role;

    #[test]
    fn shows_metrics_lineage_aliases_and_deployments() {
        let view = ModelVersionView {
            version: model_version(3, 0.98),
            deployments: vec![deployment("digits-prod", 3)],
        };
        let html = render_model_version(&frame(Role::Viewer), view);
        assert!(
            html.contains("<title>Model digits v3 · Slipway</title>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/models/digits">digits</a>"#),
            "{html}"
        );
        assert!(
            html.contains(">test_accuracy</th><td class=\"num\">0.98</td>"),
            "{html}"
        );
        assert!(html.contains(r#"<a href="/runs/43">run #43</a>"#), "{html}");
        assert!(html.contains(&format!("digits v1 · sha256:{}", "ef".repeat(32))));
        assert!(html.contains("lr=0.01"));
        assert!(
            html.contains(r#"<a href="/deployments/digits-prod">digits-prod</a> (canary)"#),
            "{html}"
        );

        let view = ModelVersionView {
            version: model_version(2, 0.97),
            deployments: Vec::new(),
        };
        let html = render_model_version(&frame(Role::Viewer), view);
        assert!(html.contains("<dd>champion</dd>"), "{html}");
        assert!(html.contains("not deployed"), "{html}");
    }
}
