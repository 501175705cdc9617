//! User attributes: the standard OpenID Connect set plus the pool's `custom:`
//! schema, with the checks Cognito makes (known names, formats, lengths,
//! required, mutability, the client's read/write lists).

use super::{AppClient, Attributes, CustomAttributeType, Pool};
use crate::error::{Error, Result};

/// Attributes the server owns: never written by a client.
pub const SERVER_OWNED: &[&str] = &[
    "sub",
    "email_verified",
    "phone_number_verified",
    "identities",
];

pub const MAX_VALUE_LEN: usize = 2048;

pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() >= 3
        && domain.len() <= 253
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// E.164: `+` then 4–15 digits.
pub fn is_valid_phone(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else {
        return false;
    };
    (4..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit())
}

/// Checks attributes a client writes (sign-up, update). `creating`: also
/// check the pool's required attributes.
pub fn validate_write(
    pool: &Pool,
    client: Option<&AppClient>,
    attrs: &Attributes,
    creating: bool,
) -> Result<()> {
    if attrs.len() > 64 {
        return Err(Error::invalid("too many attributes"));
    }
    for (name, value) in attrs {
        if SERVER_OWNED.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "Attribute {name} cannot be set by a client"
            )));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::invalid(format!(
                "Attribute {name} is longer than {MAX_VALUE_LEN} bytes"
            )));
        }
        if value.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::invalid(format!(
                "Attribute {name} contains control characters"
            )));
        }
        if let Some(custom) = name.strip_prefix("custom:") {
            let def = pool
                .settings
                .custom_attributes
                .iter()
                .find(|a| a.name == custom)
                .ok_or_else(|| {
                    Error::invalid(format!("Attribute does not exist in the schema: {name}"))
                })?;
            if !creating && !def.mutable {
                return Err(Error::invalid(format!("Attribute {name} is immutable")));
            }
            match def.attribute_type {
                CustomAttributeType::String | CustomAttributeType::DateTime => {
                    let n = value.chars().count() as u32;
                    if def.min_length.is_some_and(|m| n < m)
                        || def.max_length.is_some_and(|m| n > m)
                    {
                        return Err(Error::invalid(format!(
                            "Attribute {name} has an invalid length"
                        )));
                    }
                }
                CustomAttributeType::Number => {
                    let v: i64 = value.parse().map_err(|_| {
                        Error::invalid(format!("Attribute {name} must be a number"))
                    })?;
                    if def.min_value.is_some_and(|m| v < m) || def.max_value.is_some_and(|m| v > m)
                    {
                        return Err(Error::invalid(format!("Attribute {name} is out of range")));
                    }
                }
                CustomAttributeType::Boolean => {
                    if value != "true" && value != "false" {
                        return Err(Error::invalid(format!(
                            "Attribute {name} must be true or false"
                        )));
                    }
                }
            }
        } else if !crate::model::STANDARD_ATTRIBUTES.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "Attribute does not exist in the schema: {name}"
            )));
        }
        if name == "email" && !is_valid_email(value) {
            return Err(Error::invalid("Invalid email address format."));
        }
        if name == "phone_number" && !is_valid_phone(value) {
            return Err(Error::invalid(
                "Invalid phone number format: use E.164, e.g. +12065551234.",
            ));
        }
        if let Some(c) = client
            && !c.settings.write_attributes.is_empty()
            && !c.settings.write_attributes.iter().any(|w| w == name)
        {
            return Err(Error::not_authorized(format!(
                "A client attempted to write unauthorized attribute {name}"
            )));
        }
    }
    if creating {
        for req in &pool.settings.required_attributes {
            if attrs.get(req).is_none_or(|v| v.is_empty()) {
                return Err(Error::invalid(format!(
                    "Attributes did not conform to the schema: {req}: The attribute is required"
                )));
            }
        }
        for def in pool
            .settings
            .custom_attributes
            .iter()
            .filter(|a| a.required)
        {
            let key = format!("custom:{}", def.name);
            if attrs.get(&key).is_none_or(|v| v.is_empty()) {
                return Err(Error::invalid(format!(
                    "Attributes did not conform to the schema: {key}: The attribute is required"
                )));
            }
        }
    }
    Ok(())
}

/// Prefix of attributes the server keeps for itself (a pending new email or
/// phone number): never shown, never in tokens, never writable.
pub const INTERNAL_PREFIX: &str = "poolgate:";

/// The pending (unverified) new value of a contact attribute.
pub fn pending_key(attr: &str) -> String {
    format!("{INTERNAL_PREFIX}pending:{attr}")
}

/// The attributes without the server's internal ones.
pub fn public(attrs: &Attributes) -> Attributes {
    attrs
        .iter()
        .filter(|(k, _)| !k.starts_with(INTERNAL_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The attributes a client may read.
pub fn readable(client: Option<&AppClient>, attrs: &Attributes) -> Attributes {
    let attrs = &public(attrs);
    match client {
        Some(c) if !c.settings.read_attributes.is_empty() => attrs
            .iter()
            .filter(|(k, _)| {
                k.as_str() == "sub" || c.settings.read_attributes.iter().any(|r| r == *k)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => attrs.clone(),
    }
}

/// Masks a delivery destination the way Cognito does: `a***@e***`.
pub fn mask_destination(dest: &str) -> String {
    if let Some((local, domain)) = dest.split_once('@') {
        let l = local.chars().next().map(String::from).unwrap_or_default();
        let d = domain.chars().next().map(String::from).unwrap_or_default();
        format!("{l}***@{d}***")
    } else {
        let tail: String = dest
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("+*******{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_are_checked() {
        assert!(is_valid_email("alice@example.com"));
        assert!(!is_valid_email("alice@example"));
        assert!(!is_valid_email("alice example@x.com"));
        assert!(!is_valid_email("@x.com"));
        assert!(is_valid_phone("+12065551234"));
        assert!(!is_valid_phone("12065551234"));
        assert!(!is_valid_phone("+1206555x234"));
        assert_eq!(mask_destination("alice@example.com"), "a***@e***");
        assert_eq!(mask_destination("+12065551234"), "+*******1234");
    }
}
