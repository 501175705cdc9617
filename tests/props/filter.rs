//! The ListUsers filter: `attr = "v"` / `attr ^= "v"` (joined by `and`) round-trips through
//! render → parse for every attribute and value (quotes and backslashes escaped); anything
//! else is `InvalidParameter`, never a 500 or a silently different filter.

use crate::{check, hostile_string};
use poolgate::error::{ErrorKind, Result};
use poolgate::model::{
    CustomAttribute, CustomAttributeType, FilterCondition, FilterField, FilterOp, Pool,
    PoolSettings, UserFilter,
};
use proptest::prelude::*;

/// The conditions of the filter `input` parses into.
fn parse_filter(pool: &Pool, input: &str) -> Result<Vec<FilterCondition>> {
    UserFilter::parse_cognito(pool, input).map(|f| f.conditions)
}

fn op(prefix: bool) -> FilterOp {
    if prefix {
        FilterOp::StartsWith
    } else {
        FilterOp::Equals
    }
}

fn pool(case_sensitive: bool) -> Pool {
    let mut settings = PoolSettings {
        username_case_sensitive: case_sensitive,
        ..PoolSettings::default()
    };
    settings.custom_attributes.push(CustomAttribute {
        name: "tier".into(),
        attribute_type: CustomAttributeType::String,
        mutable: true,
        required: false,
        min_length: None,
        max_length: None,
        min_value: None,
        max_value: None,
    });
    Pool {
        id: "us-east-1_Props".into(),
        name: "props".into(),
        settings,
        created_at: 0,
        updated_at: 0,
    }
}

const STATUSES: &[&str] = &[
    "UNCONFIRMED",
    "CONFIRMED",
    "FORCE_CHANGE_PASSWORD",
    "RESET_REQUIRED",
    "EXTERNAL_PROVIDER",
];

/// A condition the grammar accepts, and the `FilterCondition` it must parse to.
fn condition(
    case_sensitive: bool,
) -> impl Strategy<Value = (String, bool, String, FilterCondition)> {
    let attr = prop::sample::select(
        &[
            "email",
            "phone_number",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "sub",
            "email_verified",
            "custom:tier",
        ][..],
    );
    let free = (attr, any::<bool>(), hostile_string(16)).prop_map(|(a, prefix, v)| {
        let f = FilterCondition {
            field: FilterField::Attribute(a.to_owned()),
            op: op(prefix),
            value: v.clone(),
        };
        (a.to_owned(), prefix, v, f)
    });
    let username = (any::<bool>(), hostile_string(16)).prop_map(move |(prefix, v)| {
        let value = if case_sensitive {
            v.clone()
        } else {
            v.to_lowercase()
        };
        let f = FilterCondition {
            field: FilterField::Username,
            op: op(prefix),
            value,
        };
        ("username".to_owned(), prefix, v, f)
    });
    let status = (
        prop::sample::select(&["status", "cognito:user_status"][..]),
        prop::sample::select(STATUSES),
    )
        .prop_map(|(a, s)| {
            let f = FilterCondition {
                field: FilterField::Status,
                op: FilterOp::Equals,
                value: s.to_owned(),
            };
            (a.to_owned(), false, s.to_owned(), f)
        });
    let status_prefix = hostile_string(6).prop_map(|v| {
        let f = FilterCondition {
            field: FilterField::Status,
            op: FilterOp::StartsWith,
            value: v.clone(),
        };
        ("status".to_owned(), true, v, f)
    });
    let enabled = any::<bool>().prop_map(|b| {
        let v = b.to_string();
        let f = FilterCondition {
            field: FilterField::Enabled,
            op: FilterOp::Equals,
            value: v.clone(),
        };
        ("enabled".to_owned(), false, v, f)
    });
    prop_oneof![4 => free, 2 => username, 1 => status, 1 => status_prefix, 1 => enabled]
}

fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whitespace the parser must skip: none where it is optional, some where it is required.
fn space(required: bool) -> impl Strategy<Value = String> {
    let min = usize::from(required);
    prop::collection::vec(
        prop::sample::select(&[" ", "  ", "\t", "\n", "\u{a0}", "\u{3000}"][..]),
        min..3,
    )
    .prop_map(|s| s.concat())
}

type Rendered = (
    Vec<(String, bool, String, FilterCondition)>,
    Vec<(String, String, String, String)>,
    String,
);

fn rendered(case_sensitive: bool) -> impl Strategy<Value = Rendered> {
    (1usize..=8)
        .prop_flat_map(move |n| {
            (
                prop::collection::vec(condition(case_sensitive), n),
                prop::collection::vec((space(false), space(false), space(false), space(true)), n),
                prop::sample::select(&["and", "AND", "And", "aNd"][..]),
                space(false),
            )
        })
        .prop_map(|(conds, spaces, and, trailing)| {
            let spaces: Vec<(String, String, String, String)> = spaces;
            (conds, spaces, format!("{and}{trailing}"))
        })
}

fn render(
    conds: &[(String, bool, String, FilterCondition)],
    spaces: &[(String, String, String, String)],
    and: &str,
) -> String {
    let mut out = String::new();
    for (i, ((attr, prefix, value, _), (s0, s1, s2, s3))) in conds.iter().zip(spaces).enumerate() {
        if i > 0 {
            out.push_str(s3);
            out.push_str(and.trim_end());
            out.push_str(s3);
        }
        out.push_str(s0);
        out.push_str(attr);
        out.push_str(s1);
        out.push_str(if *prefix { "^=" } else { "=" });
        out.push_str(s2);
        out.push_str(&quote(value));
    }
    out
}

#[test]
fn prop_filter_grammar_round_trips() {
    for case_sensitive in [false, true] {
        let name = format!("filter_round_trip_{case_sensitive}");
        check(
            &name,
            256,
            rendered(case_sensitive),
            |(conds, spaces, and)| {
                let text = render(&conds, &spaces, &and);
                let want: Vec<FilterCondition> = conds.iter().map(|c| c.3.clone()).collect();
                if text.len() > 1024 {
                    let e = parse_filter(&pool(case_sensitive), &text).unwrap_err();
                    prop_assert_eq!(e.kind, ErrorKind::InvalidParameter);
                    return Ok(());
                }
                match parse_filter(&pool(case_sensitive), &text) {
                    Ok(got) => prop_assert_eq!(got, want, "{:?}", text),
                    Err(e) => prop_assert!(false, "{:?} refused: {}", text, e.message),
                }
                Ok(())
            },
        );
    }
}

/// Breaks a valid filter in one place; the result is `InvalidParameter` with a message.
#[derive(Debug, Clone)]
enum Break {
    UnknownAttribute(String),
    Operator(&'static str),
    Unquoted,
    SingleQuotes,
    Unterminated,
    TrailingBackslash,
    Joiner(&'static str),
    Trailing(&'static str),
    BadStatus(String),
    BadEnabled(String),
    EnabledPrefix,
    TooMany(usize),
    TooLong(usize),
    Empty(&'static str),
}

fn breakage() -> impl Strategy<Value = Break> {
    prop_oneof![
        prop_oneof![
            Just("custom:unknown".to_owned()),
            Just("Email".to_owned()),
            Just("password".to_owned()),
            Just("password_hash".to_owned()),
            Just("custom:".to_owned()),
            Just("pool_id".to_owned()),
            "[a-z_:]{1,12}",
        ]
        .prop_filter("known", |a| {
            ![
                "email",
                "phone_number",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "sub",
                "email_verified",
                "phone_number_verified",
                "custom:tier",
                "username",
                "status",
                "cognito:user_status",
                "enabled",
                "address",
                "birthdate",
                "gender",
                "locale",
                "middle_name",
                "nickname",
                "picture",
                "profile",
                "updated_at",
                "website",
                "zoneinfo",
            ]
            .contains(&a.as_str())
        })
        .prop_map(Break::UnknownAttribute),
        prop::sample::select(&["==", "!=", "~=", "^", "$=", ">", "<", ":", "in", "= ="][..])
            .prop_map(Break::Operator),
        Just(Break::Unquoted),
        Just(Break::SingleQuotes),
        Just(Break::Unterminated),
        Just(Break::TrailingBackslash),
        prop::sample::select(&["or", "&&", ",", ";", "andd", "an", ""][..]).prop_map(Break::Joiner),
        prop::sample::select(&["x", "\"", "and", "and ", ")", "="][..]).prop_map(Break::Trailing),
        hostile_string(10)
            .prop_filter("valid", |s| !STATUSES.contains(&s.as_str()))
            .prop_map(Break::BadStatus),
        hostile_string(6)
            .prop_filter("valid", |s| s != "true" && s != "false")
            .prop_map(Break::BadEnabled),
        Just(Break::EnabledPrefix),
        (9usize..20).prop_map(Break::TooMany),
        (1025usize..2000).prop_map(Break::TooLong),
        prop::sample::select(&["", " ", "\t\n", "\"x\"", "= \"x\""][..]).prop_map(Break::Empty),
    ]
}

#[test]
fn prop_filter_anything_else_is_invalid_parameter() {
    check("filter_breakage", 512, breakage(), |b| {
        let text = match &b {
            Break::UnknownAttribute(a) => format!("{a} = \"x\""),
            Break::Operator(op) => format!("email {op} \"x\""),
            Break::Unquoted => "email = x".to_owned(),
            Break::SingleQuotes => "email = 'x'".to_owned(),
            Break::Unterminated => "email = \"x".to_owned(),
            Break::TrailingBackslash => "email = \"x\\".to_owned(),
            Break::Joiner(j) => format!("email = \"x\" {j} name = \"y\""),
            Break::Trailing(t) => format!("email = \"x\" {t}"),
            Break::BadStatus(s) => format!("status = {}", quote(s)),
            Break::BadEnabled(s) => format!("enabled = {}", quote(s)),
            Break::EnabledPrefix => "enabled ^= \"t\"".to_owned(),
            Break::TooMany(n) => vec!["email ^= \"a\""; *n].join(" and "),
            Break::TooLong(n) => format!("email = \"{}\"", "a".repeat(*n)),
            Break::Empty(s) => (*s).to_owned(),
        };
        match parse_filter(&pool(false), &text) {
            Ok(f) => prop_assert!(false, "{:?} accepted as {:?}", text, f),
            Err(e) => {
                prop_assert_eq!(e.kind, ErrorKind::InvalidParameter, "{:?}", text);
                prop_assert!(e.message.starts_with("Invalid filter: "), "{}", e.message);
            }
        }
        Ok(())
    });
}

/// Arbitrary strings over the grammar's own alphabet: `InvalidParameter` or a filter whose
/// canonical rendering parses back to the same conditions.
#[test]
fn prop_filter_garbage_is_invalid_parameter_or_canonical() {
    let alphabet = prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(&["email", "username", "status", "enabled", "custom:tier",
                "sub", "and", " ", "=", "^=", "^", "\"", "\\", "x", "CONFIRMED", "true"][..]),
            1 => prop::sample::select(&["\0", "é", "\u{202e}", "'", "\t", "custom:", "AND"][..]),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat());
    let p = pool(false);
    check("filter_garbage", 1024, alphabet, |text| {
        match parse_filter(&p, &text) {
            Ok(filters) => {
                prop_assert!(!filters.is_empty() && filters.len() <= 8);
                let canonical: Vec<String> = filters
                    .iter()
                    .map(|f| {
                        let attr = match &f.field {
                            FilterField::Attribute(a) => a.clone(),
                            FilterField::Username => "username".into(),
                            FilterField::Status => "status".into(),
                            FilterField::Enabled => "enabled".into(),
                        };
                        format!(
                            "{attr} {} {}",
                            if f.op == FilterOp::StartsWith {
                                "^="
                            } else {
                                "="
                            },
                            quote(&f.value)
                        )
                    })
                    .collect();
                let again = parse_filter(&p, &canonical.join(" and ")).expect("canonical parses");
                prop_assert_eq!(again, filters);
            }
            Err(e) => prop_assert_eq!(e.kind, ErrorKind::InvalidParameter),
        }
        Ok(())
    });
}

/// Any text at all: a filter or `InvalidParameter`, never a panic.
#[test]
fn prop_filter_any_text_is_a_filter_or_invalid_parameter() {
    let text = prop_oneof![hostile_string(64), any::<String>()];
    let p = pool(false);
    check("filter_any_text", 1024, text, |text| {
        if let Err(e) = UserFilter::parse_cognito(&p, &text) {
            prop_assert_eq!(e.kind, ErrorKind::InvalidParameter, "{:?}", text);
        }
        Ok(())
    });
}
