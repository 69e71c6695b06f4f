//! A focused FHIRPath evaluator for the subset of the language used by FHIR R4
//! search parameter expressions.
//!
//! Expressions are parsed once into an AST ([`Expression::parse`]) and then evaluated
//! any number of times against `serde_json::Value` resources ([`Expression::evaluate`]).
//!
//! Supported:
//! - paths: a leading type name (`Patient.name`; a path rooted at another type yields
//!   nothing, and `Resource`/`DomainResource` match any resource), member access with
//!   flattening of arrays, FHIR JSON choice elements (`Observation.value` matches
//!   `valueQuantity` and the node is typed `Quantity`), indexers (`entry[0]`),
//!   `$this`, and `%resource`/`%rootResource`/`%context` (all three mean the evaluated
//!   resource);
//! - literals: strings, numbers, `true`/`false`, `{}`;
//! - operators: `|` (union, without duplicates), `=`, `!=`, `and`, `or`, `xor`,
//!   `implies`, `is Type`, `as Type`;
//! - functions: `where(criteria)`, `exists()`, `exists(criteria)`, `empty()`, `not()`,
//!   `first()`, `last()`, `ofType(Type)`, `as(Type)`, `is(Type)`, `extension('url')`,
//!   `resolve()`.
//!
//! `resolve()` does not fetch anything: a contained reference (`#id`) resolves to the
//! contained resource; any other Reference passes through, typed with the resource type
//! named in its `reference` (or `type`), so `where(resolve() is Patient)` keeps the
//! references to patients. Other nodes pass through unchanged.
//!
//! Anything else (arithmetic, ordering comparisons, other functions) is rejected by the
//! parser with a [`FhirPathError`], so unsupported expressions are found when the search
//! parameter registry is built rather than silently at evaluation time.

use serde_json::Value;
use thiserror::Error;

/// An error found while parsing a FHIRPath expression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("FHIRPath error at offset {position}: {message}")]
pub struct FhirPathError {
    /// Byte offset in the source where the problem was found.
    pub position: usize,
    /// What went wrong.
    pub message: String,
}

/// One item of a FHIRPath result collection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<'a> {
    /// The JSON value of the item (never an array: arrays are flattened).
    pub value: &'a Value,
    /// The FHIR type of the item, when known: from a choice element suffix
    /// (`valueQuantity` gives `Quantity`, `valueString` gives `string`), or for a
    /// Reference passed through `resolve()`, the referenced resource type.
    pub fhir_type: Option<&'a str>,
}

impl<'a> Node<'a> {
    /// A node without a type hint.
    pub fn new(value: &'a Value) -> Self {
        Node {
            value,
            fhir_type: None,
        }
    }
}

/// A parsed FHIRPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    ast: Expr,
}

impl Expression {
    /// Parses `src`, rejecting syntax outside the supported subset.
    pub fn parse(src: &str) -> Result<Expression, FhirPathError> {
        let tokens = tokenize(src)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            end: src.len(),
        };
        let ast = parser.expression()?;
        if let Some((position, token)) = parser.tokens.get(parser.pos) {
            return Err(error(*position, format!("unexpected {token:?}")));
        }
        Ok(Expression {
            source: src.to_owned(),
            ast,
        })
    }

    /// The expression as evaluated on resources of type `resource_type` only: the branches
    /// of its unions that select a path of another resource type (`Condition.code` in
    /// `Condition.code | Observation.code`, for an Observation) are dropped, since they
    /// select nothing there. Most R4 search parameters shared by several types are such
    /// unions, and a type keeps about a third of their branches.
    pub fn for_resource_type(&self, resource_type: &str) -> Expression {
        Expression {
            source: self.source.clone(),
            ast: self.ast.for_root_type(resource_type),
        }
    }

    /// `T` when this expression is `other.where(resolve() is T)`: it selects the references
    /// `other` selects that point at a `T` (as `patient` is `subject.where(resolve() is
    /// Patient)` for an Observation).
    pub fn narrows_to_type(&self, other: &Expression) -> Option<&str> {
        let Expr::Call(Some(receiver), Function::Where(criteria)) = &self.ast else {
            return None;
        };
        if **receiver != other.ast {
            return None;
        }
        let resolved = |e: &Expr| matches!(e, Expr::Call(None, Function::Resolve));
        match criteria.as_ref() {
            Expr::Is(e, ty) if resolved(e) => Some(ty),
            Expr::Call(Some(e), Function::Is(ty)) if resolved(e) => Some(ty),
            _ => None,
        }
    }

    /// The source text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression with `resource` as both the root and the focus.
    ///
    /// The nodes borrow from `resource`, or from the expression itself for literals and
    /// computed booleans, hence the shared lifetime. Evaluation never fails: anything that
    /// does not apply to the data yields an empty collection.
    pub fn evaluate<'a>(&'a self, resource: &'a Value) -> Vec<Node<'a>> {
        self.evaluate_with_focus(resource, Node::new(resource))
    }

    /// [`evaluate`](Self::evaluate) for a resource whose type the caller knows (its
    /// `resourceType`), sparing a lookup per evaluation.
    pub fn evaluate_typed<'a>(
        &'a self,
        resource: &'a Value,
        resource_type: &'a str,
    ) -> Vec<Node<'a>> {
        let root = Root {
            value: resource,
            resource_type: Some(resource_type),
        };
        self.ast.eval(root, &[Node::new(resource)])
    }

    /// Evaluates the expression on `focus`, an item inside `resource` (used for the
    /// components of composite search parameters); `%resource` still means `resource`.
    pub fn evaluate_with_focus<'a>(
        &'a self,
        resource: &'a Value,
        focus: Node<'a>,
    ) -> Vec<Node<'a>> {
        let root = Root {
            value: resource,
            resource_type: resource_type(resource),
        };
        self.ast.eval(root, &[focus])
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

fn error(position: usize, message: impl Into<String>) -> FhirPathError {
    FhirPathError {
        position,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(String),
    Var(String),
    This,
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Pipe,
    Eq,
    NotEq,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Token)>, FhirPathError> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        let token = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            'A'..='Z' | 'a'..='z' | '_' => Token::Ident(take_while(&mut chars, is_ident_char)),
            '0'..='9' => Token::Num(take_while(&mut chars, |c| c.is_ascii_digit() || c == '.')),
            '`' => {
                chars.next();
                Token::Ident(quoted(&mut chars, '`', start)?)
            }
            '\'' => {
                chars.next();
                Token::Str(quoted(&mut chars, '\'', start)?)
            }
            '%' | '$' => {
                chars.next();
                let name = take_while(&mut chars, is_ident_char);
                match (c, name.as_str()) {
                    ('$', "this") => Token::This,
                    ('%', n) if !n.is_empty() => Token::Var(name),
                    _ => return Err(error(start, format!("unsupported variable {c}{name}"))),
                }
            }
            '!' => {
                chars.next();
                match chars.next() {
                    Some((_, '=')) => Token::NotEq,
                    _ => return Err(error(start, "expected '!='")),
                }
            }
            _ => {
                chars.next();
                symbol(c).ok_or_else(|| error(start, format!("unsupported character {c:?}")))?
            }
        };
        tokens.push((start, token));
    }
    Ok(tokens)
}

fn symbol(c: char) -> Option<Token> {
    Some(match c {
        '.' => Token::Dot,
        '(' => Token::LParen,
        ')' => Token::RParen,
        '[' => Token::LBracket,
        ']' => Token::RBracket,
        '{' => Token::LBrace,
        '}' => Token::RBrace,
        ',' => Token::Comma,
        '|' => Token::Pipe,
        '=' => Token::Eq,
        _ => return None,
    })
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

type Chars<'s> = std::iter::Peekable<std::str::CharIndices<'s>>;

fn take_while(chars: &mut Chars<'_>, pred: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    while let Some(&(_, c)) = chars.peek() {
        if !pred(c) {
            break;
        }
        out.push(c);
        chars.next();
    }
    out
}

/// Reads a quoted string or identifier after its opening `quote`, handling escapes.
fn quoted(chars: &mut Chars<'_>, quote: char, start: usize) -> Result<String, FhirPathError> {
    let mut out = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            c if c == quote => return Ok(out),
            '\\' => out.push(escape(chars).ok_or_else(|| error(start, "invalid escape"))?),
            c => out.push(c),
        }
    }
    Err(error(start, "unterminated string"))
}

fn escape(chars: &mut Chars<'_>) -> Option<char> {
    Some(match chars.next()?.1 {
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'f' => '\u{c}',
        'u' => {
            let hex: String = (0..4)
                .filter_map(|_| chars.next().map(|(_, c)| c))
                .collect();
            char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
        }
        other => other,
    })
}

// ---------------------------------------------------------------------------
// AST and parser

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Literal(Value),
    Empty,
    This,
    Root,
    /// An identifier at the head of a path: a type filter when capitalised,
    /// otherwise a member of the focus.
    Identifier(String),
    Member(Box<Expr>, String),
    /// A function applied to the receiver, or to the focus when there is none.
    Call(Option<Box<Expr>>, Function),
    Index(Box<Expr>, usize),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Is(Box<Expr>, String),
    As(Box<Expr>, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Union,
    Equal,
    NotEqual,
    And,
    Or,
    Xor,
    Implies,
}

#[derive(Debug, Clone, PartialEq)]
enum Function {
    Where(Box<Expr>),
    Exists(Option<Box<Expr>>),
    Empty,
    Not,
    First,
    Last,
    Resolve,
    OfType(String),
    Is(String),
    Extension(String),
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(p, _)| *p)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        token
    }

    fn expect(&mut self, expected: &Token) -> Result<(), FhirPathError> {
        let position = self.position();
        match self.next() {
            Some(t) if &t == expected => Ok(()),
            other => Err(error(
                position,
                format!("expected {expected:?}, found {other:?}"),
            )),
        }
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Ident(k)) => Some(k.as_str()),
            _ => None,
        }
    }

    fn expression(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.or_expr()?;
        while self.keyword() == Some("implies") {
            self.pos += 1;
            left = binary(BinOp::Implies, left, self.or_expr()?);
        }
        Ok(left)
    }

    fn or_expr(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.and_expr()?;
        loop {
            let op = match self.keyword() {
                Some("or") => BinOp::Or,
                Some("xor") => BinOp::Xor,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = binary(op, left, self.and_expr()?);
        }
    }

    fn and_expr(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.equality()?;
        while self.keyword() == Some("and") {
            self.pos += 1;
            left = binary(BinOp::And, left, self.equality()?);
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.union()?;
        loop {
            let op = match self.peek() {
                Some(Token::Eq) => BinOp::Equal,
                Some(Token::NotEq) => BinOp::NotEqual,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = binary(op, left, self.union()?);
        }
    }

    fn union(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.type_expr()?;
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            left = binary(BinOp::Union, left, self.type_expr()?);
        }
        Ok(left)
    }

    fn type_expr(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.postfix()?;
        loop {
            let is = match self.keyword() {
                Some("is") => true,
                Some("as") => false,
                _ => return Ok(left),
            };
            self.pos += 1;
            let ty = self.type_specifier()?;
            left = if is {
                Expr::Is(Box::new(left), ty)
            } else {
                Expr::As(Box::new(left), ty)
            };
        }
    }

    /// A possibly qualified type name (`Patient`, `FHIR.Patient`); returns the last part.
    fn type_specifier(&mut self) -> Result<String, FhirPathError> {
        let mut name = self.identifier()?;
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            name = self.identifier()?;
        }
        Ok(name)
    }

    fn identifier(&mut self) -> Result<String, FhirPathError> {
        let position = self.position();
        match self.next() {
            Some(Token::Ident(name)) => Ok(name),
            other => Err(error(
                position,
                format!("expected an identifier, found {other:?}"),
            )),
        }
    }

    fn postfix(&mut self) -> Result<Expr, FhirPathError> {
        let mut expr = self.term()?;
        loop {
            match self.peek() {
                Some(Token::Dot) => {
                    self.pos += 1;
                    expr = self.invocation(Some(expr))?;
                }
                Some(Token::LBracket) => {
                    self.pos += 1;
                    let position = self.position();
                    let index = match self.next() {
                        Some(Token::Num(n)) => n
                            .parse()
                            .map_err(|_| error(position, "index must be a non-negative integer"))?,
                        _ => return Err(error(position, "index must be an integer literal")),
                    };
                    self.expect(&Token::RBracket)?;
                    expr = Expr::Index(Box::new(expr), index);
                }
                _ => return Ok(expr),
            }
        }
    }

    fn term(&mut self) -> Result<Expr, FhirPathError> {
        let position = self.position();
        match self.peek().cloned() {
            Some(Token::Ident(_)) => self.invocation(None),
            Some(token) => {
                self.pos += 1;
                match token {
                    Token::Str(s) => Ok(Expr::Literal(Value::String(s))),
                    Token::Num(n) => {
                        number_literal(&n).ok_or_else(|| error(position, "bad number"))
                    }
                    Token::Var(name) => match name.as_str() {
                        "resource" | "rootResource" | "context" => Ok(Expr::Root),
                        _ => Err(error(position, format!("unsupported variable %{name}"))),
                    },
                    Token::This => Ok(Expr::This),
                    Token::LParen => {
                        let inner = self.expression()?;
                        self.expect(&Token::RParen)?;
                        Ok(inner)
                    }
                    Token::LBrace => {
                        self.expect(&Token::RBrace)?;
                        Ok(Expr::Empty)
                    }
                    other => Err(error(position, format!("unexpected {other:?}"))),
                }
            }
            None => Err(error(position, "unexpected end of expression")),
        }
    }

    /// An identifier or function call, applied to `receiver` (after a dot) or at the head.
    fn invocation(&mut self, receiver: Option<Expr>) -> Result<Expr, FhirPathError> {
        let position = self.position();
        let name = self.identifier()?;
        if self.peek() != Some(&Token::LParen) {
            return Ok(match (receiver, name.as_str()) {
                (None, "true") => Expr::Literal(Value::Bool(true)),
                (None, "false") => Expr::Literal(Value::Bool(false)),
                (None, _) => Expr::Identifier(name),
                (Some(r), _) => Expr::Member(Box::new(r), name),
            });
        }
        self.pos += 1;
        let mut args = Vec::new();
        if self.peek() != Some(&Token::RParen) {
            args.push(self.expression()?);
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                args.push(self.expression()?);
            }
        }
        self.expect(&Token::RParen)?;
        let function = function(&name, args).map_err(|m| error(position, m))?;
        Ok(Expr::Call(receiver.map(Box::new), function))
    }
}

impl Expr {
    /// This expression, evaluated with a resource of type `ty` as its focus, without the
    /// parts that select nothing there (see [`Expression::for_resource_type`]). Only parts
    /// evaluated on that same focus are reduced: a function's arguments have their own.
    fn for_root_type(&self, ty: &str) -> Expr {
        let reduced = |e: &Expr| e.for_root_type(ty);
        match self {
            Expr::Identifier(name)
                if name.starts_with(|c: char| c.is_ascii_uppercase())
                    && !["Resource", "DomainResource", ty]
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(name)) =>
            {
                Expr::Empty
            }
            Expr::Binary(BinOp::Union, l, r) => match (reduced(l), reduced(r)) {
                (Expr::Empty, other) | (other, Expr::Empty) => other,
                (l, r) => binary(BinOp::Union, l, r),
            },
            Expr::Member(receiver, name) => match reduced(receiver) {
                Expr::Empty => Expr::Empty,
                receiver => Expr::Member(Box::new(receiver), name.clone()),
            },
            Expr::Index(receiver, i) => match reduced(receiver) {
                Expr::Empty => Expr::Empty,
                receiver => Expr::Index(Box::new(receiver), *i),
            },
            Expr::As(e, t) => match reduced(e) {
                Expr::Empty => Expr::Empty,
                e => Expr::As(Box::new(e), t.clone()),
            },
            Expr::Call(Some(receiver), function) => match reduced(receiver) {
                Expr::Empty if function.is_empty_on_empty() => Expr::Empty,
                receiver => Expr::Call(Some(Box::new(receiver)), function.clone()),
            },
            other => other.clone(),
        }
    }
}

impl Function {
    /// Whether the function gives an empty collection for an empty input (`exists()`,
    /// `empty()` give a boolean).
    fn is_empty_on_empty(&self) -> bool {
        !matches!(self, Function::Exists(_) | Function::Empty)
    }
}

fn binary(op: BinOp, left: Expr, right: Expr) -> Expr {
    Expr::Binary(op, Box::new(left), Box::new(right))
}

fn number_literal(text: &str) -> Option<Expr> {
    let number = match text.parse::<i64>() {
        Ok(i) => serde_json::Number::from(i),
        Err(_) => serde_json::Number::from_f64(text.parse().ok()?)?,
    };
    Some(Expr::Literal(Value::Number(number)))
}

/// Builds a function from its name and arguments, checking the arity.
fn function(name: &str, mut args: Vec<Expr>) -> Result<Function, String> {
    let arity = args.len();
    let single = |args: &mut Vec<Expr>| match (args.pop(), arity) {
        (Some(arg), 1) => Ok(arg),
        _ => Err(format!("{name}() takes one argument")),
    };
    let none = |f: Function| {
        if arity == 0 {
            Ok(f)
        } else {
            Err(format!("{name}() takes no arguments"))
        }
    };
    match name {
        "where" => Ok(Function::Where(Box::new(single(&mut args)?))),
        "exists" if arity == 1 => Ok(Function::Exists(Some(Box::new(single(&mut args)?)))),
        "exists" => none(Function::Exists(None)),
        "empty" => none(Function::Empty),
        "not" => none(Function::Not),
        "first" => none(Function::First),
        "last" => none(Function::Last),
        "resolve" => none(Function::Resolve),
        "ofType" | "as" => Ok(Function::OfType(type_argument(single(&mut args)?)?)),
        "is" => Ok(Function::Is(type_argument(single(&mut args)?)?)),
        "extension" => match single(&mut args)? {
            Expr::Literal(Value::String(url)) => Ok(Function::Extension(url)),
            _ => Err("extension() takes a string literal".to_owned()),
        },
        _ => Err(format!("unsupported function {name}()")),
    }
}

fn type_argument(arg: Expr) -> Result<String, String> {
    match arg {
        Expr::Identifier(name) | Expr::Member(_, name) => Ok(name),
        _ => Err("expected a type name".to_owned()),
    }
}

// ---------------------------------------------------------------------------
// Evaluation

static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);

/// FHIR data types that can appear as the suffix of a choice element in JSON.
const CHOICE_TYPES: &[&str] = &[
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactDetail",
    "ContactPoint",
    "Contributor",
    "Count",
    "DataRequirement",
    "Distance",
    "Dosage",
    "Duration",
    "Expression",
    "HumanName",
    "Identifier",
    "Meta",
    "Money",
    "ParameterDefinition",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "RelatedArtifact",
    "SampledData",
    "Signature",
    "Timing",
    "TriggerDefinition",
    "UsageContext",
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
];

/// FHIR primitive types whose JSON representation is a string.
const STRING_PRIMITIVES: &[&str] = &[
    "base64Binary",
    "canonical",
    "code",
    "date",
    "dateTime",
    "id",
    "instant",
    "markdown",
    "oid",
    "string",
    "time",
    "uri",
    "url",
    "uuid",
];

/// The FHIR type named by a JSON choice suffix (`Quantity`, `DateTime` -> `dateTime`).
fn choice_type(suffix: &str) -> Option<&'static str> {
    let first = suffix.chars().next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    CHOICE_TYPES.iter().copied().find(|t| {
        t.len() == suffix.len()
            && t[..1].eq_ignore_ascii_case(&suffix[..1])
            && t[1..] == suffix[1..]
    })
}

fn bool_node(b: bool) -> Node<'static> {
    Node::new(if b { &TRUE } else { &FALSE })
}

fn push_flat<'a>(value: &'a Value, fhir_type: Option<&'a str>, out: &mut Vec<Node<'a>>) {
    match value {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|value| Node { value, fhir_type }),
        ),
        Value::Null => {}
        value => out.push(Node { value, fhir_type }),
    }
}

/// Appends the children called `name` of `node`, including choice elements.
fn member<'a>(node: &Node<'a>, name: &str, out: &mut Vec<Node<'a>>) {
    let Value::Object(map) = node.value else {
        return;
    };
    if let Some(value) = field(map, name) {
        push_flat(value, None, out);
        return;
    }
    // A choice element's key is the name and a capitalised type: the byte after the name
    // is tested first, which rules out most keys without comparing their text.
    for (key, value) in map {
        let typed = key
            .as_bytes()
            .get(name.len())
            .is_some_and(u8::is_ascii_uppercase);
        if let Some(ty) = typed
            .then(|| key.strip_prefix(name))
            .flatten()
            .and_then(choice_type)
        {
            push_flat(value, Some(ty), out);
        }
    }
}

/// The value of `key` in `map`. serde_json's maps hash every key looked up (SipHash); most
/// FHIR objects have a few keys, which a scan compares faster.
pub(crate) fn field<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= 8 {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}

fn members<'a>(focus: &[Node<'a>], name: &str) -> Vec<Node<'a>> {
    let mut out = Vec::new();
    for node in focus {
        member(node, name, &mut out);
    }
    out
}

/// The evaluated resource with its type, looked up once per evaluation: most R4 search
/// expressions are unions of paths rooted at many resource types (`Condition.code |
/// Observation.code | ...`), so every evaluation tests the root's type many times.
#[derive(Clone, Copy)]
struct Root<'a> {
    value: &'a Value,
    resource_type: Option<&'a str>,
}

impl Root<'_> {
    /// Whether `node` is a resource of type `ty`: what a capitalised identifier at the
    /// head of a path selects (see [`node_is`] for the matching rules).
    fn is_resource_of_type(&self, node: &Node<'_>, ty: &str) -> bool {
        let node_type = if std::ptr::eq(node.value, self.value) {
            self.resource_type
        } else {
            resource_type(node.value)
        };
        let Some(node_type) = node_type else {
            return false;
        };
        match node.fhir_type {
            Some(t) => t.eq_ignore_ascii_case(ty),
            None => ["Resource", "DomainResource", node_type]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(ty)),
        }
    }
}

fn resource_type(value: &Value) -> Option<&str> {
    value.get("resourceType").and_then(Value::as_str)
}

/// Whether `node` is of the FHIR type `ty` (case-insensitive on the first letter, so
/// `String` and `string` both match).
fn node_is(node: &Node<'_>, ty: &str) -> bool {
    let same = |t: &str| t.eq_ignore_ascii_case(ty);
    if let Some(t) = node.fhir_type {
        return same(t);
    }
    if let Some(rt) = resource_type(node.value) {
        return same(rt) || same("Resource") || same("DomainResource");
    }
    match node.value {
        Value::Bool(_) => same("boolean"),
        Value::Number(n) if n.is_f64() => same("decimal"),
        Value::Number(_) => ["integer", "decimal", "positiveInt", "unsignedInt"]
            .iter()
            .any(|t| same(t)),
        Value::String(_) => STRING_PRIMITIVES.iter().any(|t| same(t)),
        _ => false,
    }
}

/// Truth value of a collection: empty is unknown, a single boolean is itself, any
/// other single item is true.
fn truth(items: &[Node<'_>]) -> Option<bool> {
    match items {
        [] => None,
        [node] => Some(node.value.as_bool().unwrap_or(true)),
        _ => Some(true),
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn equal(left: &[Node<'_>], right: &[Node<'_>]) -> Option<bool> {
    if left.is_empty() || right.is_empty() {
        return None;
    }
    Some(
        left.len() == right.len()
            && left
                .iter()
                .zip(right)
                .all(|(l, r)| values_equal(l.value, r.value)),
    )
}

fn logic(op: BinOp, l: Option<bool>, r: Option<bool>) -> Option<bool> {
    match op {
        BinOp::And => match (l, r) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        BinOp::Or => match (l, r) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        BinOp::Xor => Some(l? != r?),
        _ => match (l, r) {
            (Some(false), _) | (_, Some(true)) => Some(true),
            (Some(true), r) => r,
            (None, _) => None,
        },
    }
}

fn union<'a>(mut left: Vec<Node<'a>>, right: Vec<Node<'a>>) -> Vec<Node<'a>> {
    for node in right {
        if !left.iter().any(|n| std::ptr::eq(n.value, node.value)) {
            left.push(node);
        }
    }
    left
}

/// Resolves a node for `resolve()`: contained references to the contained resource,
/// other References typed with the referenced resource type.
fn resolve<'a>(root: Root<'a>, node: Node<'a>) -> Option<Node<'a>> {
    let reference = node.value.get("reference").and_then(Value::as_str);
    if let Some(id) = reference.and_then(|r| r.strip_prefix('#')) {
        let contained = root.value.get("contained").and_then(Value::as_array)?;
        return contained
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
            .map(Node::new);
    }
    let declared = node.value.get("type").and_then(Value::as_str);
    let fhir_type = reference
        .and_then(reference_type)
        .or(declared)
        .or(node.fhir_type);
    Some(Node {
        value: node.value,
        fhir_type,
    })
}

/// The resource type named in a literal reference: `Patient/1`, `Patient/1/_history/2`
/// or `http://server/fhir/Patient/1`.
pub fn reference_type(reference: &str) -> Option<&str> {
    let path = match reference.find("/_history/") {
        Some(i) => &reference[..i],
        None => reference,
    };
    let mut parts = path.rsplit('/');
    let _id = parts.next().filter(|id| !id.is_empty())?;
    parts.next().filter(|ty| {
        ty.starts_with(|c: char| c.is_ascii_uppercase())
            && ty.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

impl Expr {
    fn eval<'a>(&'a self, root: Root<'a>, focus: &[Node<'a>]) -> Vec<Node<'a>> {
        match self {
            Expr::Literal(value) => vec![Node::new(value)],
            Expr::Empty => Vec::new(),
            Expr::This => focus.to_vec(),
            Expr::Root => vec![Node::new(root.value)],
            Expr::Identifier(name) if name.starts_with(|c: char| c.is_ascii_uppercase()) => focus
                .iter()
                .filter(|n| root.is_resource_of_type(n, name))
                .copied()
                .collect(),
            Expr::Identifier(name) => members(focus, name),
            Expr::Member(receiver, name) => members(&receiver.eval(root, focus), name),
            Expr::Call(receiver, function) => {
                let input = match receiver {
                    Some(r) => r.eval(root, focus),
                    None => focus.to_vec(),
                };
                function.apply(root, input)
            }
            Expr::Index(receiver, i) => receiver
                .eval(root, focus)
                .into_iter()
                .nth(*i)
                .into_iter()
                .collect(),
            Expr::Binary(op, l, r) => binary_eval(*op, l.eval(root, focus), r.eval(root, focus)),
            Expr::Is(e, ty) => match e.eval(root, focus).as_slice() {
                [node] => vec![bool_node(node_is(node, ty))],
                _ => Vec::new(),
            },
            Expr::As(e, ty) => e
                .eval(root, focus)
                .into_iter()
                .filter(|n| node_is(n, ty))
                .collect(),
        }
    }
}

fn binary_eval<'a>(op: BinOp, left: Vec<Node<'a>>, right: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let result = match op {
        BinOp::Union => return union(left, right),
        BinOp::Equal => equal(&left, &right),
        BinOp::NotEqual => equal(&left, &right).map(|b| !b),
        _ => logic(op, truth(&left), truth(&right)),
    };
    result.map(bool_node).into_iter().collect()
}

impl Function {
    fn apply<'a>(&'a self, root: Root<'a>, input: Vec<Node<'a>>) -> Vec<Node<'a>> {
        let holds = |criteria: &'a Expr, node: &Node<'a>| {
            truth(&criteria.eval(root, &[*node])) == Some(true)
        };
        match self {
            Function::Where(criteria) => input.into_iter().filter(|n| holds(criteria, n)).collect(),
            Function::Exists(None) => vec![bool_node(!input.is_empty())],
            Function::Exists(Some(criteria)) => {
                vec![bool_node(input.iter().any(|n| holds(criteria, n)))]
            }
            Function::Empty => vec![bool_node(input.is_empty())],
            Function::Not => truth(&input).map(|b| bool_node(!b)).into_iter().collect(),
            Function::First => input.into_iter().take(1).collect(),
            Function::Last => input.into_iter().last().into_iter().collect(),
            Function::Resolve => input.into_iter().filter_map(|n| resolve(root, n)).collect(),
            Function::OfType(ty) => input.into_iter().filter(|n| node_is(n, ty)).collect(),
            Function::Is(ty) => match input.as_slice() {
                [node] => vec![bool_node(node_is(node, ty))],
                _ => Vec::new(),
            },
            Function::Extension(url) => members(&input, "extension")
                .into_iter()
                .filter(|n| n.value.get("url").and_then(Value::as_str) == Some(url))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, resource: &Value) -> Vec<Value> {
        let expression = Expression::parse(expr).expect("parses");
        expression
            .evaluate(resource)
            .into_iter()
            .map(|n| n.value.clone())
            .collect()
    }

    #[test]
    fn parses_every_r4_search_parameter_expression() {
        let bundle: Value =
            serde_json::from_str(include_str!("../data/search-parameters.json")).expect("json");
        let entries = bundle["entry"].as_array().expect("entries");
        let mut count = 0;
        for entry in entries {
            let resource = &entry["resource"];
            let components = resource["component"].as_array().into_iter().flatten();
            let sources = resource["expression"]
                .as_str()
                .into_iter()
                .chain(components.filter_map(|c| c["expression"].as_str()));
            for src in sources {
                Expression::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
                count += 1;
            }
        }
        assert!(count > 1400, "{count}");
    }

    #[test]
    fn paths_flatten_and_select_their_root_type() {
        let patient =
            json!({"resourceType": "Patient", "name": [{"given": ["A", "B"]}, {"given": ["C"]}]});
        assert_eq!(
            eval("Patient.name.given", &patient),
            vec![json!("A"), json!("B"), json!("C")]
        );
        assert!(eval("Practitioner.name.given", &patient).is_empty());
        assert_eq!(
            eval("Practitioner.name | Patient.name[1].given", &patient),
            vec![json!("C")]
        );
        assert_eq!(
            eval("Resource.name.given.first()", &patient),
            vec![json!("A")]
        );
    }

    #[test]
    fn choice_elements_are_typed() {
        let obs =
            json!({"resourceType": "Observation", "valueQuantity": {"value": 5}, "valueSet": "x"});
        let expr = Expression::parse("Observation.value").expect("parses");
        let nodes = expr.evaluate(&obs);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].fhir_type, Some("Quantity"));
        assert_eq!(
            eval("(Observation.value as Quantity).value", &obs),
            vec![json!(5)]
        );
        assert!(eval("Observation.value.as(Period)", &obs).is_empty());
        assert_eq!(
            eval("Observation.value.ofType(Quantity).value", &obs),
            vec![json!(5)]
        );
        let cond = json!({"resourceType": "Condition", "onsetDateTime": "2020"});
        assert_eq!(
            eval("Condition.onset.as(dateTime)", &cond),
            vec![json!("2020")]
        );
        assert_eq!(
            eval("Condition.onset.as(DateTime)", &cond),
            vec![json!("2020")]
        );
    }

    #[test]
    fn where_resolve_and_equality() {
        let obs = json!({
            "resourceType": "Observation",
            "contained": [{"resourceType": "Patient", "id": "p"}],
            "performer": [
                {"reference": "Patient/1"},
                {"reference": "http://x/fhir/Practitioner/2/_history/3"},
                {"reference": "#p"},
                {"identifier": {"value": "x"}, "type": "Patient"},
            ],
            "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "2"}],
        });
        let patients = eval("Observation.performer.where(resolve() is Patient)", &obs);
        assert_eq!(patients.len(), 3);
        assert_eq!(patients[0]["reference"], "Patient/1");
        assert_eq!(
            eval(
                "Observation.performer.where(resolve() is Practitioner).reference",
                &obs
            )
            .len(),
            1
        );
        assert_eq!(
            eval("Observation.performer.resolve().ofType(Patient).id", &obs),
            vec![json!("p")]
        );
        assert_eq!(
            eval("Observation.telecom.where(system='email').value", &obs),
            vec![json!("2")]
        );
        assert_eq!(
            eval(
                "Observation.telecom.where(system = 'email' or value = '1').value",
                &obs
            ),
            vec![json!("1"), json!("2")]
        );
        assert_eq!(
            eval(
                "Observation.telecom.where(system='email' and value='1')",
                &obs
            ),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn booleans_extensions_and_errors() {
        let patient = json!({
            "resourceType": "Patient",
            "deceasedBoolean": false,
            "extension": [{"url": "http://a", "valueString": "x"}, {"url": "http://b", "valueCode": "y"}],
        });
        let deceased = "Patient.deceased.exists() and Patient.deceased != false";
        assert_eq!(eval(deceased, &patient), vec![json!(false)]);
        let alive = json!({"resourceType": "Patient"});
        assert_eq!(eval(deceased, &alive), vec![json!(false)]);
        let dead = json!({"resourceType": "Patient", "deceasedDateTime": "2020"});
        assert_eq!(eval(deceased, &dead), vec![json!(true)]);
        assert_eq!(
            eval("Patient.extension('http://b').value", &patient),
            vec![json!("y")]
        );
        assert_eq!(
            eval("Patient.extension.where(url = 'http://a').value", &patient),
            vec![json!("x")]
        );
        assert_eq!(
            eval("Patient.extension.empty().not()", &patient),
            vec![json!(true)]
        );
        assert_eq!(
            eval("$this.deceased.is(boolean)", &patient),
            vec![json!(true)]
        );
        for bad in [
            "Patient.name +",
            "Patient.foo()",
            "Patient.name[",
            "'open",
            "Patient.name < 3",
            "",
        ] {
            assert!(Expression::parse(bad).is_err(), "{bad}");
        }
    }
}
