//! The STIX 2.1 patterning language: a lexer and parser for the grammar of STIX 2.1 Part 9 (the
//! OASIS `STIXPattern.g4` grammar that the reference validator, `stix2-patterns`, is generated
//! from), plus the reference validator's checks on hash values.
//!
//! Every inbound indicator with `pattern_type: "stix"` is parsed here ([`crate::validate`]), so a
//! peer cannot make Focal store and relay a pattern no consumer can read (`[ipv4-addr:value = ]`).
//!
//! Hand-written rather than taken from a crate. crates.io has three STIX crates, none fit:
//! `stix2` 0.1 (one release, part of a TAXII server project, pulls reqwest 0.12, chrono and a
//! whole object model; its nom parser takes keywords in any case, which the grammar does not),
//! `stix-rs` 0.1 (one release; checks patterns by splitting on keywords, not by the grammar) and
//! `stixflayer` 0.1 (pyo3 by default, jiff 0.1). The grammar is small and fixed, and the tests
//! hold this parser to the reference validator: `tests/pattern_oracle.rs` runs a corpus of valid
//! and invalid patterns (the spec's examples among them) and generated ones through both.
//!
//! What the module owns: tokens exactly as the ANTLR lexer makes them (longest match, ties to
//! the earlier rule, so `5SECONDS` is two tokens and `true` is a boolean), the parse into
//! [`Pattern`], the rule that one observation expression takes each qualifier kind once, and the
//! hash-value check (`file:hashes.MD5 = 'xyz'` is refused). It must never panic or recurse
//! without bound on any input: nesting is limited to [`MAX_NESTING`].

use std::fmt;

/// Deepest nesting of parentheses and brackets accepted (the parser recurses once per level).
pub const MAX_NESTING: usize = 64;

/// A parsed STIX pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub expression: Observation,
}

/// An observation expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// `[ comparison ]`
    Comparison(Comparison),
    /// `( observations )`
    Group(Box<Observation>),
    /// An observation with a qualifier after it.
    Qualified(Box<Observation>, Qualifier),
    /// Two or more operands of one operator (FOLLOWEDBY binds loosest, then OR, then AND).
    FollowedBy(Vec<Observation>),
    Or(Vec<Observation>),
    And(Vec<Observation>),
}

/// A qualifier of an observation expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS` (the number as written).
    Within(String),
    /// `REPEATS n TIMES`.
    Repeats(String),
    /// `START t'..' STOP t'..'` (the timestamps without `t'` and `'`).
    StartStop(String, String),
}

impl Qualifier {
    fn kind(&self) -> &'static str {
        match self {
            Qualifier::Within(_) => "WITHIN",
            Qualifier::Repeats(_) => "REPEATS",
            Qualifier::StartStop(..) => "START/STOP",
        }
    }
}

/// A comparison expression (inside `[ ]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Test(Test),
    Group(Box<Comparison>),
    Or(Vec<Comparison>),
    And(Vec<Comparison>),
}

/// One property test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// `path [NOT] op value`
    Compare {
        path: ObjectPath,
        negated: bool,
        operator: Operator,
        value: Literal,
    },
    /// `EXISTS path`
    Exists(ObjectPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Lt,
    Ge,
    Le,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Neq => "!=",
            Operator::Gt => ">",
            Operator::Lt => "<",
            Operator::Ge => ">=",
            Operator::Le => "<=",
            Operator::In => "IN",
            Operator::Like => "LIKE",
            Operator::Matches => "MATCHES",
            Operator::IsSubset => "ISSUBSET",
            Operator::IsSuperset => "ISSUPERSET",
        }
    }
}

/// A constant. Numbers and encoded values are kept as written (integers may exceed 64 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Int(String),
    Float(String),
    /// The text between the quotes, escapes (`\'`, `\\`) as written; see [`Literal::string_value`].
    Str(String),
    Bool(bool),
    /// Base64 between `b'` and `'`.
    Binary(String),
    /// Hex digits between `h'` and `'`.
    Hex(String),
    /// RFC 3339 between `t'` and `'`.
    Timestamp(String),
    /// `( a, b, ... )`, for IN.
    Set(Vec<Literal>),
}

impl Literal {
    /// The string a string literal stands for (escapes resolved).
    pub fn string_value(&self) -> Option<String> {
        match self {
            Literal::Str(raw) => Some(unescape(raw)),
            _ => None,
        }
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `type:property.key[index]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub object_type: String,
    /// The first step is always a [`PathStep::Key`].
    pub steps: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A property or dictionary key; `quoted` if it was written as a string literal.
    Key { name: String, quoted: bool },
    /// A list index as written (`0`, `+1`, `-1`).
    Index(String),
    /// `[*]`
    AnyIndex,
}

/// Why a pattern was refused, and where (0-based character offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {offset}: {message}")]
pub struct PatternError {
    pub offset: usize,
    pub message: String,
}

fn error<T>(offset: usize, message: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError {
        offset,
        message: message.into(),
    })
}

/// Parses and checks a STIX 2.1 pattern.
pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    starts_with_bracket(&chars)?;
    let tokens = lex(&chars);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        depth: 0,
        end: chars.len(),
    };
    let expression = parser.observations()?;
    if let Some(t) = parser.peek() {
        return error(
            t.start,
            format!(
                "unexpected {} after the end of the pattern",
                describe(Some(t))
            ),
        );
    }
    let parsed = Pattern { expression };
    check_hashes(&parsed)?;
    Ok(parsed)
}

/// The reference validator first checks that the pattern opens with `[` (after any `(` and
/// white space); so does Focal, so both refuse a pattern that opens with a comment.
fn starts_with_bracket(chars: &[char]) -> Result<(), PatternError> {
    match chars
        .iter()
        .enumerate()
        .find(|(_, c)| **c != '(' && !is_space(**c))
    {
        Some((_, '[')) => Ok(()),
        Some((i, _)) => error(i, "a pattern starts with '[' (after any '(')"),
        None => error(chars.len(), "the pattern is empty"),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    IntNeg,
    IntPos,
    FloatNeg,
    FloatPos,
    Hex,
    Binary,
    Str,
    Bool,
    Timestamp,
    Keyword(&'static str),
    IdentNoHyphen,
    IdentHyphen,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Punct(char),
    Space,
    Invalid,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    start: usize,
}

/// The grammar's keywords, in its rule order (`TRUE` and `FALSE` never win: the boolean literal
/// rule comes first).
const KEYWORDS: [&str; 19] = [
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "LIKE",
    "MATCHES",
    "ISSUPERSET",
    "ISSUBSET",
    "EXISTS",
    "LAST",
    "IN",
    "START",
    "STOP",
    "SECONDS",
    "true",
    "false",
    "WITHIN",
    "REPEATS",
    "TIMES",
];

/// The grammar's white space (`WS`), which the lexer skips.
fn is_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn digits(s: &[char], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// `'0' | [1-9][0-9]*` from `i`: the end, if it matches.
fn natural(s: &[char], i: usize) -> Option<usize> {
    match s.get(i) {
        Some('0') => Some(i + 1),
        Some(c) if c.is_ascii_digit() => Some(digits(s, i)),
        _ => None,
    }
}

/// `[0-9]* '.' [0-9]+` from `i`.
fn decimal(s: &[char], i: usize) -> Option<usize> {
    let dot = digits(s, i);
    if s.get(dot) != Some(&'.') {
        return None;
    }
    let end = digits(s, dot + 1);
    (end > dot + 1).then_some(end)
}

fn quoted_after(s: &[char], i: usize, prefix: char) -> Option<usize> {
    (s.get(i) == Some(&prefix) && s.get(i + 1) == Some(&'\'')).then_some(i + 2)
}

fn hex_literal(s: &[char], i: usize) -> Option<usize> {
    let mut j = quoted_after(s, i, 'h')?;
    while j + 1 < s.len() && s[j].is_ascii_hexdigit() && s[j + 1].is_ascii_hexdigit() {
        j += 2;
    }
    (s.get(j) == Some(&'\'')).then_some(j + 1)
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

fn binary_literal(s: &[char], i: usize) -> Option<usize> {
    let start = quoted_after(s, i, 'b')?;
    let close = (start..s.len()).find(|&j| s[j] == '\'')?;
    let body = &s[start..close];
    if body.is_empty() || !body.len().is_multiple_of(4) {
        return None;
    }
    let padding = body.iter().rev().take_while(|c| **c == '=').count();
    let ok = padding <= 2 && body[..body.len() - padding].iter().all(|c| is_base64(*c));
    ok.then_some(close + 1)
}

fn string_literal(s: &[char], i: usize) -> Option<usize> {
    if s.get(i) != Some(&'\'') {
        return None;
    }
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            '\'' => return Some(j + 1),
            '\\' => match s.get(j + 1) {
                Some('\'') | Some('\\') => j += 2,
                _ => return None,
            },
            _ => j += 1,
        }
    }
    None
}

fn two_digits(s: &[char], i: usize, ok: impl Fn(char, char) -> bool) -> bool {
    match (s.get(i), s.get(i + 1)) {
        (Some(a), Some(b)) => a.is_ascii_digit() && b.is_ascii_digit() && ok(*a, *b),
        _ => false,
    }
}

/// `t'YYYY-MM-DDThh:mm:ss[.f+]Z'` with the grammar's ranges (month 01-12, day 01-31, hour
/// 00-23, minute 00-59, second 00-60).
fn timestamp_literal(s: &[char], i: usize) -> Option<usize> {
    let b = quoted_after(s, i, 't')?;
    let year = (0..4).all(|k| s.get(b + k).is_some_and(char::is_ascii_digit));
    let fixed = year
        && s.get(b + 4) == Some(&'-')
        && two_digits(s, b + 5, |a, c| {
            (a == '0' && c != '0') || (a == '1' && c <= '2')
        })
        && s.get(b + 7) == Some(&'-')
        && two_digits(s, b + 8, |a, c| {
            (a == '0' && c != '0') || a == '1' || a == '2' || (a == '3' && c <= '1')
        })
        && s.get(b + 10) == Some(&'T')
        && two_digits(s, b + 11, |a, c| a <= '1' || (a == '2' && c <= '3'))
        && s.get(b + 13) == Some(&':')
        && two_digits(s, b + 14, |a, _| a <= '5')
        && s.get(b + 16) == Some(&':')
        && two_digits(s, b + 17, |a, c| a <= '5' || (a == '6' && c == '0'));
    if !fixed {
        return None;
    }
    let mut j = b + 19;
    if s.get(j) == Some(&'.') {
        let end = digits(s, j + 1);
        if end == j + 1 {
            return None;
        }
        j = end;
    }
    (s.get(j) == Some(&'Z') && s.get(j + 1) == Some(&'\'')).then_some(j + 2)
}

fn identifier(s: &[char], i: usize, hyphen: bool) -> Option<usize> {
    let first = s.get(i)?;
    if !(first.is_ascii_alphabetic() || *first == '_') {
        return None;
    }
    let mut j = i + 1;
    while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == '_' || (hyphen && s[j] == '-')) {
        j += 1;
    }
    Some(j)
}

fn literal_word(s: &[char], i: usize, word: &str) -> Option<usize> {
    let mut j = i;
    for w in word.chars() {
        if s.get(j) != Some(&w) {
            return None;
        }
        j += 1;
    }
    Some(j)
}

fn comment(s: &[char], i: usize) -> Option<usize> {
    if s.get(i) != Some(&'/') {
        return None;
    }
    match s.get(i + 1) {
        Some('*') => (i + 2..s.len().saturating_sub(1))
            .find(|&j| s[j] == '*' && s[j + 1] == '/')
            .map(|j| j + 2),
        Some('/') => Some(
            (i + 2..s.len())
                .find(|&j| s[j] == '\r' || s[j] == '\n')
                .unwrap_or(s.len()),
        ),
        _ => None,
    }
}

/// One token at `i`, as ANTLR's lexer picks it: the longest match over all rules, ties to the
/// rule defined first.
fn next_token(s: &[char], i: usize) -> (Kind, usize) {
    let mut best: (Kind, usize) = (Kind::Invalid, i + 1);
    let mut consider = |kind: Kind, end: Option<usize>| {
        if let Some(end) = end
            && end > i
            && (end > best.1 || best.0 == Kind::Invalid && end >= best.1)
        {
            best = (kind, end);
        }
    };
    let sign = |c: char| if s.get(i) == Some(&c) { i + 1 } else { i };
    if s.get(i) == Some(&'-') {
        consider(Kind::IntNeg, natural(s, i + 1));
    }
    consider(Kind::IntPos, natural(s, sign('+')));
    if s.get(i) == Some(&'-') {
        consider(Kind::FloatNeg, decimal(s, i + 1));
    }
    consider(Kind::FloatPos, decimal(s, sign('+')));
    consider(Kind::Hex, hex_literal(s, i));
    consider(Kind::Binary, binary_literal(s, i));
    consider(Kind::Str, string_literal(s, i));
    consider(
        Kind::Bool,
        literal_word(s, i, "true").or_else(|| literal_word(s, i, "false")),
    );
    consider(Kind::Timestamp, timestamp_literal(s, i));
    for k in KEYWORDS {
        consider(Kind::Keyword(k), literal_word(s, i, k));
    }
    consider(Kind::IdentNoHyphen, identifier(s, i, false));
    consider(Kind::IdentHyphen, identifier(s, i, true));
    let two =
        |a: char, b: char| (s.get(i) == Some(&a) && s.get(i + 1) == Some(&b)).then_some(i + 2);
    let one = |a: char| (s.get(i) == Some(&a)).then_some(i + 1);
    consider(Kind::Eq, two('=', '=').or(one('=')));
    consider(Kind::Neq, two('!', '=').or(two('<', '>')));
    consider(Kind::Lt, one('<'));
    consider(Kind::Le, two('<', '='));
    consider(Kind::Gt, one('>'));
    consider(Kind::Ge, two('>', '='));
    for p in [
        '\'', ':', '.', ',', ')', '(', ']', '[', '+', '-', '^', '/', '*',
    ] {
        consider(Kind::Punct(p), one(p));
    }
    let mut space = i;
    while space < s.len() && is_space(s[space]) {
        space += 1;
    }
    consider(Kind::Space, Some(space));
    consider(Kind::Space, comment(s, i));
    best
}

fn lex(s: &[char]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let (kind, end) = next_token(s, i);
        if kind != Kind::Space {
            tokens.push(Token {
                kind,
                text: s[i..end].iter().collect(),
                start: i,
            });
        }
        i = end;
    }
    tokens
}

fn describe(t: Option<&Token>) -> String {
    match t {
        None => "the end of the pattern".into(),
        Some(t) if t.kind == Kind::Invalid => format!("the character {:?}", t.text),
        Some(t) => format!("{:?}", t.text),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent over the grammar's rules, one function per rule.

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn is(&self, kind: Kind) -> bool {
        self.peek().is_some_and(|t| t.kind == kind)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.end, |t| t.start)
    }

    fn take(&mut self, kind: Kind) -> Option<String> {
        if self.is(kind) {
            self.at += 1;
            Some(self.tokens[self.at - 1].text.clone())
        } else {
            None
        }
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<String, PatternError> {
        match self.take(kind) {
            Some(t) => Ok(t),
            None => error(
                self.offset(),
                format!("expected {what}, found {}", describe(self.peek())),
            ),
        }
    }

    fn deeper(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return error(
                self.offset(),
                format!("nested deeper than {MAX_NESTING} levels"),
            );
        }
        Ok(())
    }

    /// observationExpressions: FOLLOWEDBY over OR over AND.
    fn observations(&mut self) -> Result<Observation, PatternError> {
        let mut items = vec![self.observation_or()?];
        while self.take(Kind::Keyword("FOLLOWEDBY")).is_some() {
            items.push(self.observation_or()?);
        }
        Ok(flatten(items, Observation::FollowedBy))
    }

    fn observation_or(&mut self) -> Result<Observation, PatternError> {
        let mut items = vec![self.observation_and()?];
        while self.take(Kind::Keyword("OR")).is_some() {
            items.push(self.observation_and()?);
        }
        Ok(flatten(items, Observation::Or))
    }

    fn observation_and(&mut self) -> Result<Observation, PatternError> {
        let mut items = vec![self.observation()?];
        while self.take(Kind::Keyword("AND")).is_some() {
            items.push(self.observation()?);
        }
        Ok(flatten(items, Observation::And))
    }

    /// observationExpression: `[ comparison ]` or `( observations )`, then qualifiers.
    fn observation(&mut self) -> Result<Observation, PatternError> {
        self.deeper()?;
        let simple = self.is(Kind::Punct('['));
        let mut expr = if self.take(Kind::Punct('[')).is_some() {
            let c = self.comparison()?;
            self.expect(Kind::Punct(']'), "']' closing the observation")?;
            Observation::Comparison(c)
        } else if self.take(Kind::Punct('(')).is_some() {
            let o = self.observations()?;
            self.expect(Kind::Punct(')'), "')'")?;
            Observation::Group(Box::new(o))
        } else {
            return error(
                self.offset(),
                format!(
                    "expected an observation expression ('[' or '('), found {}",
                    describe(self.peek())
                ),
            );
        };
        self.depth -= 1;
        // The reference validator refuses a qualifier kind given twice to one `[...]` (not to a
        // parenthesised group); so does Focal.
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(q) = self.qualifier()? {
            if simple {
                if seen.contains(&q.kind()) {
                    return error(
                        self.offset(),
                        format!("the qualifier {} is given twice", q.kind()),
                    );
                }
                seen.push(q.kind());
            }
            expr = Observation::Qualified(Box::new(expr), q);
        }
        Ok(expr)
    }

    fn qualifier(&mut self) -> Result<Option<Qualifier>, PatternError> {
        if self.take(Kind::Keyword("WITHIN")).is_some() {
            let n = match self.take(Kind::IntPos) {
                Some(n) => n,
                None => self.expect(Kind::FloatPos, "a positive number of seconds")?,
            };
            self.expect(Kind::Keyword("SECONDS"), "SECONDS")?;
            return Ok(Some(Qualifier::Within(n)));
        }
        if self.take(Kind::Keyword("REPEATS")).is_some() {
            let n = self.expect(Kind::IntPos, "a positive integer")?;
            self.expect(Kind::Keyword("TIMES"), "TIMES")?;
            return Ok(Some(Qualifier::Repeats(n)));
        }
        if self.take(Kind::Keyword("START")).is_some() {
            let start = self.expect(Kind::Timestamp, "a timestamp t'...'")?;
            self.expect(Kind::Keyword("STOP"), "STOP")?;
            let stop = self.expect(Kind::Timestamp, "a timestamp t'...'")?;
            return Ok(Some(Qualifier::StartStop(
                inner(&start, 2),
                inner(&stop, 2),
            )));
        }
        Ok(None)
    }

    fn comparison(&mut self) -> Result<Comparison, PatternError> {
        let mut items = vec![self.comparison_and()?];
        while self.take(Kind::Keyword("OR")).is_some() {
            items.push(self.comparison_and()?);
        }
        Ok(flatten(items, Comparison::Or))
    }

    fn comparison_and(&mut self) -> Result<Comparison, PatternError> {
        let mut items = vec![self.test()?];
        while self.take(Kind::Keyword("AND")).is_some() {
            items.push(self.test()?);
        }
        Ok(flatten(items, Comparison::And))
    }

    /// propTest
    fn test(&mut self) -> Result<Comparison, PatternError> {
        if self.take(Kind::Punct('(')).is_some() {
            self.deeper()?;
            let c = self.comparison()?;
            self.expect(Kind::Punct(')'), "')'")?;
            self.depth -= 1;
            return Ok(Comparison::Group(Box::new(c)));
        }
        if self.take(Kind::Keyword("EXISTS")).is_some() {
            return Ok(Comparison::Test(Test::Exists(self.object_path()?)));
        }
        let path = self.object_path()?;
        let negated = self.take(Kind::Keyword("NOT")).is_some();
        let at = self.offset();
        let Some(t) = self.peek().cloned() else {
            return error(
                at,
                "expected a comparison operator, found the end of the pattern",
            );
        };
        self.at += 1;
        let operator = match t.kind {
            Kind::Eq => Operator::Eq,
            Kind::Neq => Operator::Neq,
            Kind::Gt => Operator::Gt,
            Kind::Lt => Operator::Lt,
            Kind::Ge => Operator::Ge,
            Kind::Le => Operator::Le,
            Kind::Keyword("IN") => Operator::In,
            Kind::Keyword("LIKE") => Operator::Like,
            Kind::Keyword("MATCHES") => Operator::Matches,
            Kind::Keyword("ISSUBSET") => Operator::IsSubset,
            Kind::Keyword("ISSUPERSET") => Operator::IsSuperset,
            _ => {
                return error(
                    at,
                    format!(
                        "expected a comparison operator, found {}",
                        describe(Some(&t))
                    ),
                );
            }
        };
        let value = match operator {
            Operator::Eq | Operator::Neq => self.literal(true)?,
            Operator::Gt | Operator::Lt | Operator::Ge | Operator::Le => self.literal(false)?,
            Operator::In => self.set()?,
            _ => {
                let s = self.expect(Kind::Str, &format!("a string after {}", operator.as_str()))?;
                Literal::Str(inner(&s, 1))
            }
        };
        Ok(Comparison::Test(Test::Compare {
            path,
            negated,
            operator,
            value,
        }))
    }

    /// primitiveLiteral (`with_bool`) or orderableLiteral.
    fn literal(&mut self, with_bool: bool) -> Result<Literal, PatternError> {
        let at = self.offset();
        let t = self.peek().cloned();
        let value = match t.as_ref().map(|t| (t.kind, t.text.as_str())) {
            Some((Kind::IntPos | Kind::IntNeg, text)) => Literal::Int(text.into()),
            Some((Kind::FloatPos | Kind::FloatNeg, text)) => Literal::Float(text.into()),
            Some((Kind::Str, text)) => Literal::Str(inner(text, 1)),
            Some((Kind::Binary, text)) => Literal::Binary(inner(text, 2)),
            Some((Kind::Hex, text)) => Literal::Hex(inner(text, 2)),
            Some((Kind::Timestamp, text)) => Literal::Timestamp(inner(text, 2)),
            Some((Kind::Bool, text)) if with_bool => Literal::Bool(text == "true"),
            _ => {
                let what = if with_bool {
                    "a constant"
                } else {
                    "an orderable constant (not a boolean)"
                };
                return error(
                    at,
                    format!("expected {what}, found {}", describe(t.as_ref())),
                );
            }
        };
        self.at += 1;
        Ok(value)
    }

    fn set(&mut self) -> Result<Literal, PatternError> {
        self.expect(Kind::Punct('('), "'(' opening a set")?;
        let mut items = Vec::new();
        if self.take(Kind::Punct(')')).is_some() {
            return Ok(Literal::Set(items));
        }
        loop {
            items.push(self.literal(true)?);
            if self.take(Kind::Punct(',')).is_some() {
                continue;
            }
            self.expect(Kind::Punct(')'), "',' or ')' in a set")?;
            return Ok(Literal::Set(items));
        }
    }

    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let object_type = match self.take(Kind::IdentNoHyphen) {
            Some(t) => t,
            None => self.expect(Kind::IdentHyphen, "an object type (like ipv4-addr)")?,
        };
        self.expect(Kind::Punct(':'), "':' after the object type")?;
        let mut steps = vec![self.key("a property name")?];
        loop {
            if self.take(Kind::Punct('.')).is_some() {
                steps.push(self.key("a property name or quoted key after '.'")?);
            } else if self.take(Kind::Punct('[')).is_some() {
                let step = if let Some(n) = self.take(Kind::IntPos) {
                    PathStep::Index(n)
                } else if let Some(n) = self.take(Kind::IntNeg) {
                    PathStep::Index(n)
                } else {
                    self.expect(Kind::Punct('*'), "a list index or '*'")?;
                    PathStep::AnyIndex
                };
                self.expect(Kind::Punct(']'), "']' closing the list index")?;
                steps.push(step);
            } else {
                return Ok(ObjectPath { object_type, steps });
            }
        }
    }

    fn key(&mut self, what: &str) -> Result<PathStep, PatternError> {
        if let Some(name) = self.take(Kind::IdentNoHyphen) {
            return Ok(PathStep::Key {
                name,
                quoted: false,
            });
        }
        let s = self.expect(Kind::Str, what)?;
        Ok(PathStep::Key {
            name: unescape(&inner(&s, 1)),
            quoted: true,
        })
    }
}

/// The text of a token without its `prefix`-character opening (`'`, `b'`, `t'`, `h'`) and its
/// closing quote.
fn inner(text: &str, prefix: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[prefix.min(chars.len())..chars.len().saturating_sub(1).max(prefix.min(chars.len()))]
        .iter()
        .collect()
}

fn flatten<T>(mut items: Vec<T>, make: fn(Vec<T>) -> T) -> T {
    if items.len() == 1 {
        items.remove(0)
    } else {
        make(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Hash values

/// The hash algorithms whose values the reference validator checks, by the name it compares
/// (upper case, without `-`), with the value's shape.
/// A hash algorithm's label and the test of a value's shape.
type HashShape = (&'static str, fn(&str) -> bool);

fn hash_shape(algorithm: &str) -> Option<HashShape> {
    fn hex(n: &'static [usize]) -> impl Fn(&str) -> bool {
        move |v: &str| n.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit())
    }
    let shape: HashShape = match algorithm {
        "MD5" => ("MD5", |v| hex(&[32])(v)),
        "MD6" => ("MD6", |v| hex(&[32, 40, 56, 64, 96, 128])(v)),
        "RIPEMD160" => ("RIPEMD-160", |v| hex(&[40])(v)),
        "SHA1" => ("SHA-1", |v| hex(&[40])(v)),
        "SHA224" => ("SHA-224", |v| hex(&[56])(v)),
        "SHA256" => ("SHA-256", |v| hex(&[64])(v)),
        "SHA384" => ("SHA-384", |v| hex(&[96])(v)),
        "SHA512" => ("SHA-512", |v| hex(&[128])(v)),
        "SHA3224" => ("SHA3-224", |v| hex(&[56])(v)),
        "SHA3256" => ("SHA3-256", |v| hex(&[64])(v)),
        "SHA3384" => ("SHA3-384", |v| hex(&[96])(v)),
        "SHA3512" => ("SHA3-512", |v| hex(&[128])(v)),
        "WHIRLPOOL" => ("WHIRLPOOL", |v| hex(&[128])(v)),
        "SSDEEP" => ("SSDEEP", |v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b':' | b'.'))
        }),
        _ => return None,
    };
    Some(shape)
}

/// A literal as the reference validator compares it with a hash shape: its text without quotes.
fn hash_text(value: &Literal) -> String {
    match value {
        Literal::Int(t) | Literal::Float(t) | Literal::Str(t) => t.replace('\'', ""),
        Literal::Bool(b) => b.to_string(),
        Literal::Binary(t) => format!("b{t}"),
        Literal::Hex(t) => format!("h{t}"),
        Literal::Timestamp(t) => format!("t{t}"),
        Literal::Set(items) => format!(
            "({})",
            items.iter().map(hash_text).collect::<Vec<_>>().join(",")
        ),
    }
}

fn check_hashes(p: &Pattern) -> Result<(), PatternError> {
    let mut problem = None;
    visit_tests(&p.expression, &mut |t| {
        let Test::Compare { path, value, .. } = t else {
            return;
        };
        let in_hashes = path
            .steps
            .iter()
            .any(|s| matches!(s, PathStep::Key { name, .. } if name == "hashes"));
        let Some(PathStep::Key { name, .. }) = path.steps.last() else {
            return;
        };
        let algorithm = name.to_uppercase().replace(['-', '\''], "");
        if let (true, Some((label, ok))) = (in_hashes, hash_shape(&algorithm)) {
            let text = hash_text(value);
            if !ok(&text) && problem.is_none() {
                problem = Some(format!("{text:?} is not a valid {label} hash"));
            }
        }
    });
    match problem {
        Some(p) => error(0, p),
        None => Ok(()),
    }
}

/// Calls `f` on every property test of an observation expression, left to right.
pub fn visit_tests(o: &Observation, f: &mut impl FnMut(&Test)) {
    fn comparison(c: &Comparison, f: &mut impl FnMut(&Test)) {
        match c {
            Comparison::Test(t) => f(t),
            Comparison::Group(c) => comparison(c, f),
            Comparison::Or(items) | Comparison::And(items) => {
                items.iter().for_each(|c| comparison(c, f))
            }
        }
    }
    match o {
        Observation::Comparison(c) => comparison(c, f),
        Observation::Group(o) | Observation::Qualified(o, _) => visit_tests(o, f),
        Observation::FollowedBy(items) | Observation::Or(items) | Observation::And(items) => {
            items.iter().for_each(|o| visit_tests(o, f))
        }
    }
}

/// Calls `f` on every property test of an observation expression, to change it in place.
pub fn visit_tests_mut(o: &mut Observation, f: &mut impl FnMut(&mut Test)) {
    fn comparison(c: &mut Comparison, f: &mut impl FnMut(&mut Test)) {
        match c {
            Comparison::Test(t) => f(t),
            Comparison::Group(c) => comparison(c, f),
            Comparison::Or(items) | Comparison::And(items) => {
                items.iter_mut().for_each(|c| comparison(c, f))
            }
        }
    }
    match o {
        Observation::Comparison(c) => comparison(c, f),
        Observation::Group(o) | Observation::Qualified(o, _) => visit_tests_mut(o, f),
        Observation::FollowedBy(items) | Observation::Or(items) | Observation::And(items) => {
            items.iter_mut().for_each(|o| visit_tests_mut(o, f))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing: the canonical text of a parsed pattern, which parses back to the same pattern.

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expression.fmt(f)
    }
}

fn join<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], op: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            write!(f, " {op} ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::Comparison(c) => write!(f, "[{c}]"),
            Observation::Group(o) => write!(f, "({o})"),
            Observation::Qualified(o, q) => write!(f, "{o} {q}"),
            Observation::FollowedBy(items) => join(f, items, "FOLLOWEDBY"),
            Observation::Or(items) => join(f, items, "OR"),
            Observation::And(items) => join(f, items, "AND"),
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within(n) => write!(f, "WITHIN {n} SECONDS"),
            Qualifier::Repeats(n) => write!(f, "REPEATS {n} TIMES"),
            Qualifier::StartStop(a, b) => write!(f, "START t'{a}' STOP t'{b}'"),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Test(t) => write!(f, "{t}"),
            Comparison::Group(c) => write!(f, "({c})"),
            Comparison::Or(items) => join(f, items, "OR"),
            Comparison::And(items) => join(f, items, "AND"),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Exists(p) => write!(f, "EXISTS {p}"),
            Test::Compare {
                path,
                negated,
                operator,
                value,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{path} {not}{} {value}", operator.as_str())
            }
        }
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Key { name, quoted } => {
                    if i > 0 {
                        write!(f, ".")?;
                    }
                    if *quoted {
                        write!(f, "'{}'", escape(name))?;
                    } else {
                        write!(f, "{name}")?;
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::AnyIndex => write!(f, "[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(t) | Literal::Float(t) => write!(f, "{t}"),
            Literal::Str(raw) => write!(f, "'{raw}'"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Binary(t) => write!(f, "b'{t}'"),
            Literal::Hex(t) => write!(f, "h'{t}'"),
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
            Literal::Set(items) => {
                write!(f, "(")?;
                join(f, items, ",")?;
                write!(f, ")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> Pattern {
        parse(p).unwrap_or_else(|e| panic!("{p:?} refused: {e}"))
    }

    fn refused(p: &str) -> PatternError {
        match parse(p) {
            Ok(parsed) => panic!("{p:?} accepted as {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_empty_comparison_of_issue_12_is_refused_with_its_position() {
        let e = refused("[ipv4-addr:value = ]");
        assert_eq!(e.offset, 19, "{e}");
        assert!(e.message.contains("expected a constant"), "{e}");
    }

    #[test]
    fn operators_literals_and_qualifiers_parse() {
        let p = ok(
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:size > 10] WITHIN 600 SECONDS REPEATS 2 TIMES",
        );
        let Observation::Qualified(inner, Qualifier::Repeats(n)) = &p.expression else {
            panic!("{p:?}")
        };
        assert_eq!(n, "2");
        assert!(matches!(
            **inner,
            Observation::Qualified(_, Qualifier::Within(_))
        ));
        ok("[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24']");
        ok(
            "[x509-certificate:issuer NOT LIKE 'CN=%'] FOLLOWEDBY [a:b IN (1, -2, 3.5, 'x', true, b'AAAA', h'ff', t'2016-01-01T00:00:00Z')]",
        );
        ok(
            "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.5Z'",
        );
        ok("[EXISTS windows-registry-key:values[*].name]");
        ok("([a:b = 1] OR [c:d = 2]) AND [e:f[0] != 'x']");
    }

    #[test]
    fn tokens_follow_the_antlr_lexer() {
        // `5SECONDS` is two tokens; `true` is a boolean, never a path; keywords are upper case.
        ok("[a:b = 1] WITHIN 5SECONDS");
        refused("[a:b = 1 and c:d = 2]");
        refused("[a:true = 1]");
        refused("[a:b = 'a\\nb']");
        refused("[a:b = 01]");
        refused("[a:b = h'abc']");
        ok("[a:b = h'']");
        refused("[a:b = b'']");
        refused("[a:b = t'2016-13-01T00:00:00Z']");
        ok("[a:b = 1] // a comment");
        refused("/* a comment */ [a:b = 1]");
    }

    #[test]
    fn a_qualifier_kind_twice_on_one_observation_is_refused() {
        refused("[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS");
        ok("([a:b = 1] WITHIN 5 SECONDS) WITHIN 6 SECONDS");
    }

    #[test]
    fn hash_values_must_have_their_algorithms_shape() {
        let e = refused("[file:hashes.MD5 = 'xyz']");
        assert!(e.message.contains("MD5"), "{e}");
        ok("[file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4']");
        ok("[file:hashes.'x-custom' = 'anything']");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}[a:b = 1]{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(refused(&deep).message.contains("nested deeper"));
    }

    #[test]
    fn printing_round_trips() {
        for p in [
            "[a:'b c'.'it\\'s'[-1] NOT IN ()] FOLLOWEDBY ([c:d = 1] OR [e:f = 2] AND [g:h = 3]) REPEATS 5 TIMES",
            "[(a:b = 1 OR c:d = 2) AND EXISTS e:f]",
        ] {
            let parsed = ok(p);
            assert_eq!(ok(&parsed.to_string()), parsed, "{parsed}");
        }
    }
}
