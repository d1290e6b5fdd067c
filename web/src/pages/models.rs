//! The model registry: every registered model with its aliases, and one model's versions with
//! their evaluation metrics side by side and links to their lineage.

use crate::layout::{Frame, Section, Table, encode, number, when};
use leptos::prelude::*;
use slipway_api::{ModelVersion, RegisteredModel};
use std::collections::BTreeSet;

/// One model's page.
#[derive(Debug, Clone)]
pub struct ModelView {
    pub model: RegisteredModel,
    /// Newest first.
    pub versions: Vec<ModelVersion>,
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
            let params = version
                .params
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(" ");
            view! {
                <tr>
                    <th scope="row">{format!("v{}", version.version)}</th>
                    <td>{version.aliases.join(", ")}</td>
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
        <Table caption="Versions with their metrics side by side" id="versions">
            <thead><tr>
                <th scope="col">"Version"</th><th scope="col">"Aliases"</th><th scope="col">"Arch"</th>
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
    }
}
