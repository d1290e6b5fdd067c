//! `/v2` through the whole router: bodies with and without a content type, the binary
//! extension's size checks, and every refusal — authentication, body limit, bad JSON,
//! unknown routes — in the protocol's `{"error": "message"}` shape.

use crate::config::ServerArgs;
use crate::http::dashboard::tests::Harness;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use slipway_api::Role;

/// Status, headers and JSON body of the router's answer.
async fn answer(
    harness: &Harness,
    request: Request<Body>,
) -> (StatusCode, header::HeaderMap, Value) {
    let response = harness.respond(request).await;
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, headers, body)
}

/// The message of a `/v2` error body, which must be a string.
fn message(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected {{\"error\": \"message\"}}, got {body}"))
}

/// An infer request with no content type, as the Triton client sends it.
fn infer(token: Option<&str>) -> axum::http::request::Builder {
    let mut request = Request::post("/v2/models/digits/infer");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request
}

const JSON_BODY: &str =
    r#"{"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}"#;

#[tokio::test]
async fn json_without_a_content_type_is_read() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    // No content type, as the Triton client sends it: read, and refused only because no
    // deployment 'digits' exists.
    let request = infer(Some(&viewer)).body(Body::from(JSON_BODY)).unwrap();
    let (status, headers, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(message(&body).contains("digits"), "{body}");
}

#[tokio::test]
async fn refusals_under_v2_are_message_strings() {
    let harness = Harness::with_args(ServerArgs {
        max_body_bytes: Some(4096),
        ..ServerArgs::default()
    })
    .await;
    let viewer = harness.token("vera", Role::Viewer).await;

    let request = infer(None).body(Body::from(JSON_BODY)).unwrap();
    let (status, headers, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(message(&body).contains("bearer token"), "{body}");

    let request = infer(Some("not-a-token"))
        .body(Body::from(JSON_BODY))
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    message(&body);

    let request = infer(Some(&viewer))
        .body(Body::from("{\"inputs\": ["))
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("malformed JSON:"), "{body}");

    let request = infer(Some(&viewer))
        .body(Body::from(vec![b' '; 5000]))
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        message(&body),
        "the request body is larger than the server's limit of 4096 bytes"
    );

    let request = Request::get("/v2/models/digits/nothing")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        message(&body).contains("/v2/models/digits/nothing"),
        "{body}"
    );

    let request = Request::get("/v2/models/digits/infer")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    message(&body);

    let request = Request::get("/v2/models/digits/versions/two/ready")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "version: expected a version number, got 'two'"
    );

    // The API under /api/v1 keeps its own shape.
    let request = Request::get("/api/v1/nothing").body(Body::empty()).unwrap();
    let (_, _, body) = answer(&harness, request).await;
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// A body of `header` followed by `tail`, with the header's length.
fn binary_request(token: &str, header: &Value, tail: &[u8]) -> Request<Body> {
    let mut body = serde_json::to_vec(header).unwrap();
    let length = body.len();
    body.extend_from_slice(tail);
    Request::post("/v2/models/digits/infer")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(slipway_api::oip::HEADER_LENGTH, length.to_string())
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn binary_sizes_are_checked_before_anything_else() {
    let harness = Harness::new().await;
    let viewer = harness.token("vera", Role::Viewer).await;
    let header = serde_json::json!({"inputs": [{
        "name": "input-0", "shape": [2, 3], "datatype": "FP32",
        "parameters": {"binary_data_size": 24},
    }]});
    let (status, _, body) = answer(&harness, binary_request(&viewer, &header, &[0; 20])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "inputs[0].parameters.binary_data_size: 24 bytes, but only 20 bytes of binary data remain after the JSON header and the tensors before it"
    );
    let (status, _, body) = answer(&harness, binary_request(&viewer, &header, &[0; 28])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "the body has 28 bytes after the JSON header, but the binary_data_size of the inputs add up to 24"
    );
    let short = serde_json::json!({"inputs": [{
        "name": "input-0", "shape": [2, 3], "datatype": "FP32",
        "parameters": {"binary_data_size": 20},
    }]});
    let (status, _, body) = answer(&harness, binary_request(&viewer, &short, &[0; 20])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "inputs[0].parameters.binary_data_size: 6 FP32 values take 24 bytes, got 20"
    );
    // Well-formed binary data reaches the deployment lookup.
    let (status, _, body) = answer(&harness, binary_request(&viewer, &header, &[0; 24])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let mut request = binary_request(&viewer, &header, &[0; 24]);
    request
        .headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(message(&body).contains("gzip"), "{body}");
}

#[tokio::test]
async fn health_is_open_and_metadata_names_the_binary_extension() {
    let harness = Harness::new().await;
    for path in ["/v2/health/live", "/v2/health/ready"] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let (status, _, body) = answer(&harness, request).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let viewer = harness.token("vera", Role::Viewer).await;
    let request = Request::get("/v2")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = answer(&harness, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["extensions"],
        serde_json::json!(["binary_tensor_data"])
    );
}
