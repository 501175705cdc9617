//! Which users a list shows: one filter type that every door's filter
//! syntax parses into (Cognito's `ListUsers` `Filter` today, SCIM's later)
//! and that the store translates to SQL (with every value bound).

use super::{Pool, STANDARD_ATTRIBUTES, UserStatus};
use crate::error::{Error, Result};

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterField {
    /// A standard or `custom:` attribute (validated against the schema).
    Attribute(String),
    /// The username (compared in its stored, normalised form).
    Username,
    Status,
    Enabled,
}

/// How a condition compares the field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// The whole field equals the value (`=`).
    Equals,
    /// The field starts with the value (`^=`).
    StartsWith,
}

/// One condition of a user filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterCondition {
    pub field: FilterField,
    pub op: FilterOp,
    /// Compared as written; for `Status` a status name, for `Enabled`
    /// `"true"` or `"false"`.
    pub value: String,
}

/// A user filter: the users for whom every condition holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilter {
    pub conditions: Vec<FilterCondition>,
}

impl UserFilter {
    /// The most conditions a filter may have.
    pub const MAX_CONDITIONS: usize = 8;
    /// The longest filter text accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Parses Cognito's `ListUsers` filter syntax, extended with `and`:
    /// `name op "value" [and name op "value" ...]`, where `op` is `=`
    /// (exact) or `^=` (prefix), values are double-quoted with `\` escaping
    /// the next character, and names are standard and `custom:` attributes
    /// of `pool`, `sub`, `username`, `status` (or `cognito:user_status`) and
    /// `enabled`. Anything else is `InvalidParameter` ("Invalid filter: ...").
    pub fn parse_cognito(pool: &Pool, input: &str) -> Result<UserFilter> {
        let bad = |why: &str| Error::invalid(format!("Invalid filter: {why}"));
        if input.len() > Self::MAX_LEN {
            return Err(bad("too long"));
        }
        let chars: Vec<char> = input.chars().collect();
        let mut i = 0;
        let mut out = vec![];
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' && chars[i] != '^'
            {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                return Err(bad("expected an attribute name"));
            }
            skip_ws(&mut i);
            let op = if chars.get(i) == Some(&'^') && chars.get(i + 1) == Some(&'=') {
                i += 2;
                FilterOp::StartsWith
            } else if chars.get(i) == Some(&'=') {
                i += 1;
                FilterOp::Equals
            } else {
                return Err(bad("expected = or ^="));
            };
            skip_ws(&mut i);
            if chars.get(i) != Some(&'"') {
                return Err(bad("values are quoted"));
            }
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(bad("unterminated value")),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if i + 1 < chars.len() => {
                        value.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            let prefix = op == FilterOp::StartsWith;
            let field = match name.as_str() {
                "status" | "cognito:user_status" => {
                    if !prefix && UserStatus::parse(&value).is_none() {
                        return Err(bad("unknown status"));
                    }
                    FilterField::Status
                }
                "username" => {
                    value = pool.normalize_username(&value);
                    FilterField::Username
                }
                "enabled" => {
                    if prefix || (value != "true" && value != "false") {
                        return Err(bad("enabled is \"true\" or \"false\""));
                    }
                    FilterField::Enabled
                }
                n if n == "sub"
                    || STANDARD_ATTRIBUTES.contains(&n)
                    || n == "email_verified"
                    || n == "phone_number_verified" =>
                {
                    FilterField::Attribute(n.to_owned())
                }
                n => match n.strip_prefix("custom:") {
                    Some(c) if pool.settings.custom_attributes.iter().any(|a| a.name == c) => {
                        FilterField::Attribute(n.to_owned())
                    }
                    _ => return Err(bad(&format!("unknown attribute {n}"))),
                },
            };
            out.push(FilterCondition { field, op, value });
            if out.len() > Self::MAX_CONDITIONS {
                return Err(bad("at most 8 conditions"));
            }
            skip_ws(&mut i);
            if i >= chars.len() {
                return Ok(UserFilter { conditions: out });
            }
            let word: String = chars[i..].iter().take(3).collect();
            if !word.eq_ignore_ascii_case("and")
                || chars.get(i + 3).is_some_and(|c| !c.is_whitespace())
            {
                return Err(bad("conditions are joined by `and`"));
            }
            i += 3;
        }
    }
}
