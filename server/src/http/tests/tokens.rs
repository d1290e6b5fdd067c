//! `/tokens`, `/whoami`, `/audit`: tokens are an admin's; anyone may ask who they are.

use super::*;
use serde_json::json;

#[tokio::test]
async fn only_admins_manage_tokens_and_a_revoked_token_is_refused() {
    let api = Api::new().await;
    for token in [&api.engineer, &api.viewer, &api.worker] {
        api.get("/tokens", token)
            .await
            .error(StatusCode::FORBIDDEN, "permission_denied");
        api.post("/tokens", token, json!({"name": "x", "role": "viewer"}))
            .await
            .error(StatusCode::FORBIDDEN, "permission_denied");
    }
    let created = api
        .post(
            "/tokens",
            &api.admin,
            json!({"name": "ci", "role": "viewer"}),
        )
        .await
        .ok(StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let me = api.get("/whoami", &secret).await.ok(StatusCode::OK);
    assert_eq!(me["name"], "ci", "{me}");
    assert_eq!(me["role"], "viewer", "{me}");
    let listed = api.get("/tokens", &api.admin).await.ok(StatusCode::OK);
    assert!(listed.to_string().contains("\"ci\""), "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "secrets are shown once"
    );
    api.post(
        "/tokens",
        &api.admin,
        json!({"name": "ci", "role": "viewer"}),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
    let revoked = api
        .call(Method::DELETE, "/tokens/ci", Some(&api.admin), None)
        .await;
    assert!(revoked.status.is_success(), "{revoked:?}");
    api.get("/whoami", &secret)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    api.call(Method::DELETE, "/tokens/nobody", Some(&api.admin), None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn every_role_may_ask_who_it_is() {
    let api = Api::new().await;
    for (token, role) in [
        (&api.admin, "admin"),
        (&api.engineer, "engineer"),
        (&api.viewer, "viewer"),
        (&api.worker, "worker"),
    ] {
        let me = api.get("/whoami", token).await.ok(StatusCode::OK);
        assert_eq!(me["role"], role, "{me}");
    }
    api.needs_a_token(Method::GET, "/whoami", None).await;
}
