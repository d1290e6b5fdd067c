//! A recursive-descent parser from tokens to the typed syntax tree. Each comparison is checked
//! against its field's type here, so the compiler only ever sees well-typed trees.

use super::FilterError;
use super::ast::{Attribute, Comparison, Field, Filter, Op, Operand, OrderKey};
use super::lexer::{Spanned, Token, tokenize};
use chrono::DateTime;

/// The longest filter accepted, in characters.
pub const MAX_FILTER_LENGTH: usize = 4096;
/// The deepest nesting of parentheses and `NOT` accepted.
const MAX_DEPTH: usize = 64;

/// Parses a filter; an empty or blank filter is `None` (every run matches).
pub fn parse_filter(input: &str) -> Result<Option<Filter>, FilterError> {
    if input.chars().count() > MAX_FILTER_LENGTH {
        return Err(FilterError::new(
            MAX_FILTER_LENGTH + 1,
            format!("the filter is longer than {MAX_FILTER_LENGTH} characters"),
        ));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let end = input.chars().count() + 1;
    let mut parser = Parser {
        tokens,
        index: 0,
        end,
        depth: 0,
    };
    let filter = parser.or()?;
    if let Some((token, position)) = parser.peek() {
        return Err(FilterError::new(
            *position,
            format!(
                "expected AND, OR or the end of the filter, found {}",
                token.describe()
            ),
        ));
    }
    Ok(Some(filter))
}

/// Parses one order-by key such as `metrics.acc DESC` or `start_time`.
pub fn parse_order(input: &str) -> Result<OrderKey, FilterError> {
    let tokens = tokenize(input)?;
    let end = input.chars().count() + 1;
    let mut parser = Parser {
        tokens,
        index: 0,
        end,
        depth: 0,
    };
    let field = parser.field()?;
    let descending = match parser.next() {
        None => false,
        Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("asc") => false,
        Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("desc") => true,
        Some((token, position)) => {
            return Err(FilterError::new(
                position,
                format!("expected ASC, DESC or the end, found {}", token.describe()),
            ));
        }
    };
    if let Some((token, position)) = parser.peek() {
        return Err(FilterError::new(
            *position,
            format!(
                "expected the end of the order-by key, found {}",
                token.describe()
            ),
        ));
    }
    Ok(OrderKey { field, descending })
}

struct Parser {
    tokens: Vec<Spanned>,
    index: usize,
    /// The position just past the input, for errors at its end.
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.index)
    }

    fn next(&mut self) -> Option<Spanned> {
        let token = self.tokens.get(self.index).cloned();
        self.index += 1;
        token
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |(_, position)| *position)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some((Token::Word(word), _)) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.index += 1;
        }
        found
    }

    fn expected(&self, what: &str) -> FilterError {
        match self.peek() {
            Some((token, position)) => FilterError::new(
                *position,
                format!("expected {what}, found {}", token.describe()),
            ),
            None => FilterError::new(self.end, format!("expected {what}, found the end")),
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                self.position(),
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.eat_keyword("and") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.eat_keyword("not") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if matches!(self.peek(), Some((Token::LParen, _))) {
            self.index += 1;
            self.enter()?;
            let inner = self.or()?;
            self.depth -= 1;
            return match self.next() {
                Some((Token::RParen, _)) => Ok(inner),
                _ => {
                    self.index -= 1;
                    Err(self.expected("')'"))
                }
            };
        }
        self.comparison().map(Filter::Compare)
    }

    fn field(&mut self) -> Result<Field, FilterError> {
        let (prefix, key, position) = match self.peek() {
            Some((Token::QuotedField { prefix, key }, position)) => {
                (Some(prefix.clone()), key.clone(), *position)
            }
            Some((Token::Word(word), position)) => match word.split_once('.') {
                Some((prefix, key)) => (Some(prefix.to_owned()), key.to_owned(), *position),
                None => (None, word.clone(), *position),
            },
            _ => {
                return Err(self.expected(
                    "a field: metrics.KEY, params.KEY, tags.KEY or an attribute such as status",
                ));
            }
        };
        self.index += 1;
        let unknown_attribute = |name: &str| {
            let known: Vec<&str> = Attribute::ALL.iter().map(|(name, _)| *name).collect();
            FilterError::new(
                position,
                format!(
                    "unknown field '{name}': expected metrics.KEY, params.KEY, tags.KEY or one of the attributes {}",
                    known.join(", ")
                ),
            )
        };
        let Some(prefix) = prefix else {
            return Attribute::from_name(&key)
                .map(Field::Attribute)
                .ok_or_else(|| unknown_attribute(&key));
        };
        if key.is_empty() {
            return Err(FilterError::new(
                position,
                format!("expected a key after '{prefix}.'"),
            ));
        }
        match prefix.to_ascii_lowercase().as_str() {
            "metrics" | "metric" => Ok(Field::Metric(key)),
            "params" | "param" => Ok(Field::Param(key)),
            "tags" | "tag" => Ok(Field::Tag(key)),
            "attributes" | "attribute" | "attr" | "run" => Attribute::from_name(&key)
                .map(Field::Attribute)
                .ok_or_else(|| unknown_attribute(&key)),
            other => Err(FilterError::new(
                position,
                format!("unknown prefix '{other}': expected metrics, params, tags or attributes"),
            )),
        }
    }

    fn operator(&mut self) -> Result<Op, FilterError> {
        let not = self.eat_keyword("not");
        let op = match self.peek() {
            Some((Token::Symbol(symbol), _)) if !not => match *symbol {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some((Token::Word(word), _)) => match word.to_ascii_lowercase().as_str() {
                "like" => {
                    if not {
                        Op::NotLike
                    } else {
                        Op::Like
                    }
                }
                "ilike" => {
                    if not {
                        Op::NotILike
                    } else {
                        Op::ILike
                    }
                }
                "in" => {
                    if not {
                        Op::NotIn
                    } else {
                        Op::In
                    }
                }
                "is" if !not => {
                    self.index += 1;
                    let negated = self.eat_keyword("not");
                    if !self.eat_keyword("null") {
                        return Err(self.expected("NULL after IS"));
                    }
                    return Ok(if negated { Op::IsNotNull } else { Op::IsNull });
                }
                _ => return Err(self.expected_operator(not)),
            },
            _ => return Err(self.expected_operator(not)),
        };
        self.index += 1;
        Ok(op)
    }

    fn expected_operator(&self, after_not: bool) -> FilterError {
        if after_not {
            self.expected("LIKE, ILIKE or IN after NOT")
        } else {
            self.expected("an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")
        }
    }

    /// A literal value: a number or a quoted string, with its position.
    fn literal(&mut self) -> Result<(Token, usize), FilterError> {
        match self.peek() {
            Some((token @ (Token::Number(_) | Token::Text(_)), position)) => {
                let literal = (token.clone(), *position);
                self.index += 1;
                Ok(literal)
            }
            _ => Err(self.expected("a value (a number or a quoted string)")),
        }
    }

    fn comparison(&mut self) -> Result<Comparison, FilterError> {
        let field = self.field()?;
        let op = self.operator()?;
        let value = match op {
            Op::IsNull | Op::IsNotNull => Vec::new(),
            Op::In | Op::NotIn => self.list()?,
            _ => vec![self.literal()?],
        };
        let value = typed_operand(&field, op, value)?;
        Ok(Comparison { field, op, value })
    }

    fn list(&mut self) -> Result<Vec<(Token, usize)>, FilterError> {
        if !matches!(self.next(), Some((Token::LParen, _))) {
            self.index -= 1;
            return Err(self.expected("'(' to start the IN list"));
        }
        let mut values = vec![self.literal()?];
        loop {
            match self.next() {
                Some((Token::Comma, _)) => values.push(self.literal()?),
                Some((Token::RParen, _)) => return Ok(values),
                _ => {
                    self.index -= 1;
                    return Err(self.expected("',' or ')' in the IN list"));
                }
            }
        }
    }
}

/// The kind of values a field holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Integer,
    Text,
    Time,
    /// An experiment: a name (text) or an id (integer).
    Experiment,
}

fn kind_of(field: &Field) -> Kind {
    match field {
        Field::Metric(_) => Kind::Number,
        Field::Param(_) | Field::Tag(_) => Kind::Text,
        Field::Attribute(attribute) => match attribute {
            Attribute::Id => Kind::Integer,
            Attribute::Name | Attribute::Status | Attribute::CreatedBy => Kind::Text,
            Attribute::StartTime | Attribute::EndTime => Kind::Time,
            Attribute::Experiment => Kind::Experiment,
        },
    }
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Metric(key) => format!("metrics.{key}"),
        Field::Param(key) => format!("params.{key}"),
        Field::Tag(key) => format!("tags.{key}"),
        Field::Attribute(attribute) => Attribute::ALL
            .iter()
            .find(|(_, known)| known == attribute)
            .map_or("attribute", |(name, _)| name)
            .to_owned(),
    }
}

/// Converts the literal values of a comparison to its field's type, or explains the mismatch.
fn typed_operand(
    field: &Field,
    op: Op,
    values: Vec<(Token, usize)>,
) -> Result<Operand, FilterError> {
    let kind = kind_of(field);
    let name = field_name(field);
    let like = matches!(op, Op::Like | Op::NotLike | Op::ILike | Op::NotILike);
    let nullable = matches!(
        field,
        Field::Metric(_) | Field::Param(_) | Field::Tag(_) | Field::Attribute(Attribute::EndTime)
    );
    let first_position = values.first().map_or(0, |(_, position)| *position);
    if like && !matches!(kind, Kind::Text | Kind::Experiment) {
        return Err(FilterError::new(
            first_position,
            format!("{name} is not text: LIKE and ILIKE compare text fields only"),
        ));
    }
    if matches!(op, Op::IsNull | Op::IsNotNull) {
        if !nullable {
            return Err(FilterError::new(
                first_position.max(1),
                format!(
                    "{name} is always set: IS NULL applies to metrics, params, tags and end_time"
                ),
            ));
        }
        return Ok(Operand::None);
    }
    let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    if ordered && kind == Kind::Experiment {
        return Err(FilterError::new(
            first_position,
            format!("{name} compares with =, !=, LIKE or IN only"),
        ));
    }
    let list = matches!(op, Op::In | Op::NotIn);
    let mut numbers = Vec::new();
    let mut integers = Vec::new();
    let mut texts = Vec::new();
    for (token, position) in values {
        match (kind, token) {
            (Kind::Number, Token::Number(n)) => numbers.push(n),
            (Kind::Integer, Token::Number(n)) if n.fract() == 0.0 => integers.push(n as i64),
            // MLflow's clients quote run ids, which are strings there.
            (Kind::Integer, Token::Text(text)) if text.parse::<i64>().is_ok() => {
                integers.push(text.parse::<i64>().unwrap_or_default())
            }
            (Kind::Time, Token::Number(n)) if n.fract() == 0.0 => integers.push(n as i64),
            (Kind::Time, Token::Text(text)) => {
                let time = DateTime::parse_from_rfc3339(&text).map_err(|_| {
                    FilterError::new(
                        position,
                        format!("{name}: expected milliseconds since the epoch or an RFC 3339 time such as '2026-01-31T12:00:00Z', got '{text}'"),
                    )
                })?;
                integers.push(time.timestamp_millis());
            }
            (Kind::Experiment, Token::Number(n)) if n.fract() == 0.0 && !like => {
                integers.push(n as i64)
            }
            (Kind::Experiment, Token::Text(text)) => texts.push(text),
            (Kind::Text, Token::Text(text)) => {
                if field == &Field::Attribute(Attribute::Status) && !like {
                    let status = text.parse::<slipway_api::RunStatus>().map_err(|message| {
                        FilterError::new(position, format!("status: {message}"))
                    })?;
                    texts.push(status.as_str().to_owned());
                } else {
                    texts.push(text);
                }
            }
            (Kind::Text, Token::Number(n)) => {
                return Err(FilterError::new(
                    position,
                    format!("{name} is text: quote the value, e.g. {name} = '{n}'"),
                ));
            }
            (Kind::Number, Token::Text(text)) => {
                return Err(FilterError::new(
                    position,
                    format!("{name} is a number: expected a number, got the string '{text}'"),
                ));
            }
            (_, token) => {
                return Err(FilterError::new(
                    position,
                    format!(
                        "{name}: expected {}, got {}",
                        expected_of(kind),
                        token.describe()
                    ),
                ));
            }
        }
    }
    if kind == Kind::Experiment && !integers.is_empty() && !texts.is_empty() {
        return Err(FilterError::new(
            first_position,
            "experiment: give either ids or names in one list, not both",
        ));
    }
    Ok(match (list, numbers.is_empty(), integers.is_empty()) {
        (false, false, _) => Operand::Number(numbers[0]),
        (false, true, false) => Operand::Integer(integers[0]),
        (false, true, true) => Operand::Text(texts.swap_remove(0)),
        (true, false, _) => Operand::Numbers(numbers),
        (true, true, false) => Operand::Integers(integers),
        (true, true, true) => Operand::Texts(texts),
    })
}

fn expected_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Number => "a number",
        Kind::Integer => "a whole number",
        Kind::Text => "a quoted string",
        Kind::Time => "milliseconds since the epoch or an RFC 3339 time",
        Kind::Experiment => "an experiment name (quoted) or id",
    }
}
