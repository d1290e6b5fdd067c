//! Time limits of one request, after its headers (the header timeout is the connection's, in
//! [`crate::transport`]): the body must arrive within the body timeout (408), and the answer
//! must start within the request deadline (503), both in the API's error shape.
//!
//! Some routes are exempt from the deadline by nature: the worker's lease call is a long poll,
//! the event streams never end, and artifact and dataset transfers are as long as their size
//! (which has its own limit). Uploads are timed per chunk rather than as a whole: a large
//! upload may take long, but it may not stall.

use super::error::AppError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use slipway_api::ErrorCode;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The time limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub body_timeout: Duration,
    pub deadline: Duration,
}

/// How a route is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timing {
    /// The body within the body timeout, the answer within the deadline.
    Standard,
    /// Answers when there is something to say (the lease long poll): no deadline.
    LongPoll,
    /// An endless stream of events: no deadline.
    Stream,
    /// Moves a file: no deadline, and the body is timed per chunk.
    Transfer,
}

/// Sorts a request by method and path. This runs before routing, so it reads the raw path;
/// a path that is not one of these routes is answered 404 or 405 within the deadline anyway.
fn timing(method: &Method, path: &str) -> Timing {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = method == Method::GET;
    match segments.as_slice() {
        ["api", "v1", "events"] | ["events"] if get => Timing::Stream,
        ["api", "v1", "workers", _, "lease"] if method == Method::POST => Timing::LongPoll,
        ["api", "v1", "runs", _, "artifacts", _, ..] if get || method == Method::PUT => {
            Timing::Transfer
        }
        ["runs", _, "artifacts", _, ..] if get => Timing::Transfer,
        ["api", "v1", "datasets", _] if method == Method::POST => Timing::Transfer,
        ["api", "v1", "models", _, "import"] if method == Method::POST => Timing::Transfer,
        ["api", "v1", "models", _, "versions", _, "files", _] if get => Timing::Transfer,
        ["api", "v1", "datasets", _, "versions", _, "content"] if get => Timing::Transfer,
        _ => Timing::Standard,
    }
}

/// The middleware: times the body and the answer of every request as its route allows.
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let timing = timing(request.method(), request.uri().path());
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = if http_body::Body::is_end_stream(request.body()) {
        request
    } else {
        let pace = match timing {
            Timing::Transfer => Pace::BetweenChunks,
            _ => Pace::Whole,
        };
        let flag = Arc::clone(&timed_out);
        request.map(|body| Body::new(TimedBody::new(body, limits.body_timeout, pace, flag)))
    };
    let response = match timing {
        Timing::Standard => match tokio::time::timeout(limits.deadline, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                return AppError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "the request was not answered within the server's deadline of {} s",
                        limits.deadline.as_secs_f64()
                    ),
                )
                .into_response();
            }
        },
        Timing::LongPoll | Timing::Stream | Timing::Transfer => next.run(request).await,
    };
    if timed_out.load(Ordering::Acquire) {
        let mut response = AppError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                limits.body_timeout.as_secs_f64()
            ),
        )
        .into_response();
        // The rest of the body is still on its way: the connection cannot be reused.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    response
}

/// How a body's time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// All of it within the timeout.
    Whole,
    /// No gap between chunks longer than the timeout.
    BetweenChunks,
}

/// The error a body that came too slowly ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

/// A request body that fails, and raises its flag, once its time is up.
struct TimedBody {
    inner: Body,
    timeout: Duration,
    pace: Pace,
    sleep: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Body, timeout: Duration, pace: Pace, timed_out: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            timeout,
            pace,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            timed_out,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if this.pace == Pace::BetweenChunks {
                    let next = Instant::now() + this.timeout;
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn app(limits: RequestLimits) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: Bytes| async move { body }))
            .route(
                "/api/v1/workers/{id}/lease",
                post(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "leased"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(limits, enforce))
    }

    const LIMITS: RequestLimits = RequestLimits {
        body_timeout: Duration::from_millis(200),
        deadline: Duration::from_millis(100),
    };

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn handler_past_the_deadline_answers_503() {
        let request = Request::get("/slow").body(Body::empty()).unwrap();
        let response = app(LIMITS).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_text(response).await;
        assert!(body.contains("\"code\":\"unavailable\""), "{body}");
        assert!(body.contains("deadline"), "{body}");
    }

    #[tokio::test]
    async fn the_lease_long_poll_is_exempt_from_the_deadline() {
        let request = Request::post("/api/v1/workers/1/lease")
            .body(Body::empty())
            .unwrap();
        let response = app(LIMITS).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_text(response).await, "leased");
    }

    #[tokio::test]
    async fn a_stalled_body_is_answered_408_in_the_error_shape() {
        let limits = RequestLimits {
            body_timeout: Duration::from_millis(100),
            deadline: Duration::from_secs(30),
        };
        let (sender, body) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        sender
            .send(Ok(Bytes::from_static(b"{\"a\":")))
            .await
            .unwrap();
        let body = Body::from_stream(tokio_stream_of(body));
        let request = Request::post("/echo").body(body).unwrap();
        let response = app(limits).oneshot(request).await.unwrap();
        drop(sender);
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[CONNECTION], "close");
        let body = body_text(response).await;
        assert!(body.contains("\"code\":\"request_timeout\""), "{body}");
    }

    #[tokio::test]
    async fn a_prompt_body_is_untouched() {
        let request = Request::post("/echo").body(Body::from("hello")).unwrap();
        let response = app(LIMITS).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_text(response).await, "hello");
    }

    #[test]
    fn routes_are_timed_by_what_they_do() {
        assert_eq!(timing(&Method::GET, "/api/v1/events"), Timing::Stream);
        assert_eq!(timing(&Method::GET, "/events"), Timing::Stream);
        assert_eq!(
            timing(&Method::POST, "/api/v1/workers/3/lease"),
            Timing::LongPoll
        );
        assert_eq!(
            timing(&Method::PUT, "/api/v1/runs/1/artifacts/model/weights.bin"),
            Timing::Transfer
        );
        assert_eq!(
            timing(&Method::GET, "/runs/1/artifacts/model.json"),
            Timing::Transfer
        );
        assert_eq!(
            timing(&Method::POST, "/api/v1/datasets/iris"),
            Timing::Transfer
        );
        assert_eq!(
            timing(&Method::GET, "/api/v1/datasets/iris/versions/1/content"),
            Timing::Transfer
        );
        assert_eq!(
            timing(&Method::POST, "/api/v1/runs/search"),
            Timing::Standard
        );
        assert_eq!(timing(&Method::POST, "/events"), Timing::Standard);
        assert_eq!(
            timing(&Method::GET, "/api/v1/runs/1/artifacts"),
            Timing::Standard
        );
    }

    /// A stream over a channel's receiver, without another dependency.
    fn tokio_stream_of<T: Send + 'static>(
        mut receiver: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
