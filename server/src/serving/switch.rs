//! The rule for switching a deployment to another registered model. Callers of a deployment
//! send rows shaped for the model it serves, so a deploy that names another model is refused
//! unless it says so (`change_model`), and refused again when the new model reads other input
//! features (names, order or count) unless it insists (`force`).

use crate::error::{ServiceError, ServiceResult};
use crate::registry::{self, Selector};
use sea_orm::DatabaseConnection;
use slipway_api::{DeployRequest, DeploymentSpec};

/// Checks a deploy that takes deployment `name` from `current` to `next`; a change that keeps
/// the model always passes.
pub async fn check(
    db: &DatabaseConnection,
    name: &str,
    current: &DeploymentSpec,
    next: &DeploymentSpec,
    request: &DeployRequest,
) -> ServiceResult<()> {
    if current.model == next.model {
        return Ok(());
    }
    if !request.change_model {
        return Err(ServiceError::conflict(format!(
            "deployment '{name}' serves model '{}'; deploying model '{}' would switch it to \
             another model: pass change_model (slipway deploy --change-model) to do that",
            current.model, next.model
        )));
    }
    if request.force {
        return Ok(());
    }
    let features = |model: &str, version: u32| {
        let model = model.to_owned();
        async move {
            registry::version(db, &model, &Selector::Number(version))
                .await
                .map(|found| found.features)
                .map_err(|err| match err {
                    // A version that does not exist is a mistake in the request.
                    ServiceError::NotFound(message) => {
                        ServiceError::invalid(format!("version: {message}"))
                    }
                    other => other,
                })
        }
    };
    let before = features(&current.model, current.primary).await?;
    let after = features(&next.model, next.primary).await?;
    match difference(&before, &after) {
        None => Ok(()),
        Some(difference) => Err(ServiceError::conflict(format!(
            "model '{}' v{} reads other features than model '{}' v{}, which deployment \
             '{name}' serves now: {difference}; callers' rows would no longer fit. Pass force \
             (slipway deploy --force) to switch anyway",
            next.model, next.primary, current.model, current.primary
        ))),
    }
}

/// How many names a message lists before it says "…".
const LISTED: usize = 5;

fn list(names: &[&String]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(LISTED)
        .map(|name| format!("'{name}'"))
        .collect();
    if names.len() > LISTED {
        shown.push(format!("… ({} in all)", names.len()));
    }
    shown.join(", ")
}

/// How the input features `after` differ from `before`, in words; `None` when they are the
/// same names in the same order.
fn difference(before: &[String], after: &[String]) -> Option<String> {
    if before == after {
        return None;
    }
    let missing: Vec<&String> = before.iter().filter(|f| !after.contains(f)).collect();
    let added: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    let mut parts = Vec::new();
    if before.len() != after.len() {
        parts.push(format!(
            "{} features instead of {}",
            after.len(),
            before.len()
        ));
    }
    if !missing.is_empty() {
        parts.push(format!("without {}", list(&missing)));
    }
    if !added.is_empty() {
        parts.push(format!("new {}", list(&added)));
    }
    if parts.is_empty() {
        // The same names, so only their order differs.
        let position = before
            .iter()
            .zip(after)
            .position(|(b, a)| b != a)
            .unwrap_or_default();
        parts.push(format!(
            "the same features in another order (position {position} is '{}', was '{}')",
            after[position], before[position]
        ));
    }
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_same_features_in_the_same_order_do_not_differ() {
        assert_eq!(difference(&names(&["a", "b"]), &names(&["a", "b"])), None);
    }

    #[test]
    fn names_count_and_order_differences_are_described() {
        let count = difference(&names(&["a", "b", "c"]), &names(&["a", "b"])).unwrap();
        assert_eq!(count, "2 features instead of 3; without 'c'");
        let renamed = difference(&names(&["a", "b"]), &names(&["a", "x"])).unwrap();
        assert_eq!(renamed, "without 'b'; new 'x'");
        let order = difference(&names(&["a", "b"]), &names(&["b", "a"])).unwrap();
        assert_eq!(
            order,
            "the same features in another order (position 0 is 'b', was 'a')"
        );
        let many: Vec<String> = (0..64).map(|i| format!("pixel_{i}")).collect();
        let iris = names(&["sepal_length", "sepal_width", "petal_length", "petal_width"]);
        let text = difference(&many, &iris).unwrap();
        assert!(
            text.starts_with("4 features instead of 64; without 'pixel_0'"),
            "{text}"
        );
        assert!(text.contains("… (64 in all)"), "{text}");
    }
}
