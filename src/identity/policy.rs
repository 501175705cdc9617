//! IAM-style policy documents for the S3 gateway: parsing, validation and evaluation.
//!
//! Only the subset poolgate needs is accepted (S3 actions and ARNs, four string condition
//! operators, the Cognito identity policy variables). Everything else is refused at parse
//! time with the JSON path of the offending element, so a policy never silently means less
//! (or more) than its author thought. Size limits bound the work any document can cause.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The only policy language version accepted; the older "2008-10-17" has no policy variables.
pub const POLICY_VERSION: &str = "2012-10-17";
/// Most statements one document may hold.
pub const MAX_STATEMENTS: usize = 100;
/// Most actions or resources per statement, keys per condition operator, values per key.
pub const MAX_ENTRIES: usize = 100;
/// Longest single string (in bytes) anywhere in a document.
pub const MAX_STRING_BYTES: usize = 2048;
/// Most string bytes in a whole document. The per-item limits alone would still allow
/// millions of patterns; this caps the matching work one request can cause.
pub const MAX_TOTAL_BYTES: usize = 20_480;

const S3_ARN_PREFIX: &str = "arn:aws:s3:::";
const CONDITION_KEY_PREFIXES: [&str; 3] = ["s3:", "aws:", "cognito-identity.amazonaws.com:"];
const STATEMENT_FIELDS: [&str; 5] = ["Sid", "Effect", "Action", "Resource", "Condition"];
/// Known policy variables; [`Variables::get`] maps each index to its value.
const VARIABLES: [&str; 3] = [
    "cognito-identity.amazonaws.com:sub",
    "cognito-identity.amazonaws.com:aud",
    "cognito-identity.amazonaws.com:amr",
];

/// A validation error, naming where in the document it was found (e.g. `Statement[1].Effect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

fn err<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, PolicyError> {
    let (path, message) = (path.into(), message.into());
    Err(PolicyError { path, message })
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_str() {
            "" => f.write_str(&self.message),
            path => write!(f, "{path}: {}", self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Outcome of evaluating a document against a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A Deny statement matched; nothing else can grant access.
    ExplicitDeny,
    /// No statement granted access.
    ImplicitDeny,
}

/// Values of the policy variables for one request; `None` means the request has no value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    /// `${cognito-identity.amazonaws.com:sub}`: the identity id.
    pub sub: Option<String>,
    /// `${cognito-identity.amazonaws.com:aud}`: the identity pool id.
    pub aud: Option<String>,
    /// `${cognito-identity.amazonaws.com:amr}`: the authentication method.
    pub amr: Option<String>,
}

impl Variables {
    pub fn identity(sub: impl Into<String>, aud: impl Into<String>) -> Self {
        let (sub, aud) = (Some(sub.into()), Some(aud.into()));
        Self {
            sub,
            aud,
            amr: None,
        }
    }

    /// Value of `VARIABLES[index]`.
    fn get(&self, index: usize) -> Option<&str> {
        match index {
            0 => self.sub.as_deref(),
            1 => self.aud.as_deref(),
            _ => self.amr.as_deref(),
        }
    }
}

/// Condition keys present in a request, e.g. `s3:prefix` → `us-east-1:abc/`. Key names
/// are matched case-insensitively, as in IAM.
pub type Context = BTreeMap<String, String>;

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// e.g. `s3:GetObject`
    pub action: &'a str,
    /// e.g. `arn:aws:s3:::photos/us-east-1:abc/cat.jpg`
    pub resource: &'a str,
    pub context: &'a Context,
    pub variables: &'a Variables,
}

/// A compiled wildcard pattern element. Literal `*`/`?` (from escapes, from variable values,
/// or under a non-`Like` operator) become `Char`, so they can never act as wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyOne,
    AnyRun,
}

fn wildcard_tokens(text: &str, wildcards: bool) -> impl Iterator<Item = Token> + '_ {
    text.chars().map(move |c| match c {
        '*' if wildcards => Token::AnyRun,
        '?' if wildcards => Token::AnyOne,
        c => Token::Char(c),
    })
}

/// Greedy two-pointer glob match: on a mismatch, retry from the last `*` with one more
/// character consumed. Worst case O(pattern × subject), never exponential.
fn wildcard_match(pattern: &[Token], subject: &[char]) -> bool {
    let (mut p, mut s) = (0, 0);
    // (pattern index just after the last `*`, subject index that `*` has consumed up to)
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(&c) = subject.get(s) {
        match pattern.get(p) {
            Some(Token::AnyRun) => {
                p += 1;
                backtrack = Some((p, s));
            }
            Some(Token::AnyOne) => (p, s) = (p + 1, s + 1),
            Some(Token::Char(expected)) if *expected == c => (p, s) = (p + 1, s + 1),
            _ => match backtrack {
                Some((star_p, star_s)) => {
                    backtrack = Some((star_p, star_s + 1));
                    (p, s) = (star_p, star_s + 1);
                }
                None => return false,
            },
        }
    }
    let rest = pattern.get(p..).unwrap_or_default();
    rest.iter().all(|t| *t == Token::AnyRun)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text as written; `*`/`?` in it are wildcards where the element allows them.
    Text(String),
    /// `${*}`, `${?}` or `${$}`: always a literal character.
    Escaped(char),
    /// Index into [`VARIABLES`].
    Variable(usize),
}

/// A string that may contain policy variables, kept with its source for re-serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    fn parse(source: &str, path: &str) -> Result<Self, PolicyError> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some((before, after)) = rest.split_once("${") {
            if !before.is_empty() {
                pieces.push(Piece::Text(before.to_owned()));
            }
            let Some((name, remainder)) = after.split_once('}') else {
                return err(path, "unterminated policy variable (\"${\" without \"}\")");
            };
            pieces.push(match name {
                "*" => Piece::Escaped('*'),
                "?" => Piece::Escaped('?'),
                "$" => Piece::Escaped('$'),
                // Variable names are condition keys, which IAM compares case-insensitively.
                _ => match VARIABLES.iter().position(|v| v.eq_ignore_ascii_case(name)) {
                    Some(index) => Piece::Variable(index),
                    None => return err(path, format!("unknown policy variable ${{{name}}}")),
                },
            });
            rest = remainder;
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }

    /// Substitutes variables. `None` when a referenced variable has no value: IAM then treats
    /// the element as not matching rather than substituting an empty string.
    fn tokens(&self, vars: &Variables, wildcards: bool) -> Option<Vec<Token>> {
        let mut out = Vec::with_capacity(self.source.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.extend(wildcard_tokens(text, wildcards)),
                Piece::Escaped(c) => out.push(Token::Char(*c)),
                Piece::Variable(i) => out.extend(vars.get(*i)?.chars().map(Token::Char)),
            }
        }
        Some(out)
    }
}

/// Expands the policy variables and escapes in `template` into a plain string.
pub fn substitute(template: &str, vars: &Variables) -> Result<String, PolicyError> {
    let mut out = String::with_capacity(template.len());
    for piece in Template::parse(template, "")?.pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Escaped(c) => out.push(c),
            Piece::Variable(i) => match vars.get(i) {
                Some(value) => out.push_str(value),
                None => {
                    return err(
                        "",
                        format!("${{{}}} has no value", VARIABLES.get(i).unwrap_or(&"")),
                    );
                }
            },
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    source: String,
    /// Lowercased: IAM action names are case-insensitive.
    pattern: Vec<Token>,
}

/// A supported condition operator: `Not` variants negate, `Like` variants enable wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    name: &'static str,
    negated: bool,
    wildcards: bool,
}

const fn operator(name: &'static str, negated: bool, wildcards: bool) -> Operator {
    Operator {
        name,
        negated,
        wildcards,
    }
}

const OPERATORS: [Operator; 4] = [
    // operator(name, negated, wildcards)
    operator("StringEquals", false, false),
    operator("StringNotEquals", true, false),
    operator("StringLike", false, true),
    operator("StringNotLike", true, true),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    operator: Operator,
    key: String,
    values: Vec<Template>,
}

impl Condition {
    /// Values for one key are ORed. An absent key fails the positive operators and satisfies
    /// the negated ones (IAM's behaviour). A value whose variable has no value makes the
    /// condition fail either way, as IAM treats the whole statement as not applying.
    fn holds(&self, ctx: &Context, vars: &Variables) -> bool {
        let found = ctx.iter().find(|(k, _)| k.eq_ignore_ascii_case(&self.key));
        let Some((_, actual)) = found else {
            return self.operator.negated;
        };
        let actual: Vec<char> = actual.chars().collect();
        let mut any = false;
        for value in &self.values {
            match value.tokens(vars, self.operator.wildcards) {
                Some(pattern) => any |= wildcard_match(&pattern, &actual),
                None => return false,
            }
        }
        any != self.operator.negated
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    sid: Option<String>,
    deny: bool,
    actions: Vec<Action>,
    resources: Vec<Template>,
    conditions: Vec<Condition>,
}

impl Statement {
    fn matches(&self, action: &[char], resource: &[char], req: &Request<'_>) -> bool {
        let vars = req.variables;
        self.actions
            .iter()
            .any(|a| wildcard_match(&a.pattern, action))
            && (self.resources.iter()).any(|r| {
                r.tokens(vars, true)
                    .is_some_and(|p| wildcard_match(&p, resource))
            })
            && self.conditions.iter().all(|c| c.holds(req.context, vars))
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        if let Some(sid) = &self.sid {
            obj.insert("Sid".into(), sid.as_str().into());
        }
        let effect = if self.deny { "Deny" } else { "Allow" };
        obj.insert("Effect".into(), effect.into());
        let actions = self.actions.iter().map(|a| a.source.as_str());
        obj.insert("Action".into(), compact_list(actions));
        let resources = self.resources.iter().map(|r| r.source.as_str());
        obj.insert("Resource".into(), compact_list(resources));
        let mut block: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for c in &self.conditions {
            let values = compact_list(c.values.iter().map(|v| v.source.as_str()));
            let keys = block.entry(c.operator.name).or_default();
            keys.insert(c.key.clone(), values);
        }
        if !block.is_empty() {
            let block = block
                .into_iter()
                .map(|(op, keys)| (op.into(), Value::Object(keys)));
            obj.insert("Condition".into(), Value::Object(block.collect()));
        }
        Value::Object(obj)
    }
}

/// One item serializes as a bare string, several as an array: the shortest IAM form.
fn compact_list<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    let mut items: Vec<Value> = items.map(Value::from).collect();
    match items.len() {
        1 => items.pop().unwrap_or_default(),
        _ => Value::Array(items),
    }
}

/// A validated policy document.
///
/// Serializes to its canonical IAM JSON form (see [`PolicyDocument::to_json`]); deserializing
/// re-validates, so a document read back from a token obeys the same rules as a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Validates an IAM policy document.
    pub fn parse(json: &Value) -> Result<Self, PolicyError> {
        Parser { total_bytes: 0 }.document(json)
    }

    /// Deny beats Allow, Allow beats the default (implicit) deny.
    #[must_use]
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let action: Vec<char> = req.action.to_ascii_lowercase().chars().collect();
        let resource: Vec<char> = req.resource.chars().collect();
        let mut allowed = false;
        for statement in &self.statements {
            if statement.matches(&action, &resource, req) {
                if statement.deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    #[must_use]
    pub fn allows(&self, req: &Request<'_>) -> bool {
        self.evaluate(req) == Decision::Allow
    }

    /// Canonical IAM JSON: `Statement` always an array, single-item lists as plain strings,
    /// condition operators and keys sorted.
    pub fn to_json(&self) -> Value {
        let statements = self.statements.iter().map(Statement::to_json).collect();
        let mut obj = Map::new();
        obj.insert("Version".into(), POLICY_VERSION.into());
        obj.insert("Statement".into(), Value::Array(statements));
        Value::Object(obj)
    }
}

impl Serialize for PolicyDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(deserializer)?;
        Self::parse(&json).map_err(D::Error::custom)
    }
}

/// Truncates names not yet length-checked before echoing them in an error.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// Strings of a list, each with its own JSON path.
type Items<'v> = Vec<(String, &'v str)>;

/// Validation state: tracks the document-wide byte budget.
struct Parser {
    total_bytes: usize,
}

impl Parser {
    fn charge(&mut self, text: &str, path: &str) -> Result<(), PolicyError> {
        if text.len() > MAX_STRING_BYTES {
            return err(path, format!("longer than {MAX_STRING_BYTES} bytes"));
        }
        self.total_bytes += text.len();
        if self.total_bytes > MAX_TOTAL_BYTES {
            return err(path, format!("document over {MAX_TOTAL_BYTES} bytes"));
        }
        Ok(())
    }

    fn string<'v>(&mut self, value: &'v Value, path: &str) -> Result<&'v str, PolicyError> {
        let Some(text) = value.as_str() else {
            return err(path, "must be a string");
        };
        self.charge(text, path)?;
        Ok(text)
    }

    /// A string or a non-empty array of strings, each returned with its own path.
    fn list<'v>(&mut self, value: &'v Value, path: &str) -> Result<Items<'v>, PolicyError> {
        let items = match value {
            Value::String(text) => {
                self.charge(text, path)?;
                return Ok(vec![(path.to_owned(), text.as_str())]);
            }
            Value::Array(items) => items,
            _ => return err(path, "must be a string or an array of strings"),
        };
        if items.is_empty() || items.len() > MAX_ENTRIES {
            return err(path, format!("must have 1 to {MAX_ENTRIES} entries"));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let text = self.string(item, &item_path)?;
            out.push((item_path, text));
        }
        Ok(out)
    }

    fn document(&mut self, json: &Value) -> Result<PolicyDocument, PolicyError> {
        let Some(obj) = json.as_object() else {
            return err("", "policy must be a JSON object");
        };
        let known = |k: &&String| matches!(k.as_str(), "Version" | "Statement");
        if let Some(key) = obj.keys().find(|k| !known(k)) {
            return err(
                shorten(key),
                "unknown field (supported: Version, Statement)",
            );
        }
        match obj.get("Version") {
            None => return err("Version", "is required"),
            Some(v) if v.as_str() != Some(POLICY_VERSION) => {
                return err("Version", format!("must be \"{POLICY_VERSION}\""));
            }
            Some(_) => {}
        }
        let items = match obj.get("Statement") {
            None => return err("Statement", "is required"),
            // IAM allows a lone statement object in place of a one-element array.
            Some(single @ Value::Object(_)) => {
                return Ok(PolicyDocument {
                    statements: vec![self.statement(single, "Statement")?],
                });
            }
            Some(Value::Array(items)) => items,
            Some(_) => return err("Statement", "must be an object or an array of objects"),
        };
        if items.is_empty() || items.len() > MAX_STATEMENTS {
            let message = format!("must have 1 to {MAX_STATEMENTS} statements");
            return err("Statement", message);
        }
        let statements = (items.iter().enumerate())
            .map(|(i, item)| self.statement(item, &format!("Statement[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(PolicyDocument { statements })
    }

    fn statement(&mut self, json: &Value, path: &str) -> Result<Statement, PolicyError> {
        let Some(obj) = json.as_object() else {
            return err(path, "must be an object");
        };
        if let Some(key) = obj.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
            let message = format!("unknown field (supported: {})", STATEMENT_FIELDS.join(", "));
            return err(format!("{path}.{}", shorten(key)), message);
        }
        let required = |field: &str| match obj.get(field) {
            Some(value) => Ok((value, format!("{path}.{field}"))),
            None => err(format!("{path}.{field}"), "is required"),
        };
        let sid = match obj.get("Sid") {
            Some(v) => Some(self.string(v, &format!("{path}.Sid"))?.to_owned()),
            None => None,
        };
        let deny = match required("Effect")? {
            (Value::String(s), _) if s == "Allow" => false,
            (Value::String(s), _) if s == "Deny" => true,
            (_, effect_path) => return err(effect_path, "must be \"Allow\" or \"Deny\""),
        };
        let (value, action_path) = required("Action")?;
        let actions = (self.list(value, &action_path)?.into_iter())
            .map(|(p, text)| parse_action(text, &p))
            .collect::<Result<_, _>>()?;
        let (value, resource_path) = required("Resource")?;
        let resources = (self.list(value, &resource_path)?.into_iter())
            .map(|(p, text)| parse_resource(text, &p))
            .collect::<Result<_, _>>()?;
        let conditions = match obj.get("Condition") {
            Some(c) => self.conditions(c, &format!("{path}.Condition"))?,
            None => Vec::new(),
        };
        Ok(Statement {
            sid,
            deny,
            actions,
            resources,
            conditions,
        })
    }

    fn conditions(&mut self, json: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
        let Some(obj) = json.as_object().filter(|o| !o.is_empty()) else {
            return err(path, "must be a non-empty object");
        };
        let mut conditions = Vec::new();
        for (op_name, block) in obj {
            let op_path = format!("{path}.{}", shorten(op_name));
            let Some(&operator) = OPERATORS.iter().find(|op| op.name == op_name) else {
                let names: Vec<_> = OPERATORS.iter().map(|op| op.name).collect();
                let message = format!("unsupported operator (supported: {})", names.join(", "));
                return err(op_path, message);
            };
            let Some(keys) = block.as_object() else {
                return err(op_path, "must be an object of condition keys");
            };
            if keys.is_empty() || keys.len() > MAX_ENTRIES {
                return err(op_path, format!("must have 1 to {MAX_ENTRIES} keys"));
            }
            for (key, values) in keys {
                let key_path = format!("{op_path}.{}", shorten(key));
                self.charge(key, &key_path)?;
                let known_prefix = CONDITION_KEY_PREFIXES.iter().any(|prefix| {
                    key.len() > prefix.len()
                        && key
                            .get(..prefix.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                });
                if !known_prefix || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    let expected =
                        "expected s3:<name>, aws:<name> or cognito-identity.amazonaws.com:<name>";
                    return err(key_path, format!("unsupported condition key ({expected})"));
                }
                let values = (self.list(values, &key_path)?.into_iter())
                    .map(|(p, text)| Template::parse(text, &p))
                    .collect::<Result<_, _>>()?;
                conditions.push(Condition {
                    operator,
                    key: key.clone(),
                    values,
                });
            }
        }
        Ok(conditions)
    }
}

fn parse_action(text: &str, path: &str) -> Result<Action, PolicyError> {
    let lower = text.to_ascii_lowercase();
    if lower != "*" {
        let Some(name) = lower.strip_prefix("s3:") else {
            return err(path, "only \"*\" and \"s3:<action>\" actions are supported");
        };
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '*' || c == '?';
        if name.is_empty() || !name.chars().all(valid_char) {
            return err(
                path,
                "action name may only use letters, digits, '*' and '?'",
            );
        }
    }
    let pattern = wildcard_tokens(&lower, true).collect();
    Ok(Action {
        source: text.to_owned(),
        pattern,
    })
}

fn parse_resource(text: &str, path: &str) -> Result<Template, PolicyError> {
    let bucket = text.strip_prefix(S3_ARN_PREFIX);
    if text != "*" && bucket.is_none_or(str::is_empty) {
        return err(path, "must be \"*\" or \"arn:aws:s3:::<bucket>[/<key>]\"");
    }
    Template::parse(text, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUB_VAR: &str = "${cognito-identity.amazonaws.com:sub}";

    /// Rows of a `|`-separated table; blank lines and `#` comments are skipped.
    fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
        let lines = table.lines().map(str::trim);
        let lines = lines.filter(|l| !l.is_empty() && !l.starts_with('#'));
        lines.map(|l| l.split('|').map(str::trim).collect())
    }

    fn decision(name: &str) -> Decision {
        match name {
            "Allow" => Decision::Allow,
            "Deny" => Decision::ExplicitDeny,
            "Implicit" => Decision::ImplicitDeny,
            _ => panic!("bad decision {name}"),
        }
    }

    fn policy(statements: Value) -> PolicyDocument {
        let doc = json!({"Version": POLICY_VERSION, "Statement": statements});
        PolicyDocument::parse(&doc).unwrap_or_else(|e| panic!("{e}"))
    }

    fn stmt(effect: &str, action: &str, resource: &str) -> Value {
        json!({"Effect": effect, "Action": action, "Resource": resource})
    }

    /// Evaluates with a context written as `key=value;key=value` (`-` for none).
    fn decide(
        doc: &PolicyDocument,
        action: &str,
        resource: &str,
        ctx: &str,
        vars: &Variables,
    ) -> Decision {
        let pairs = ctx.split(';').filter_map(|kv| kv.split_once('='));
        let context: Context = pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        doc.evaluate(&Request {
            action,
            resource,
            context: &context,
            variables: vars,
        })
    }

    #[test]
    fn action_and_resource_patterns() {
        let table = "
            # policy action | policy resource | request action | request resource | expected
            s3:GetObject | arn:aws:s3:::b/k | s3:GetObject | arn:aws:s3:::b/k | Allow
            s3:GetObject | arn:aws:s3:::b/k | s3:PutObject | arn:aws:s3:::b/k | Implicit
            s3:Get* | * | s3:GetObjectAcl | arn:aws:s3:::b/k | Allow
            s3:Get* | * | s3:PutObject | arn:aws:s3:::b/k | Implicit
            s3:* | * | s3:DeleteBucket | arn:aws:s3:::b | Allow
            * | * | s3:ListBucket | arn:aws:s3:::b | Allow
            s3:getobject | * | S3:GETOBJECT | arn:aws:s3:::b/k | Allow
            S3:Get?bject | * | s3:GetObject | arn:aws:s3:::b/k | Allow
            s3:GetObject | arn:aws:s3:::b/* | s3:GetObject | arn:aws:s3:::b/x/y.jpg | Allow
            s3:GetObject | arn:aws:s3:::b/* | s3:GetObject | arn:aws:s3:::b | Implicit
            s3:GetObject | arn:aws:s3:::b/?.jpg | s3:GetObject | arn:aws:s3:::b/a.jpg | Allow
            s3:GetObject | arn:aws:s3:::b/?.jpg | s3:GetObject | arn:aws:s3:::b/ab.jpg | Implicit
            # Resources are case-sensitive.
            s3:GetObject | arn:aws:s3:::b/*.jpg | s3:GetObject | arn:aws:s3:::b/x.JPG | Implicit
            s3:GetObject | arn:aws:s3:::B/* | s3:GetObject | arn:aws:s3:::b/x | Implicit
            # Escapes are literal characters.
            s3:GetObject | arn:aws:s3:::b/${*} | s3:GetObject | arn:aws:s3:::b/* | Allow
            s3:GetObject | arn:aws:s3:::b/${*} | s3:GetObject | arn:aws:s3:::b/x | Implicit
            s3:GetObject | arn:aws:s3:::b/${$}${?} | s3:GetObject | arn:aws:s3:::b/$? | Allow";
        for row in rows(table) {
            let doc = policy(json!([stmt("Allow", row[0], row[1])]));
            let got = decide(&doc, row[2], row[3], "-", &Variables::default());
            assert_eq!(got, decision(row[4]), "{row:?}");
        }
    }

    #[test]
    fn deny_overrides_allow_in_any_order() {
        let allow_all = stmt("Allow", "s3:*", "*");
        let deny_locked = stmt("Deny", "s3:Delete*", "arn:aws:s3:::b/locked/*");
        let deny_first = policy(json!([deny_locked, allow_all]));
        let deny_last = policy(json!([allow_all, deny_locked]));
        let deny_only = policy(json!([deny_locked]));
        let table = "
            # action | resource | with Allow | without Allow
            s3:DeleteObject | arn:aws:s3:::b/locked/x | Deny | Deny
            s3:DeleteObject | arn:aws:s3:::b/open/x | Allow | Implicit
            s3:GetObject | arn:aws:s3:::b/locked/x | Allow | Implicit";
        for row in rows(table) {
            let none = Variables::default();
            assert_eq!(
                decide(&deny_first, row[0], row[1], "-", &none),
                decision(row[2])
            );
            assert_eq!(
                decide(&deny_last, row[0], row[1], "-", &none),
                decision(row[2])
            );
            assert_eq!(
                decide(&deny_only, row[0], row[1], "-", &none),
                decision(row[3])
            );
        }
    }

    #[test]
    fn cognito_per_identity_policy() {
        let doc = policy(json!([
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::mybucket",
             "Condition": {"StringLike": {"s3:prefix": [format!("{SUB_VAR}/*")]}}},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": format!("arn:aws:s3:::mybucket/{SUB_VAR}/*")},
        ]));
        let table = "
            # sub (- = none) | action | resource after arn:aws:s3::: | context | expected
            us-east-1:abc | s3:ListBucket | mybucket | s3:prefix=us-east-1:abc/ | Allow
            us-east-1:abc | s3:ListBucket | mybucket | s3:prefix=us-east-1:abc/photos/ | Allow
            us-east-1:abc | s3:ListBucket | mybucket | s3:prefix=us-east-1:abc | Implicit
            us-east-1:abc | s3:ListBucket | mybucket | s3:prefix=us-east-1:other/ | Implicit
            us-east-1:abc | s3:ListBucket | mybucket | - | Implicit
            us-east-1:abc | s3:GetObject | mybucket/us-east-1:abc/cat.jpg | - | Allow
            us-east-1:abc | s3:PutObject | mybucket/us-east-1:abc/a/b.txt | - | Allow
            us-east-1:abc | s3:DeleteObject | mybucket/us-east-1:abc/cat.jpg | - | Allow
            us-east-1:abc | s3:GetObject | mybucket/us-east-1:other/cat.jpg | - | Implicit
            us-east-1:abc | s3:GetObject | otherbucket/us-east-1:abc/cat.jpg | - | Implicit
            us-east-1:abc | s3:DeleteBucket | mybucket | - | Implicit
            # Wildcards inside a variable's value are literal: they must not widen access.
            * | s3:GetObject | mybucket/us-east-1:other/cat.jpg | - | Implicit
            * | s3:ListBucket | mybucket | s3:prefix=us-east-1:other/ | Implicit
            * | s3:GetObject | mybucket/*/cat.jpg | - | Allow
            us-east-1:?bc | s3:GetObject | mybucket/us-east-1:abc/cat.jpg | - | Implicit
            # Without a value for the variable the statements do not apply.
            - | s3:GetObject | mybucket//cat.jpg | - | Implicit
            - | s3:ListBucket | mybucket | s3:prefix=/ | Implicit";
        for row in rows(table) {
            let sub = Some(row[0].to_owned()).filter(|s| s != "-");
            let vars = Variables {
                sub,
                ..Variables::default()
            };
            let resource = format!("arn:aws:s3:::{}", row[2]);
            let got = decide(&doc, row[1], &resource, row[3], &vars);
            assert_eq!(got, decision(row[4]), "{row:?}");
        }
    }

    #[test]
    fn condition_operators() {
        let vars = Variables::identity("us-east-1:abc", "us-east-1:pool");
        let table = r#"
            # Condition block | context | expected
            {"StringEquals": {"s3:prefix": "a/"}} | s3:prefix=a/ | Allow
            {"StringEquals": {"s3:prefix": "a/"}} | s3:prefix=b/ | Implicit
            {"StringEquals": {"s3:prefix": "a/"}} | - | Implicit
            {"StringEquals": {"s3:prefix": "a/*"}} | s3:prefix=a/x | Implicit
            {"StringEquals": {"s3:prefix": "a/*"}} | s3:prefix=a/* | Allow
            {"StringEquals": {"s3:prefix": ["x", "a/"]}} | s3:prefix=a/ | Allow
            {"StringEquals": {"S3:Prefix": "a/"}} | s3:prefix=a/ | Allow
            {"StringNotEquals": {"s3:prefix": "a/"}} | s3:prefix=a/ | Implicit
            {"StringNotEquals": {"s3:prefix": "a/"}} | s3:prefix=b/ | Allow
            {"StringNotEquals": {"s3:prefix": "a/"}} | - | Allow
            {"StringNotEquals": {"s3:prefix": ["a/", "b/"]}} | s3:prefix=b/ | Implicit
            {"StringLike": {"s3:prefix": "a/*"}} | s3:prefix=a/x | Allow
            {"StringLike": {"s3:prefix": "a/*"}} | - | Implicit
            {"StringNotLike": {"s3:prefix": "a/*"}} | s3:prefix=a/x | Implicit
            {"StringNotLike": {"s3:prefix": "a/*"}} | s3:prefix=b/x | Allow
            {"StringNotLike": {"s3:prefix": "a/*"}} | - | Allow
            {"StringEquals": {"s3:prefix": "${cognito-identity.amazonaws.com:sub}/"}} | s3:prefix=us-east-1:abc/ | Allow
            {"StringEquals": {"aws:x": "${cognito-identity.amazonaws.com:aud}"}} | aws:x=us-east-1:pool | Allow
            {"StringNotEquals": {"s3:prefix": "${cognito-identity.amazonaws.com:amr}"}} | s3:prefix=x | Implicit
            # Operators and keys are ANDed.
            {"StringLike": {"s3:prefix": "a/*"}, "StringEquals": {"s3:delimiter": "/"}} | s3:prefix=a/x;s3:delimiter=/ | Allow
            {"StringLike": {"s3:prefix": "a/*"}, "StringEquals": {"s3:delimiter": "/"}} | s3:prefix=a/x | Implicit
            {"StringLike": {"s3:prefix": "a/*", "s3:max-keys": "1?"}} | s3:prefix=a/x;s3:max-keys=100 | Implicit
            {"StringLike": {"s3:prefix": "a/*", "s3:max-keys": "1?"}} | s3:prefix=a/x;s3:max-keys=10 | Allow"#;
        for row in rows(table) {
            let condition: Value = serde_json::from_str(row[0]).expect("test JSON");
            let statement = json!({"Effect": "Allow", "Action": "s3:ListBucket",
                                   "Resource": "arn:aws:s3:::b", "Condition": condition});
            let doc = policy(json!([statement]));
            let got = decide(&doc, "s3:ListBucket", "arn:aws:s3:::b", row[1], &vars);
            assert_eq!(got, decision(row[2]), "{row:?}");
        }
    }

    #[test]
    fn validation_errors_name_their_path() {
        // Bare statements are wrapped in a valid document; `{"Version"...}` rows are whole.
        let table = r#"
            "policy" | | must be a JSON object
            {"Version": "2008-10-17", "Statement": []} | Version | must be "2012-10-17"
            {"Statement": []} | Version | is required
            {"Version": "2012-10-17"} | Statement | is required
            {"Version": "2012-10-17", "Statement": [], "Id": "x"} | Id | unknown field
            {"Version": "2012-10-17", "Statement": []} | Statement | must have 1 to 100
            {"Version": "2012-10-17", "Statement": "s"} | Statement | must be an object or an array
            {"Version": "2012-10-17", "Statement": {"Effect": "Allow"}} | Statement.Action | is required
            {"Action": "s3:*", "Resource": "*"} | Statement[0].Effect | is required
            {"Effect": "allow", "Action": "s3:*", "Resource": "*"} | Statement[0].Effect | must be "Allow" or "Deny"
            {"Effect": "Allow", "Resource": "*"} | Statement[0].Action | is required
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"} | Statement[0].Action | only "*" and "s3:<action>"
            {"Effect": "Allow", "Action": ["s3:GetObject", "iam:PassRole"], "Resource": "*"} | Statement[0].Action[1] | only
            {"Effect": "Allow", "Action": "s3:", "Resource": "*"} | Statement[0].Action | action name
            {"Effect": "Allow", "Action": "s3:Get${x}", "Resource": "*"} | Statement[0].Action | action name
            {"Effect": "Allow", "Action": [], "Resource": "*"} | Statement[0].Action | must have 1 to 100
            {"Effect": "Allow", "Action": 7, "Resource": "*"} | Statement[0].Action | must be a string or an array
            {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"} | Statement[0].NotAction | unknown field
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"} | Statement[0].Principal | unknown field
            {"Sid": 1, "Effect": "Allow", "Action": "s3:*", "Resource": "*"} | Statement[0].Sid | must be a string
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:iam::1:role/x"} | Statement[0].Resource | must be "*" or
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::"} | Statement[0].Resource | must be "*" or
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}"} | Statement[0].Resource | unknown policy variable ${aws:username}
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${cognito-identity.amazonaws.com:sub"} | Statement[0].Resource | unterminated
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {}} | Statement[0].Condition | non-empty
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}} | Statement[0].Condition.NumericLessThan | unsupported operator
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"ec2:Region": "x"}}} | Statement[0].Condition.StringEquals.ec2:Region | unsupported condition key
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"s3:": "x"}}} | Statement[0].Condition.StringEquals.s3: | unsupported condition key
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringLike": {"s3:prefix": ["a", "${x"]}}} | Statement[0].Condition.StringLike.s3:prefix[1] | unterminated
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringLike": {"s3:prefix": "${sub}"}}} | Statement[0].Condition.StringLike.s3:prefix | unknown policy variable"#;
        let mut cases: Vec<(Value, String, String)> = rows(table)
            .map(|row| {
                let json: Value = serde_json::from_str(row[0]).expect("test JSON");
                let whole = !json.is_object()
                    || json.get("Version").is_some()
                    || json.get("Statement").is_some();
                let json = if whole {
                    json
                } else {
                    json!({"Version": POLICY_VERSION, "Statement": [json]})
                };
                (json, row[1].to_owned(), row[2].to_owned())
            })
            .collect();
        // Limits: too many statements, too many actions, too long a string, too large a document.
        let doc = |statements: Value| json!({"Version": POLICY_VERSION, "Statement": statements});
        let ok = stmt("Allow", "s3:GetObject", "*");
        let many_actions =
            json!({"Effect": "Allow", "Action": vec!["s3:Get"; 101], "Resource": "*"});
        let arn = |len| format!("arn:aws:s3:::{}", "b".repeat(len));
        let big: Vec<Value> = (0..20)
            .map(|_| stmt("Allow", "s3:Get", &arn(2000)))
            .collect();
        let limits = [
            (
                doc(json!(vec![ok; 101])),
                "Statement",
                "must have 1 to 100 statements",
            ),
            (
                doc(json!([many_actions])),
                "Statement[0].Action",
                "must have 1 to 100 entries",
            ),
            (
                doc(json!([stmt("Allow", "s3:*", &arn(2048))])),
                "Statement[0].Resource",
                "longer than 2048 bytes",
            ),
            (
                doc(json!(big)),
                "Statement[10].Resource",
                "document over 20480 bytes",
            ),
        ];
        cases.extend(limits.map(|(json, path, msg)| (json, path.to_owned(), msg.to_owned())));
        for (json, path, fragment) in cases {
            let error = PolicyDocument::parse(&json).expect_err("should be refused");
            assert_eq!(error.path, path, "{json}: {error}");
            assert!(error.message.contains(&fragment), "{json}: {error}");
        }
    }

    #[test]
    fn error_display_and_single_statement_object() {
        let bad = json!({"Version": POLICY_VERSION,
                         "Statement": [stmt("Allow", "s3:*", "*"), stmt("Maybe", "s3:*", "*")]});
        let error = PolicyDocument::parse(&bad).expect_err("bad effect");
        let expected = r#"Statement[1].Effect: must be "Allow" or "Deny""#;
        assert_eq!(error.to_string(), expected);
        let single = policy(stmt("Allow", "s3:GetObject", "arn:aws:s3:::b/*"));
        let none = Variables::default();
        let got = decide(&single, "s3:GetObject", "arn:aws:s3:::b/k", "-", &none);
        assert_eq!(got, Decision::Allow);
    }

    #[test]
    fn serde_round_trip_is_canonical_and_revalidated() {
        let resource = format!("arn:aws:s3:::b/{SUB_VAR}/*");
        let doc = policy(json!({"Sid": "Own", "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [resource],
            "Condition": {"StringLike": {"s3:prefix": ["a/*"]},
                          "StringEquals": {"s3:delimiter": ["/", "|"]}}}));
        let canonical = json!({"Version": POLICY_VERSION, "Statement": [{"Sid": "Own",
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": resource,
            "Condition": {"StringEquals": {"s3:delimiter": ["/", "|"]},
                          "StringLike": {"s3:prefix": "a/*"}}}]});
        assert_eq!(doc.to_json(), canonical);
        let text = serde_json::to_string(&doc).expect("serializes");
        let back: PolicyDocument = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, doc);
        let bad = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}"#;
        let error = serde_json::from_str::<PolicyDocument>(bad).expect_err("revalidated");
        assert!(error.to_string().contains("Statement.Action"), "{error}");
    }

    #[test]
    fn substitute_variables_and_escapes() {
        let mut vars = Variables::identity("id*1", "pool");
        vars.amr = Some("authenticated".into());
        let table = "
            # template | expected output, or `error: fragment`
            a/${cognito-identity.amazonaws.com:sub}/b | a/id*1/b
            ${COGNITO-IDENTITY.AMAZONAWS.COM:AUD}:${cognito-identity.amazonaws.com:amr} | pool:authenticated
            ${*}${?}${$}$}{ | *?$$}{
            x${ | error: unterminated
            ${aws:userid} | error: unknown policy variable";
        for row in rows(table) {
            match (substitute(row[0], &vars), row[1].strip_prefix("error: ")) {
                (Ok(got), None) => assert_eq!(got, row[1]),
                (Err(e), Some(fragment)) => assert!(e.message.contains(fragment), "{e}"),
                (got, _) => panic!("{row:?}: got {got:?}"),
            }
        }
        let error = substitute(SUB_VAR, &Variables::default()).expect_err("no value");
        assert!(error.to_string().contains("has no value"), "{error}");
    }

    #[test]
    fn wildcard_matching_is_linear() {
        let long = "a".repeat(100_000);
        let table = "
            # pattern | subject (LONG = 100k 'a's) | expected
            * | | true
            | | true
            | a | false
            ? | | false
            a* | a | true
            *a | ba | true
            a*b*c | aXbYc | true
            a*b*c | aXbY | false
            ** | x | true
            a?c | abc | true
            a*a*a*a*a*a*a*b | LONG | false
            *a*a*a*a*a*a*a | LONG | true";
        for row in rows(table) {
            let tokens: Vec<Token> = wildcard_tokens(row[0], true).collect();
            let subject = if row[1] == "LONG" { &long } else { row[1] };
            let subject: Vec<char> = subject.chars().collect();
            assert_eq!(
                wildcard_match(&tokens, &subject).to_string(),
                row[2],
                "{row:?}"
            );
        }
        // The same pathological pattern through the public API.
        let pattern = "arn:aws:s3:::b/a*a*a*a*a*a*a*b";
        let doc = policy(json!([stmt("Allow", "s3:*", pattern)]));
        let resource = format!("arn:aws:s3:::b/{long}");
        let got = decide(&doc, "s3:GetObject", &resource, "-", &Variables::default());
        assert_eq!(got, Decision::ImplicitDeny);
    }
}
