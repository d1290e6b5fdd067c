//! The model registry: every registered model with its aliases, and one model's versions with
//! their evaluation metrics as a chart across versions and side by side, where each is
//! deployed, and links to their lineage.

use crate::charts::{LineChart, LineChartView, Point, Series, XAxis};
use crate::layout::{Frame, Section, Table, encode, number, when};
use leptos::prelude::*;
use slipway_api::{Deployment, ModelVersion, RegisteredModel};
use std::collections::BTreeSet;

/// One model's page.
#[derive(Debug, Clone)]
pub struct ModelView {
    pub model: RegisteredModel,
    /// Newest first.
    pub versions: Vec<ModelVersion>,
    /// Every deployment; those serving this model say where its versions run.
    pub deployments: Vec<Deployment>,
}

/// Where `version` of `model` serves: each deployment's name with the version's role there
/// (`primary`, `canary`, `shadow`).
pub fn placements(
    deployments: &[Deployment],
    model: &str,
    version: u32,
) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for deployment in deployments.iter().filter(|d| d.spec.model == model) {
        let spec = &deployment.spec;
        if spec.primary == version {
            out.push((deployment.name.clone(), "primary"));
        }
        if spec
            .canary
            .as_ref()
            .is_some_and(|canary| canary.version == version)
        {
            out.push((deployment.name.clone(), "canary"));
        }
        if spec.shadow == Some(version) {
            out.push((deployment.name.clone(), "shadow"));
        }
    }
    out
}

/// The links to the deployments `version` serves in, with its role in each.
pub fn placement_links(placements: Vec<(String, &'static str)>) -> AnyView {
    if placements.is_empty() {
        return view! { <span class="muted">"not deployed"</span> }.into_any();
    }
    placements
        .into_iter()
        .enumerate()
        .map(|(index, (name, role))| {
            let separator = (index > 0).then_some(", ");
            view! {
                {separator}
                <a href=format!("/deployments/{}", encode(&name))>{name.clone()}</a>
                {format!(" ({role})")}
            }
        })
        .collect_view()
        .into_any()
}

/// The test metrics across versions: one line per metric, a point per version.
fn metrics_chart(versions: &[ModelVersion], keys: &BTreeSet<String>) -> LineChart {
    let series = keys
        .iter()
        .map(|key| {
            let mut points: Vec<Point> = versions
                .iter()
                .filter_map(|version| {
                    version.metrics.get(key).map(|value| Point {
                        x: f64::from(version.version),
                        y: *value,
                        hover: format!("v{}: {key} = {}", version.version, number(*value)),
                    })
                })
                .collect();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            Series {
                name: key.clone(),
                points,
            }
        })
        .collect();
    LineChart {
        title: "Test metrics by version".into(),
        x_label: "version".into(),
        y_label: "value".into(),
        x_axis: XAxis::Number,
        series,
        id: Some("version-metrics".into()),
        ..LineChart::default()
    }
}

/// The models page as a complete HTML document.
pub fn render_models(frame: &Frame, models: Vec<RegisteredModel>) -> String {
    let rows = models
        .into_iter()
        .map(|model| {
            let aliases = model
                .aliases
                .iter()
                .map(|(alias, version)| format!("{alias} → v{version}"))
                .collect::<Vec<_>>()
                .join(", ");
            let latest = model
                .latest_version
                .map(|version| format!("v{version}"))
                .unwrap_or_default();
            view! {
                <tr>
                    <td><a href=format!("/models/{}", encode(&model.name))>{model.name.clone()}</a></td>
                    <td class="num">{latest}</td>
                    <td class="num">{model.version_count}</td>
                    <td>{aliases}</td>
                    <td>{model.description.unwrap_or_default()}</td>
                    <td>{when(&model.updated_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let body = view! {
        <h1>"Models"</h1>
        <Table caption="Registered models" id="models">
            <thead><tr><th scope="col">"Model"</th><th scope="col" class="num">"Latest"</th><th scope="col" class="num">"Versions"</th><th scope="col">"Aliases"</th><th scope="col">"Description"</th><th scope="col">"Updated (UTC)"</th></tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
    .to_html();
    frame.document("Models", Section::Models, body)
}

/// One model's page as a complete HTML document.
pub fn render_model(frame: &Frame, view: ModelView) -> String {
    let name = view.model.name.clone();
    let keys: BTreeSet<String> = view
        .versions
        .iter()
        .flat_map(|version| version.metrics.keys().cloned())
        .collect();
    let chart = (!keys.is_empty()).then(|| {
        let chart = metrics_chart(&view.versions, &keys);
        view! { <LineChartView chart=chart /> }
    });
    let deployments = view.deployments;
    let headers = keys
        .iter()
        .map(|key| view! { <th scope="col" class="num">{key.clone()}</th> })
        .collect_view();
    let rows = view
        .versions
        .into_iter()
        .map(|version| {
            let metrics = keys
                .iter()
                .map(|key| {
                    let value = version.metrics.get(key).map(|v| number(*v)).unwrap_or_default();
                    view! { <td class="num">{value}</td> }
                })
                .collect_view();
            let run = version.run_id.map(|id| view! { <a href=format!("/runs/{id}")>{format!("#{id}")}</a> });
            let dataset = version.dataset.as_ref().map(|dataset| {
                let short: String = dataset.digest.chars().take(12).collect();
                view! { <span title=format!("sha256:{}", dataset.digest)>{format!("{} v{} · {short}", dataset.name, dataset.version)}</span> }
            });
            let deployed = placement_links(placements(&deployments, &version.model, version.version));
            let href = format!(
                "/models/{}/versions/{}",
                encode(&version.model),
                version.version
            );
            let params = version
                .params
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(" ");
            view! {
                <tr>
                    <th scope="row"><a href=href>{format!("v{}", version.version)}</a></th>
                    <td>{version.aliases.join(", ")}</td>
                    <td>{deployed}</td>
                    <td>{version.arch}</td>
                    {metrics}
                    <td>{run}</td>
                    <td>{dataset}</td>
                    <td><code>{params}</code></td>
                    <td>{version.created_by}</td>
                    <td>{when(&version.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let aliases = view
        .model
        .aliases
        .iter()
        .map(|(alias, version)| format!("{alias} → v{version}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let body = view! {
        <nav aria-label="Breadcrumb"><p><a href="/models">"Models"</a>" › "{name.clone()}</p></nav>
        <h1>{name.clone()}</h1>
        <p class="muted">{view.model.description.clone().unwrap_or_default()}" "{aliases}</p>
        <h2>"Versions"</h2>
        {chart}
        <Table caption="Versions with their metrics side by side" id="versions">
            <thead><tr>
                <th scope="col">"Version"</th><th scope="col">"Aliases"</th><th scope="col">"Deployed"</th><th scope="col">"Arch"</th>
                {headers}
                <th scope="col">"Run"</th><th scope="col">"Dataset"</th><th scope="col">"Parameters"</th><th scope="col">"By"</th><th scope="col">"Registered (UTC)"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </Table>
    }
    .to_html();
    frame.document(&format!("Model {name}"), Section::Models, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::fixtures::*;
    use slipway_api::Role;
    use std::collections::BTreeMap;

    #[test]
    fn lists_models_and_compares_versions() {
        let model = RegisteredModel {
            name: "digits".into(),
            description: Some("handwritten digits".into()),
            latest_version: Some(2),
            version_count: 2,
            aliases: BTreeMap::from([("champion".to_owned(), 2)]),
            created_at: at(0),
            updated_at: at(2),
        };
        let html = render_models(&frame(Role::Viewer), vec![model.clone()]);
        assert!(html.contains("<title>Models · Slipway</title>"));
        assert!(html.contains(r#"<a href="/models/digits">digits</a>"#));
        assert!(html.contains("champion → v2"));

        let view = ModelView {
            model,
            versions: vec![model_version(2, 0.97), model_version(1, 0.93)],
            deployments: vec![deployment("digits-prod", 3)],
        };
        let html = render_model(&frame(Role::Viewer), view);
        assert!(
            html.contains(r#"<th scope="col" class="num">test_accuracy</th>"#),
            "{html}"
        );
        assert!(html.contains(">0.97<") && html.contains(">0.93<"), "{html}");
        assert!(html.contains(r#"<a href="/runs/42">#42</a>"#));
        assert!(html.contains("digits v1 · efefefefefef"));
        assert!(html.contains("lr=0.01"));
        // The metrics across versions as a chart, a point per version.
        assert!(html.contains(r#"id="version-metrics""#), "{html}");
        assert!(html.contains("v1: test_accuracy = 0.93"), "{html}");
        assert!(html.contains("v2: test_accuracy = 0.97"), "{html}");
        // v2 is the fixture deployment's primary; v1 serves nowhere.
        assert!(
            html.contains(r#"<a href="/models/digits/versions/2">v2</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/deployments/digits-prod">digits-prod</a> (primary)"#),
            "{html}"
        );
        assert!(html.contains("not deployed"), "{html}");
    }

    #[test]
    fn placements_name_each_role() {
        let mut with_shadow = deployment("digits-prod", 3);
        with_shadow.spec.shadow = Some(4);
        let other = slipway_api::Deployment {
            spec: slipway_api::DeploymentSpec {
                model: "faces".into(),
                ..with_shadow.spec.clone()
            },
            ..deployment("faces", 1)
        };
        let deployments = vec![with_shadow, other];
        assert_eq!(
            placements(&deployments, "digits", 2),
            [("digits-prod".to_owned(), "primary")]
        );
        assert_eq!(
            placements(&deployments, "digits", 3),
            [("digits-prod".to_owned(), "canary")]
        );
        assert_eq!(
            placements(&deployments, "digits", 4),
            [("digits-prod".to_owned(), "shadow")]
        );
        assert!(placements(&deployments, "digits", 1).is_empty());
    }
}
