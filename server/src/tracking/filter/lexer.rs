//! Splits filter text into tokens, each with its 1-based character position.

use super::FilterError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A bare word: a keyword, an attribute, or `prefix.key`.
    Word(String),
    /// A field whose key was quoted: `metrics.` followed by a backtick or double-quoted key.
    QuotedField {
        prefix: String,
        key: String,
    },
    /// A single- or double-quoted string value.
    Text(String),
    Number(f64),
    /// `= != <> < <= > >=`
    Symbol(&'static str),
    LParen,
    RParen,
    Comma,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("'{word}'"),
            Token::QuotedField { prefix, key } => format!("'{prefix}.`{key}`'"),
            Token::Text(text) => format!("the string '{text}'"),
            Token::Number(number) => format!("the number {number}"),
            Token::Symbol(symbol) => format!("'{symbol}'"),
            Token::LParen => "'('".to_owned(),
            Token::RParen => "')'".to_owned(),
            Token::Comma => "','".to_owned(),
        }
    }
}

/// A token and its 1-based character position.
pub type Spanned = (Token, usize);

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// Reads a quoted run of characters starting after the opening `quote`; a doubled quote
/// stands for itself. Returns the text and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Result<(String, usize), FilterError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                text.push(quote);
                i += 2;
                continue;
            }
            return Ok((text, i + 1));
        }
        text.push(chars[i]);
        i += 1;
    }
    Err(FilterError::new(
        start + 1,
        format!("unterminated quote: expected a closing {quote}"),
    ))
}

pub fn tokenize(input: &str) -> Result<Vec<Spanned>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (token, end) = match c {
            '(' => (Token::LParen, i + 1),
            ')' => (Token::RParen, i + 1),
            ',' => (Token::Comma, i + 1),
            '=' if next == Some('=') => (Token::Symbol("="), i + 2),
            '=' => (Token::Symbol("="), i + 1),
            '!' if next == Some('=') => (Token::Symbol("!="), i + 2),
            '<' if next == Some('=') => (Token::Symbol("<="), i + 2),
            '<' if next == Some('>') => (Token::Symbol("!="), i + 2),
            '<' => (Token::Symbol("<"), i + 1),
            '>' if next == Some('=') => (Token::Symbol(">="), i + 2),
            '>' => (Token::Symbol(">"), i + 1),
            '\'' | '"' => {
                let (text, end) = quoted(&chars, i, c)?;
                (Token::Text(text), end)
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && next.is_some_and(|n| n.is_ascii_digit() || n == '.')) =>
            {
                let mut end = i + 1;
                while end < chars.len() {
                    let d = chars[end];
                    let exponent_sign =
                        (d == '-' || d == '+') && matches!(chars[end - 1], 'e' | 'E');
                    if d.is_ascii_alphanumeric() || d == '.' || exponent_sign {
                        end += 1;
                    } else {
                        break;
                    }
                }
                let text: String = chars[i..end].iter().collect();
                let number = text.parse::<f64>().ok().filter(|n| n.is_finite());
                let number = number.ok_or_else(|| {
                    FilterError::new(position, format!("'{text}' is not a valid number"))
                })?;
                (Token::Number(number), end)
            }
            c if is_word_start(c) => {
                let mut end = i + 1;
                while end < chars.len() && is_word_char(chars[end]) {
                    end += 1;
                }
                let word: String = chars[i..end].iter().collect();
                match (word.strip_suffix('.'), chars.get(end)) {
                    (Some(prefix), Some(&quote)) if quote == '`' || quote == '"' => {
                        let (key, after) = quoted(&chars, end, quote)?;
                        let prefix = prefix.to_owned();
                        (Token::QuotedField { prefix, key }, after)
                    }
                    _ => (Token::Word(word), end),
                }
            }
            '`' => {
                return Err(FilterError::new(
                    position,
                    "a backtick-quoted key must follow a prefix, e.g. metrics.`val loss`",
                ));
            }
            other => {
                return Err(FilterError::new(
                    position,
                    format!("unexpected character '{other}'"),
                ));
            }
        };
        tokens.push((token, position));
        i = end;
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_numbers_strings_and_symbols() {
        let tokens: Vec<Token> = tokenize("metrics.acc>=0.9 AND params.lr != 'a''b'")
            .unwrap()
            .into_iter()
            .map(|(token, _)| token)
            .collect();
        assert_eq!(
            tokens,
            vec![
                Token::Word("metrics.acc".into()),
                Token::Symbol(">="),
                Token::Number(0.9),
                Token::Word("AND".into()),
                Token::Word("params.lr".into()),
                Token::Symbol("!="),
                Token::Text("a'b".into()),
            ]
        );
    }

    #[test]
    fn reads_quoted_keys_negative_numbers_and_exponents() {
        let tokens = tokenize("metrics.`val loss` < -1.5e-3").unwrap();
        assert_eq!(
            tokens[0].0,
            Token::QuotedField {
                prefix: "metrics".into(),
                key: "val loss".into()
            }
        );
        assert_eq!(tokens[2], (Token::Number(-1.5e-3), 22));
    }

    #[test]
    fn reports_the_position_of_an_unterminated_string() {
        let err = tokenize("name = 'abc").unwrap_err();
        assert_eq!(err.position, 8);
        assert!(err.message.contains("unterminated"));
    }

    #[test]
    fn rejects_bad_numbers_and_characters() {
        assert_eq!(tokenize("metrics.a > 1.2.3").unwrap_err().position, 13);
        assert_eq!(tokenize("metrics.a ; 1").unwrap_err().position, 11);
    }
}
