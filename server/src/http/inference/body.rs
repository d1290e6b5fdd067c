//! The body of an infer request: JSON with or without a content type (OIP clients often send
//! none), or a JSON header followed by binary tensors when `Inference-Header-Content-Length`
//! is set. The server's body limit applies as to any body.

use super::super::error::AppError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_ENCODING;
use slipway_api::ErrorCode;
use slipway_api::InferRequest;
use slipway_api::oip::{self, BinaryOutputs, CodecError, TensorData};

/// Bodies up to this size are decoded on the request's task; larger ones on the blocking
/// pool, so a 16 MiB body does not hold up the runtime.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// A decoded infer request.
#[derive(Debug)]
pub struct InferBody {
    pub request: InferRequest,
    /// The binary data of each input; `None` for an input given as JSON `data`.
    pub binary: Vec<Option<TensorData>>,
    /// Which outputs to answer as binary data.
    pub binary_outputs: BinaryOutputs,
}

fn decode(body: &[u8], header_length: Option<&str>) -> Result<InferBody, CodecError> {
    let (request, binary) = oip::decode_request(body, header_length)?;
    let binary_outputs = BinaryOutputs::of(&request)?;
    Ok(InferBody {
        request,
        binary,
        binary_outputs,
    })
}

/// A state that knows the largest body accepted (the server's and a serving replica's).
pub trait MaxBody {
    fn max_body_bytes(&self) -> usize;
}

impl MaxBody for AppState {
    fn max_body_bytes(&self) -> usize {
        self.config.limits.max_body_bytes
    }
}

impl<S: MaxBody + Send + Sync> FromRequest<S> for InferBody {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(encoding) = request.headers().get(CONTENT_ENCODING)
            && encoding.as_bytes() != b"identity"
        {
            return Err(AppError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "Content-Encoding '{}' is not supported; send the body uncompressed",
                    String::from_utf8_lossy(encoding.as_bytes())
                ),
            ));
        }
        let header_length = match request.headers().get(oip::HEADER_LENGTH) {
            None => None,
            Some(value) => Some(value.to_str().map(str::to_owned).map_err(|_| {
                AppError::new(
                    ErrorCode::InvalidArgument,
                    "Inference-Header-Content-Length: expected the JSON header's length in bytes",
                )
            })?),
        };
        let limit = state.max_body_bytes();
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status().as_u16() {
                    413 => AppError::new(
                        ErrorCode::PayloadTooLarge,
                        format!(
                            "the request body is larger than the server's limit of {limit} bytes"
                        ),
                    ),
                    status => AppError::new(ErrorCode::from_status(status), rejection.body_text()),
                })?;
        let decoded = if bytes.len() <= INLINE_DECODE_BYTES {
            decode(&bytes, header_length.as_deref())
        } else {
            tokio::task::spawn_blocking(move || decode(&bytes, header_length.as_deref()))
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "decoding an infer request failed");
                    AppError::new(
                        ErrorCode::Internal,
                        "internal error; the server log has the details",
                    )
                })?
        };
        decoded.map_err(|err| AppError::new(ErrorCode::InvalidArgument, err.to_string()))
    }
}
