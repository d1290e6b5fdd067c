//! The answer to an infer request: plain JSON (`application/json`), or, when any output goes
//! as binary data, the JSON header followed by the outputs' bytes
//! (`application/octet-stream`, with `Inference-Header-Content-Length`).

use super::super::error::AppError;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use slipway_api::oip::{self, BinaryOutputs};
use slipway_api::{ErrorCode, InferResponse};

/// An infer response with the request's choice of binary outputs.
#[derive(Debug)]
pub struct InferAnswer {
    response: InferResponse,
    binary: BinaryOutputs,
}

impl InferAnswer {
    pub fn new(response: InferResponse, binary: BinaryOutputs) -> Self {
        Self { response, binary }
    }
}

impl IntoResponse for InferAnswer {
    fn into_response(self) -> Response {
        let binary = self.binary;
        let (body, header_length) =
            match oip::encode_response(self.response, |output| binary.is_binary(&output.name)) {
                Ok(encoded) => encoded,
                Err(err) => {
                    // Our own outputs always encode; failing here is a bug.
                    tracing::error!(error = %err, "encoding an infer response failed");
                    return AppError::new(
                        ErrorCode::Internal,
                        "internal error; the server log has the details",
                    )
                    .into_response();
                }
            };
        let mut response = body.into_response();
        let headers = response.headers_mut();
        match header_length {
            Some(length) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                headers.insert(
                    HeaderName::from_static(oip::HEADER_LENGTH),
                    HeaderValue::from(length),
                );
            }
            None => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        response
    }
}
