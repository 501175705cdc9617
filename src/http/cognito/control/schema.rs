//! A pool's schema on the Cognito protocol: `SchemaAttributeType` in a
//! request (Create/UpdateUserPool, AddCustomAttributes) and in an answer.

use super::super::Fault;
use super::super::wire::bad;
use crate::model::{CustomAttribute, CustomAttributeType, Pool};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// A constraint's number, which Cognito sends as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Text(String),
    Other(IgnoredAny),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StringConstraintsIn {
    #[serde(default)]
    min_length: Option<Number>,
    #[serde(default)]
    max_length: Option<Number>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NumberConstraintsIn {
    #[serde(default)]
    min_value: Option<Number>,
    #[serde(default)]
    max_value: Option<Number>,
}

/// One attribute of a request's schema.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SchemaAttributeIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    attribute_data_type: Option<String>,
    #[serde(default)]
    mutable: Option<bool>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    string_attribute_constraints: Option<StringConstraintsIn>,
    #[serde(default)]
    number_attribute_constraints: Option<NumberConstraintsIn>,
}

fn number(v: Option<Number>, section: &str, k: &str) -> Result<Option<i64>, Fault> {
    match v {
        None => Ok(None),
        Some(Number::Int(n)) => Ok(Some(n)),
        Some(Number::Text(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("{section}.{k} must be a number"))),
        Some(Number::Other(_)) => Err(bad(format!("{section}.{k} must be a number"))),
    }
}

fn length(v: Option<i64>) -> Result<Option<u32>, Fault> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| bad(format!("invalid value: integer `{n}`, expected u32")))
    })
    .transpose()
}

impl SchemaAttributeIn {
    /// A standard attribute marked required goes to `required`, a custom one
    /// to `custom`; `sub` and the server's own attributes are skipped.
    pub(super) fn apply(
        self,
        custom: &mut Vec<CustomAttribute>,
        required: &mut Vec<String>,
    ) -> Result<(), Fault> {
        use crate::model::attributes::SERVER_OWNED;
        let name = self
            .name
            .ok_or_else(|| bad("Schema attributes need a Name"))?;
        if name == "sub" || SERVER_OWNED.contains(&name.as_str()) {
            return Ok(());
        }
        if !name.starts_with("custom:")
            && crate::model::STANDARD_ATTRIBUTES.contains(&name.as_str())
        {
            if self.mutable == Some(false) {
                return Err(bad(format!(
                    "Standard attribute {name} cannot be made immutable here"
                )));
            }
            if self.required == Some(true) {
                required.push(name);
            }
            return Ok(());
        }
        let attribute_type = match self.attribute_data_type.as_deref().unwrap_or("String") {
            "String" => CustomAttributeType::String,
            "Number" => CustomAttributeType::Number,
            "Boolean" => CustomAttributeType::Boolean,
            "DateTime" => CustomAttributeType::DateTime,
            other => return Err(bad(format!("Unknown AttributeDataType {other}"))),
        };
        let (s, n) = (
            self.string_attribute_constraints.unwrap_or_default(),
            self.number_attribute_constraints.unwrap_or_default(),
        );
        let (sc, nc) = ("StringAttributeConstraints", "NumberAttributeConstraints");
        let min_length = number(s.min_length, sc, "MinLength")?;
        let max_length = number(s.max_length, sc, "MaxLength")?;
        custom.push(CustomAttribute {
            name: name.strip_prefix("custom:").unwrap_or(&name).to_owned(),
            attribute_type,
            mutable: self.mutable.unwrap_or(true),
            required: self.required.unwrap_or(false),
            min_length: length(min_length)?,
            max_length: length(max_length)?,
            min_value: number(n.min_value, nc, "MinValue")?,
            max_value: number(n.max_value, nc, "MaxValue")?,
        });
        Ok(())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StringConstraintsOut {
    min_length: Option<String>,
    max_length: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NumberConstraintsOut {
    min_value: Option<String>,
    max_value: Option<String>,
}

/// Cognito's `SchemaAttributeType` in an answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SchemaAttributeType {
    name: String,
    attribute_data_type: &'static str,
    developer_only_attribute: bool,
    mutable: bool,
    required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    string_attribute_constraints: Option<StringConstraintsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    number_attribute_constraints: Option<NumberConstraintsOut>,
}

impl SchemaAttributeType {
    fn plain(name: String, kind: &'static str, mutable: bool, required: bool) -> Self {
        Self {
            name,
            attribute_data_type: kind,
            developer_only_attribute: false,
            mutable,
            required,
            string_attribute_constraints: None,
            number_attribute_constraints: None,
        }
    }
}

fn custom_type(c: &CustomAttribute) -> SchemaAttributeType {
    let kind = match c.attribute_type {
        CustomAttributeType::String => "String",
        CustomAttributeType::Number => "Number",
        CustomAttributeType::Boolean => "Boolean",
        CustomAttributeType::DateTime => "DateTime",
    };
    let text = |v: Option<i64>| v.map(|v| v.to_string());
    let mut a =
        SchemaAttributeType::plain(format!("custom:{}", c.name), kind, c.mutable, c.required);
    if c.min_length.is_some() || c.max_length.is_some() {
        a.string_attribute_constraints = Some(StringConstraintsOut {
            min_length: text(c.min_length.map(i64::from)),
            max_length: text(c.max_length.map(i64::from)),
        });
    }
    if c.min_value.is_some() || c.max_value.is_some() {
        a.number_attribute_constraints = Some(NumberConstraintsOut {
            min_value: text(c.min_value),
            max_value: text(c.max_value),
        });
    }
    a
}

/// The pool's schema: `sub`, the standard attributes, the verified flags,
/// then its custom attributes.
pub(super) fn schema_attributes(p: &Pool) -> Vec<SchemaAttributeType> {
    let mut sub = SchemaAttributeType::plain("sub".into(), "String", false, true);
    sub.string_attribute_constraints = Some(StringConstraintsOut {
        min_length: Some("1".into()),
        max_length: Some("2048".into()),
    });
    let mut out = vec![sub];
    for name in crate::model::STANDARD_ATTRIBUTES {
        let kind = if *name == "updated_at" {
            "Number"
        } else {
            "String"
        };
        let required = p.settings.required_attributes.iter().any(|r| r == name);
        out.push(SchemaAttributeType::plain(
            (*name).into(),
            kind,
            true,
            required,
        ));
    }
    for name in ["email_verified", "phone_number_verified"] {
        out.push(SchemaAttributeType::plain(
            name.into(),
            "Boolean",
            true,
            false,
        ));
    }
    out.extend(p.settings.custom_attributes.iter().map(custom_type));
    out
}
