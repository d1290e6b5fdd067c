//! How a failed command is reported: a line on stderr for people, or with `--output json` the
//! API's error body `{"error": {"code", "message"}}` on stderr (stdout stays empty, so a
//! script's redirected output never holds half an answer and an error). A request refused for
//! want of a token also says where tokens come from.

use super::Cli;
use super::output::OutputFormat;
use slipway_api::{ApiError, ErrorBody, ErrorCode, ErrorDetail};

/// The API error in `err`'s chain, if any.
fn api_error(err: &anyhow::Error) -> Option<&ApiError> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<ApiError>())
}

/// Adds what a person needs to act on `err`: where tokens come from, when the server asked
/// for one and none was sent.
pub fn explain(cli: &Cli, err: anyhow::Error) -> anyhow::Error {
    let unauthenticated =
        api_error(&err).and_then(ApiError::code) == Some(ErrorCode::Unauthenticated);
    // An empty token (`SLIPWAY_TOKEN=`) is not sent, so it counts as none.
    let token_given = cli.token.as_deref().is_some_and(|t| !t.trim().is_empty());
    if !unauthenticated || token_given {
        return err;
    }
    let local = super::commands::is_local(&cli.server);
    let path = super::commands::local_token_path();
    let found_local = local && path.is_file();
    if found_local {
        // A token was sent (the local admin token) and refused: nothing to add.
        return err;
    }
    let mut hint = "no token was sent: set SLIPWAY_TOKEN or pass --token (an admin creates \
                    tokens with `slipway token create`)"
        .to_owned();
    if local {
        let shown = std::path::absolute(&path).unwrap_or(path);
        hint.push_str(&format!(
            ", or run this where `slipway up` ran: it writes .slipway/admin-token there \
             (SLIPWAY_DATA_DIR names another data dir); there is none at {}",
            shown.display()
        ));
    }
    err.context(hint)
}

/// The API error body for `err`: the server's code when it answered, otherwise the code that
/// fits what went wrong here.
pub fn body(err: &anyhow::Error) -> ErrorBody {
    let code = match api_error(err) {
        Some(ApiError::Server { code, .. }) => *code,
        Some(ApiError::Transport { .. }) => ErrorCode::Unavailable,
        Some(ApiError::Decode(_)) => ErrorCode::Internal,
        // The command line or a local file is wrong.
        Some(ApiError::Usage(_)) | None => ErrorCode::InvalidArgument,
    };
    ErrorBody {
        error: ErrorDetail {
            code,
            message: format!("{err:#}"),
        },
    }
}

/// Prints `err` on stderr as `format` asks.
pub fn report(err: &anyhow::Error, format: OutputFormat) {
    match format {
        OutputFormat::Text => eprintln!("error: {err:#}"),
        OutputFormat::Json => match serde_json::to_string(&body(err)) {
            Ok(json) => eprintln!("{json}"),
            Err(_) => eprintln!("error: {err:#}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_servers_code_or_one_that_fits() {
        let refused = anyhow::Error::new(ApiError::Server {
            status: 404,
            code: ErrorCode::NotFound,
            message: "deployment 'x' not found".into(),
        })
        .context("cannot show x");
        let body = body(&refused);
        assert_eq!(body.error.code, ErrorCode::NotFound);
        assert!(body.error.message.contains("deployment 'x' not found"));
        let local = anyhow::anyhow!("cannot read rows.csv");
        assert_eq!(super::body(&local).error.code, ErrorCode::InvalidArgument);
        let json = serde_json::to_value(super::body(&local)).unwrap();
        assert_eq!(json["error"]["code"], "invalid_argument");
        assert_eq!(json["error"]["message"], "cannot read rows.csv");
    }
}
