//! The servers the client can switch between, from a contexts file:
//!
//! ```toml
//! [[context]]
//! name = "prod"
//! server = "https://slipway.example.com"
//! token_env = "SLIPWAY_PROD_TOKEN"   # or: token = "…"
//! ```
//!
//! The file is `$SLIPWAY_CONTEXTS`, else `$XDG_CONFIG_HOME/slipway/contexts.toml`, else
//! `$HOME/.config/slipway/contexts.toml`. Errors name the file, and the line where there is one.

use serde::Deserialize;
use slipway_api::{ApiError, Client};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What can go wrong finding a context.
#[derive(Debug, thiserror::Error)]
pub enum ContextsError {
    #[error("no contexts file: set SLIPWAY_CONTEXTS, XDG_CONFIG_HOME or HOME")]
    NoPath,
    #[error("cannot read the contexts file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("no context named '{name}' in {path} (it has: {known})")]
    Unknown {
        name: String,
        path: String,
        known: String,
    },
    #[error("context '{name}': the environment variable {var} (its token_env) is not set")]
    MissingToken { name: String, var: String },
    #[error("context '{name}': {source}")]
    Client {
        name: String,
        #[source]
        source: ApiError,
    },
}

/// One server the client can talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    pub server: String,
    pub token: TokenSource,
}

/// Where a context's token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Literal(String),
    /// The name of an environment variable holding it (so the file holds no secret).
    Env(String),
}

impl TokenSource {
    /// How the contexts view names it, never showing a secret.
    pub fn describe(&self) -> String {
        match self {
            TokenSource::None => "-".to_owned(),
            TokenSource::Literal(_) => "in the file".to_owned(),
            TokenSource::Env(var) => format!("${var}"),
        }
    }
}

impl Context {
    /// The token, read from the environment where the file names a variable.
    pub fn token(&self) -> Result<Option<String>, ContextsError> {
        match &self.token {
            TokenSource::None => Ok(None),
            TokenSource::Literal(token) => Ok(Some(token.clone())),
            TokenSource::Env(var) => match std::env::var(var) {
                Ok(token) => Ok(Some(token)),
                Err(_) => Err(ContextsError::MissingToken {
                    name: self.name.clone(),
                    var: var.clone(),
                }),
            },
        }
    }

    /// A client for this context's server.
    pub fn client(&self) -> Result<Client, ContextsError> {
        Client::new(&self.server, self.token()?).map_err(|source| ContextsError::Client {
            name: self.name.clone(),
            source,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    context: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    server: String,
    token: Option<String>,
    token_env: Option<String>,
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// The contexts of a file's `text`; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<Vec<Context>, ContextsError> {
    let invalid = |offset: usize, message: String| ContextsError::Invalid {
        path: path.to_owned(),
        line: line_of(text, offset),
        message,
    };
    let file: File = toml::from_str(text).map_err(|err| {
        let offset = err.span().map(|span| span.start).unwrap_or(0);
        invalid(offset, err.message().to_owned())
    })?;
    let mut contexts: Vec<Context> = Vec::new();
    for entry in file.context {
        let start = entry.span().start;
        let entry = entry.into_inner();
        let name_at = entry.name.span().start;
        let name = entry.name.into_inner();
        if name.trim().is_empty() {
            return Err(invalid(name_at, "a context needs a name".to_owned()));
        }
        if contexts.iter().any(|c| c.name == name) {
            return Err(invalid(name_at, format!("context '{name}' is named twice")));
        }
        let token = match (entry.token, entry.token_env) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    start,
                    format!("context '{name}': give token or token_env, not both"),
                ));
            }
            (Some(token), None) => TokenSource::Literal(token),
            (None, Some(var)) => TokenSource::Env(var),
            (None, None) => TokenSource::None,
        };
        contexts.push(Context {
            name,
            server: entry.server,
            token,
        });
    }
    Ok(contexts)
}

/// Where the contexts file is, from these environment values (for tests; see [`path`]).
pub fn path_from(
    contexts: Option<String>,
    xdg_config_home: Option<String>,
    home: Option<String>,
) -> Option<PathBuf> {
    let set = |value: Option<String>| value.filter(|v| !v.is_empty());
    if let Some(path) = set(contexts) {
        return Some(PathBuf::from(path));
    }
    let config = match set(xdg_config_home) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&set(home)?).join(".config"),
    };
    Some(config.join("slipway").join("contexts.toml"))
}

/// Where the contexts file is.
pub fn path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var(name).ok();
    path_from(var("SLIPWAY_CONTEXTS"), var("XDG_CONFIG_HOME"), var("HOME"))
}

/// The contexts of the file at [`path`].
pub fn load() -> Result<Vec<Context>, ContextsError> {
    let path = path().ok_or(ContextsError::NoPath)?;
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| ContextsError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// The context named `name` in the file at [`path`].
pub fn find(name: &str) -> Result<Context, ContextsError> {
    let contexts = load()?;
    let known: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
    let known = known.join(", ");
    contexts
        .iter()
        .find(|c| c.name == name)
        .cloned()
        .ok_or_else(|| ContextsError::Unknown {
            name: name.to_owned(),
            path: path().map(|p| p.display().to_string()).unwrap_or_default(),
            known,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;

    const FILE: &str = r#"
[[context]]
name = "prod"
server = "https://slipway.example.com"
token_env = "SLIPWAY_PROD_TOKEN"

[[context]]
name = "local"
server = "http://127.0.0.1:8080"
token = "dev-token"

[[context]]
name = "open"
server = "http://10.0.0.2:8080"
"#;

    #[test]
    fn every_entry_with_its_token_source() {
        let contexts = parse(FILE, "contexts.toml").unwrap();
        let names: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["prod", "local", "open"]);
        assert_eq!(contexts[0].server, "https://slipway.example.com");
        assert_eq!(
            contexts[0].token,
            TokenSource::Env("SLIPWAY_PROD_TOKEN".into())
        );
        assert_eq!(contexts[1].token, TokenSource::Literal("dev-token".into()));
        assert_eq!(contexts[1].token().unwrap().as_deref(), Some("dev-token"));
        assert_eq!(contexts[2].token, TokenSource::None);
        assert_eq!(contexts[2].token().unwrap(), None);
        assert_eq!(parse("", "empty.toml").unwrap(), Vec::new());
    }

    #[test]
    fn a_malformed_file_names_the_file_and_the_line() {
        let broken = "[[context]]\nname = \"prod\"\nserver = http://x\n";
        let err = parse(broken, "/home/me/contexts.toml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/home/me/contexts.toml, line 3:"),
            "{text}"
        );

        let typo = "[[context]]\nname = \"prod\"\nserver = \"http://x\"\ntokn = \"t\"\n";
        let text = parse(typo, "c.toml").unwrap_err().to_string();
        assert!(text.starts_with("c.toml, line 4:"), "{text}");
        assert!(text.contains("tokn"), "{text}");

        let missing = "[[context]]\nname = \"prod\"\n";
        let text = parse(missing, "c.toml").unwrap_err().to_string();
        assert!(text.contains("server"), "{text}");
    }

    #[test]
    fn names_are_unique_and_one_token_source_at_most() {
        let twice = "[[context]]\nname = \"a\"\nserver = \"http://x\"\n\n\
                     [[context]]\nname = \"a\"\nserver = \"http://y\"\n";
        let text = parse(twice, "c.toml").unwrap_err().to_string();
        assert_eq!(text, "c.toml, line 6: context 'a' is named twice");
        let both =
            "[[context]]\nname = \"a\"\nserver = \"http://x\"\ntoken = \"t\"\ntoken_env = \"T\"\n";
        let text = parse(both, "c.toml").unwrap_err().to_string();
        assert!(text.contains("not both"), "{text}");
    }

    #[test]
    fn an_unset_token_variable_is_named() {
        let context = Context {
            name: "prod".into(),
            server: "http://x".into(),
            token: TokenSource::Env("SLIPWAY_TEST_SURELY_UNSET_VARIABLE".into()),
        };
        let text = context.token().unwrap_err().to_string();
        assert!(
            text.contains("SLIPWAY_TEST_SURELY_UNSET_VARIABLE"),
            "{text}"
        );
    }

    #[test]
    fn the_file_is_found_where_the_environment_says() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            path_from(some("/tmp/c.toml"), some("/x"), some("/home/me")),
            Some(PathBuf::from("/tmp/c.toml"))
        );
        assert_eq!(
            path_from(None, some("/x"), some("/home/me")),
            Some(PathBuf::from("/x/slipway/contexts.toml"))
        );
        assert_eq!(
            path_from(None, some(""), some("/home/me")),
            Some(PathBuf::from("/home/me/.config/slipway/contexts.toml"))
        );
        assert_eq!(path_from(None, None, None), None);
    }
}
