//! The small filter MLflow's clients send for experiments, registered models and model
//! versions: comparisons of one text field (a name, a run id) or a tag (`tags.team = 'x'`)
//! joined with AND, such as `name LIKE 'vision%' AND name != 'vision-old'`. Run filters are a real language and go to
//! Slipway's run-filter parser instead (see `runs`); these lists are small and filtered here.

use crate::error::{ServiceError, ServiceResult};

/// One comparison of a filter.
#[derive(Debug, PartialEq)]
pub struct Clause {
    /// The field, lowercased, without an `attribute.` prefix.
    pub field: String,
    op: String,
    value: String,
}

impl Clause {
    /// Whether this compares a tag (see [`Clause::admits_tags`]).
    pub fn is_tag(&self) -> bool {
        self.field.starts_with("tags.")
    }

    /// Whether an object without this field satisfies the comparison: only `!=` does.
    pub fn matches_missing(&self) -> bool {
        self.op == "!="
    }

    /// Whether an object whose `field` is `text` satisfies this comparison: a comparison of
    /// another field, or of a tag, admits it (each is checked by its own call).
    pub fn admits(&self, field: &str, text: &str) -> bool {
        if self.is_tag() {
            true
        } else if self.field == field {
            self.matches(text)
        } else {
            true
        }
    }

    /// Whether an object with `tags` satisfies this comparison: a tag comparison reads its
    /// tag (a tag it lacks satisfies only `!=`); a comparison of a field admits it.
    pub fn admits_tags(&self, tags: &[(String, String)]) -> bool {
        let Some(key) = self.field.strip_prefix("tags.") else {
            return true;
        };
        match tags.iter().find(|(k, _)| k == key) {
            Some((_, value)) => self.matches(value),
            None => self.matches_missing(),
        }
    }

    /// Whether `text` (the field's value) satisfies this comparison.
    pub fn matches(&self, text: &str) -> bool {
        match self.op.as_str() {
            "=" => text == self.value,
            "!=" => text != self.value,
            "LIKE" => like(text, &self.value),
            _ => like(&text.to_lowercase(), &self.value.to_lowercase()),
        }
    }
}

/// SQL's LIKE: `%` any run of characters, `_` any one.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // previous[j]: the text read so far matches pattern[..j].
    let mut previous = vec![false; pattern.len() + 1];
    previous[0] = true;
    for j in 1..=pattern.len() {
        previous[j] = previous[j - 1] && pattern[j - 1] == '%';
    }
    for c in text {
        let mut current = vec![false; pattern.len() + 1];
        for j in 1..=pattern.len() {
            current[j] = match pattern[j - 1] {
                '%' => current[j - 1] || previous[j],
                '_' => previous[j - 1],
                p => previous[j - 1] && p == c,
            };
        }
        previous = current;
    }
    previous[pattern.len()]
}

/// Parses a filter on the text fields `fields`; anything else is refused, saying what is
/// understood.
pub fn parse(filter: &str, fields: &[&str]) -> ServiceResult<Vec<Clause>> {
    let refuse = |what: &str| {
        ServiceError::invalid(format!(
            "filter: {what}; expected comparisons of {} with =, !=, LIKE or ILIKE and a quoted \
             value, joined with AND",
            fields.join(" or ")
        ))
    };
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '!'))
            .ok_or_else(|| refuse(&format!("cannot read '{rest}'")))?;
        let field = rest[..end].to_ascii_lowercase();
        let field = field
            .strip_prefix("attributes.")
            .or_else(|| field.strip_prefix("attribute."))
            .unwrap_or(&field)
            .to_owned();
        // Tags: these objects keep none here, so a tag comparison sees a missing tag (the
        // client itself adds `tag.`mlflow.prompt.is_prompt` != 'true'` to model searches).
        let field = match field
            .strip_prefix("tags.")
            .or_else(|| field.strip_prefix("tag."))
        {
            Some(key) => format!("tags.{}", key.trim_matches(|c| c == '`' || c == '"')),
            None => field,
        };
        if !fields.contains(&field.as_str()) && !field.starts_with("tags.") {
            return Err(refuse(&format!("unknown field '{field}'")));
        }
        let after = rest[end..].trim_start();
        let (op, after) = if let Some(after) = after.strip_prefix("!=") {
            ("!=".to_owned(), after)
        } else if let Some(after) = after.strip_prefix('=') {
            ("=".to_owned(), after)
        } else {
            let (word, after) = after
                .split_once(char::is_whitespace)
                .ok_or_else(|| refuse("expected an operator and a quoted value"))?;
            (word.to_ascii_uppercase(), after)
        };
        if !matches!(op.as_str(), "=" | "!=" | "LIKE" | "ILIKE") {
            return Err(refuse(&format!("unknown operator '{op}'")));
        }
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"'))
            .ok_or_else(|| refuse("expected a quoted value"))?;
        let body = &after[1..];
        let close = body
            .find(quote)
            .ok_or_else(|| refuse("a quoted value is not closed"))?;
        clauses.push(Clause {
            field,
            op,
            value: body[..close].to_owned(),
        });
        rest = body[close + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let and = rest
            .get(..3)
            .filter(|word| word.eq_ignore_ascii_case("and"))
            .and_then(|_| rest.get(3..));
        let Some(after) = and else {
            return Err(refuse(&format!("expected AND, found '{rest}'")));
        };
        rest = after.trim_start();
    }
    Ok(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filters() {
        let clauses = parse(
            "name LIKE 'vis%' and attribute.name != \"vision-old\"",
            &["name"],
        )
        .unwrap();
        assert_eq!(clauses.len(), 2);
        assert!(clauses.iter().all(|c| c.matches("vision")));
        assert!(!clauses.iter().all(|c| c.matches("vision-old")));
        assert!(parse("", &["name"]).unwrap().is_empty());
        assert!(parse("name ILIKE '%SION'", &["name"]).unwrap()[0].matches("vision"));
        let clauses = parse("name='m' AND run_id = '7'", &["name", "run_id"]).unwrap();
        assert_eq!(clauses[1].field, "run_id");
        assert!(clauses[1].matches("7"));
        let err = parse("params.team = 'x'", &["name"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field 'params.team'"), "{err}");
        let tag = parse("tag.`mlflow.prompt.is_prompt` != 'true'", &["name"]).unwrap();
        assert_eq!(tag[0].field, "tags.mlflow.prompt.is_prompt");
        assert!(tag[0].is_tag() && tag[0].matches_missing());
        assert!(tag[0].admits_tags(&[]));
        let team = parse("tags.team = 'vision' and name != 'x'", &["name"]).unwrap();
        let tags = |value: &str| vec![("team".to_owned(), value.to_owned())];
        assert!(team[0].admits_tags(&tags("vision")));
        assert!(!team[0].admits_tags(&tags("nlp")));
        assert!(!team[0].admits_tags(&[]));
        assert!(team[0].admits("name", "x") && team[1].admits_tags(&[]));
        assert!(parse("name = 'a' éé", &["name"]).is_err());
        assert!(!like("abc", "a_"));
        assert!(like("abc", "a_c"));
    }
}
