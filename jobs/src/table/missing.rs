//! Which cells are missing values: an empty cell always, and the tokens an upload names —
//! by default the conventional `NA`, `N/A`, `NaN`, `null` and `?`. Tokens match the whole
//! trimmed cell, ignoring ASCII case (`na`, `NULL` and `nan` are missing too). The chosen set
//! is recorded in the dataset schema and in the model's preprocessing, so prediction reads a
//! cell as missing exactly when the upload did.

/// The tokens read as missing unless an upload names others.
pub const DEFAULT_TOKENS: [&str; 5] = ["NA", "N/A", "NaN", "null", "?"];

/// The token set an upload option names: comma-separated tokens (an empty option: only
/// empty cells are missing), or the default set when absent.
pub fn parse_tokens(option: Option<&str>) -> Vec<String> {
    match option {
        None => DEFAULT_TOKENS.map(str::to_owned).to_vec(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// Whether `cell` is missing under `tokens` (`None`: a schema from before tokens were
/// recorded, where only empty cells were missing).
pub fn is_missing(cell: &str, tokens: Option<&[String]>) -> bool {
    let cell = cell.trim();
    cell.is_empty()
        || tokens.is_some_and(|tokens| tokens.iter().any(|t| t.eq_ignore_ascii_case(cell)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tokens_in_any_case_and_empty_cells_are_missing() {
        let tokens = parse_tokens(None);
        for cell in [
            "", "  ", "NA", "na", "N/A", "n/a", "NaN", "nan", "null", "NULL", "?",
        ] {
            assert!(is_missing(cell, Some(&tokens)), "{cell:?}");
        }
        for cell in ["0", "Biscoe", "none", "-", "NAN1"] {
            assert!(!is_missing(cell, Some(&tokens)), "{cell:?}");
        }
    }

    #[test]
    fn an_upload_can_name_its_own_tokens_or_none() {
        let tokens = parse_tokens(Some(" -, missing ,"));
        assert_eq!(tokens, ["-", "missing"]);
        assert!(is_missing("-", Some(&tokens)));
        assert!(is_missing("MISSING", Some(&tokens)));
        assert!(!is_missing("NA", Some(&tokens)));
        let none = parse_tokens(Some(""));
        assert!(none.is_empty());
        assert!(is_missing("", Some(&none)));
        assert!(!is_missing("?", Some(&none)));
        // Schemas from before tokens were recorded: only empty cells.
        assert!(!is_missing("NA", None));
        assert!(is_missing("", None));
    }
}
