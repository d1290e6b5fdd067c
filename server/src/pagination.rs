//! Opaque page tokens. A token encodes where the next page starts: after an id (keyset
//! pagination, for lists in id order) or at an offset (for searches with arbitrary order).
//! Clients must treat them as opaque; a token that does not decode is a 400.

use crate::error::{ServiceError, ServiceResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use slipway_api::Page;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// Checks `limit`, applying the default.
pub fn limit(limit: Option<u32>) -> ServiceResult<u64> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ServiceError::invalid(
            "limit: expected a number from 1 to 1000, got 0",
        )),
        n if n > MAX_LIMIT => Err(ServiceError::invalid(format!(
            "limit: expected a number from 1 to {MAX_LIMIT}, got {n}"
        ))),
        n => Ok(u64::from(n)),
    }
}

fn encode(kind: char, value: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}{value}"))
}

fn decode(token: Option<&str>, kind: char) -> ServiceResult<Option<i64>> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        ServiceError::invalid("page_token: not a token returned by this list; start without one")
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = text.strip_prefix(kind).ok_or_else(invalid)?;
    let value = rest.parse::<i64>().map_err(|_| invalid())?;
    if value < 0 {
        return Err(invalid());
    }
    Ok(Some(value))
}

/// A page from rows fetched with `limit + 1` (one extra row tells whether more remain), the
/// next token pointing after the last row kept.
pub fn keyset_page<T>(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_page_token = more
        .then(|| rows.last().map(|last| after_id(id(last))))
        .flatten();
    Page {
        items: rows,
        next_page_token,
    }
}

/// The token for the page after the row with id `last_id`.
pub fn after_id(last_id: i64) -> String {
    encode('k', last_id)
}

/// The id after which the page of `token` starts.
pub fn decode_after_id(token: Option<&str>) -> ServiceResult<Option<i64>> {
    decode(token, 'k')
}

/// The token for the page starting at `offset`.
pub fn at_offset(offset: u64) -> String {
    encode('o', i64::try_from(offset).unwrap_or(i64::MAX))
}

/// The offset at which the page of `token` starts (0 without a token).
pub fn decode_offset(token: Option<&str>) -> ServiceResult<u64> {
    Ok(decode(token, 'o')?.map_or(0, |offset| offset.unsigned_abs()))
}

/// The token for the page before the one starting at `offset`, pages being `limit` rows:
/// `None` on the first page, and an empty token when the previous page is the first (which is
/// asked for without one).
pub fn before_offset(offset: u64, limit: u64) -> Option<String> {
    (offset > 0).then(|| match offset.saturating_sub(limit) {
        0 => String::new(),
        previous => at_offset(previous),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_typed() {
        assert_eq!(decode_after_id(Some(&after_id(42))).unwrap(), Some(42));
        assert_eq!(decode_offset(Some(&at_offset(300))).unwrap(), 300);
        assert!(decode_offset(Some(&after_id(42))).is_err());
        assert!(decode_offset(Some("not base64!")).is_err());
        assert_eq!(decode_offset(None).unwrap(), 0);
    }

    #[test]
    fn the_page_before_an_offset() {
        assert_eq!(before_offset(0, 50), None);
        assert_eq!(before_offset(50, 50).as_deref(), Some(""));
        assert_eq!(
            before_offset(30, 50).as_deref(),
            Some(""),
            "a hand-made offset"
        );
        let previous = before_offset(150, 50).unwrap();
        assert_eq!(decode_offset(Some(&previous)).unwrap(), 100);
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(limit(None).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(5000)).is_err());
    }
}
