//! IAM policy documents: random structurally valid documents parse, re-serialize to a fixed
//! point and evaluate deterministically (Deny wins); each kind of malformation is refused with
//! the JSON path of the offending element and a message.

use crate::{check, hostile_string};
use poolgate::identity::policy::{Context, Decision, PolicyDocument, Request, Variables};
use proptest::prelude::*;
use serde_json::{Value, json};

const SUB: &str = "${cognito-identity.amazonaws.com:sub}";

fn one_or_many(items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items[0].clone())
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        prop::sample::select(
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:ListBucket",
                "S3:getobject"
            ][..]
        )
        .prop_map(str::to_owned),
        "s3:[A-Za-z0-9*?]{1,12}",
    ]
}

fn resource() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z0-9./-]{1,8}".boxed(),
        Just(SUB.to_owned()).boxed(),
        Just("${cognito-identity.amazonaws.com:AUD}".to_owned()).boxed(),
        prop::sample::select(&["*", "?", "${*}", "${?}", "${$}", "é", "/"][..])
            .prop_map(str::to_owned)
            .boxed(),
    ];
    prop_oneof![
        1 => Just("*".to_owned()),
        6 => ("[a-z0-9-]{1,10}", prop::collection::vec(piece, 0..5))
            .prop_map(|(bucket, key)| format!("arn:aws:s3:::{bucket}/{}", key.concat())),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(
        &[
            "StringEquals",
            "StringNotEquals",
            "StringLike",
            "StringNotLike",
        ][..],
    );
    let key = prop::sample::select(
        &[
            "s3:prefix",
            "S3:Prefix",
            "aws:SourceIp",
            "cognito-identity.amazonaws.com:amr",
        ][..],
    );
    let value = prop_oneof!["[a-z0-9/*?-]{0,8}", Just(format!("{SUB}/*"))];
    prop::collection::btree_map(
        op,
        prop::collection::btree_map(key, prop::collection::vec(value, 1..3), 1..3),
        1..3,
    )
    .prop_map(|ops| {
        let block: serde_json::Map<String, Value> = ops
            .into_iter()
            .map(|(op, keys)| {
                let keys = keys
                    .into_iter()
                    .map(|(k, vals)| (k.to_owned(), one_or_many(vals)))
                    .collect();
                (op.to_owned(), Value::Object(keys))
            })
            .collect();
        Value::Object(block)
    })
}

fn statement() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[A-Za-z0-9]{0,8}"),
        any::<bool>(),
        prop::collection::vec(action(), 1..4),
        prop::collection::vec(resource(), 1..4),
        prop::option::of(condition()),
    )
        .prop_map(|(sid, deny, actions, resources, condition)| {
            let mut s = json!({
                "Effect": if deny { "Deny" } else { "Allow" },
                "Action": one_or_many(actions),
                "Resource": one_or_many(resources),
            });
            if let Some(sid) = sid {
                s["Sid"] = sid.into();
            }
            if let Some(c) = condition {
                s["Condition"] = c;
            }
            s
        })
}

fn document() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(), 1..5).prop_map(|statements| {
        if statements.len() == 1 && statements[0]["Effect"] == "Allow" {
            // IAM's lone-object form.
            json!({ "Version": "2012-10-17", "Statement": statements[0] })
        } else {
            json!({ "Version": "2012-10-17", "Statement": statements })
        }
    })
}

#[derive(Debug, Clone)]
struct Req {
    action: String,
    resource: String,
    prefix: Option<String>,
    sub: Option<String>,
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            prop::sample::select(&["s3:GetObject", "s3:PutObject", "s3:ListBucket"][..])
                .prop_map(str::to_owned),
            "s3:[A-Za-z]{1,10}",
        ],
        ("[a-z0-9-]{1,10}", "[a-z0-9./*?-]{0,12}")
            .prop_map(|(b, k)| format!("arn:aws:s3:::{b}/{k}")),
        prop::option::of("[a-z0-9/*-]{0,10}"),
        prop::option::of("us-east-1:[a-f0-9-]{1,8}"),
    )
        .prop_map(|(action, resource, prefix, sub)| Req {
            action,
            resource,
            prefix,
            sub,
        })
}

fn evaluate(doc: &PolicyDocument, r: &Req) -> Decision {
    let mut context = Context::new();
    if let Some(p) = &r.prefix {
        context.insert("s3:prefix".into(), p.clone());
    }
    let variables = Variables {
        sub: r.sub.clone(),
        aud: Some("us-east-1:pool".into()),
        amr: None,
    };
    doc.evaluate(&Request {
        action: &r.action,
        resource: &r.resource,
        context: &context,
        variables: &variables,
    })
}

#[test]
fn prop_policy_valid_documents_parse_round_trip_and_evaluate_deterministically() {
    let strategy = (document(), prop::collection::vec(request(), 1..6));
    check("policy_valid", 256, strategy, |(json, requests)| {
        let doc = PolicyDocument::parse(&json);
        prop_assert!(doc.is_ok(), "{:?} refused: {:?}", json, doc);
        let doc = doc.unwrap();
        let canonical = doc.to_json();
        let again = PolicyDocument::parse(&canonical).expect("canonical form parses");
        prop_assert_eq!(&again, &doc);
        prop_assert_eq!(again.to_json(), canonical.clone());
        // Through serde as a token would carry it.
        let text = serde_json::to_string(&doc).unwrap();
        prop_assert_eq!(
            serde_json::from_str::<PolicyDocument>(&text).unwrap(),
            doc.clone()
        );

        let only_allows = !canonical["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Effect"] == "Deny");
        let mut deny_all = canonical.clone();
        deny_all["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Effect": "Deny", "Action": "*", "Resource": "*"}));
        let deny_all = PolicyDocument::parse(&deny_all).expect("with a deny-all statement");
        for r in &requests {
            let d = evaluate(&doc, r);
            prop_assert_eq!(d, evaluate(&doc, r));
            prop_assert_eq!(d, evaluate(&again, r));
            prop_assert_eq!(d == Decision::Allow, {
                let variables = Variables {
                    sub: r.sub.clone(),
                    aud: Some("us-east-1:pool".into()),
                    amr: None,
                };
                let mut context = Context::new();
                if let Some(p) = &r.prefix {
                    context.insert("s3:prefix".into(), p.clone());
                }
                doc.allows(&Request {
                    action: &r.action,
                    resource: &r.resource,
                    context: &context,
                    variables: &variables,
                })
            });
            if only_allows {
                prop_assert_ne!(d, Decision::ExplicitDeny);
            }
            prop_assert_eq!(evaluate(&deny_all, r), Decision::ExplicitDeny);
        }
        Ok(())
    });
}

/// One malformation applied to a valid document, with the path the error must name and a
/// fragment of its message.
#[derive(Debug, Clone)]
enum Break {
    Drop(&'static str),
    Version(Value),
    TopField(String),
    StatementField(String),
    Effect(Value),
    ActionText(String),
    ResourceText(String),
    Variable(String),
    Operator(String),
    ConditionKey(String),
    EmptyList(&'static str),
    TooLong(usize),
    NotAString(&'static str),
    Statements(Value),
}

fn breakage() -> impl Strategy<Value = Break> {
    prop_oneof![
        prop::sample::select(&["Version", "Statement", "Effect", "Action", "Resource"][..])
            .prop_map(Break::Drop),
        prop_oneof![
            Just(json!("2008-10-17")),
            Just(json!("2012-10-17 ")),
            Just(json!(20121017)),
            Just(Value::Null),
            hostile_string(12).prop_map(Value::String),
        ]
        .prop_map(Break::Version),
        "[A-Za-z]{1,10}"
            .prop_filter("known", |k| k != "Version" && k != "Statement")
            .prop_map(Break::TopField),
        prop_oneof!["[A-Za-z]{1,10}", hostile_string(80)]
            .prop_filter("known", |k| {
                !["Sid", "Effect", "Action", "Resource", "Condition"].contains(&k.as_str())
            })
            .prop_map(Break::StatementField),
        prop_oneof![
            Just(json!("allow")),
            Just(json!("ALLOW")),
            Just(json!(true)),
            Just(json!(["Allow"])),
            hostile_string(8).prop_map(Value::String),
        ]
        .prop_filter("valid", |v| v != "Allow" && v != "Deny")
        .prop_map(Break::Effect),
        prop_oneof![
            Just("iam:PassRole".to_owned()),
            Just("s3:".to_owned()),
            Just("s3:Get Object".to_owned()),
            Just("s3:${*}".to_owned()),
            Just("sts:*".to_owned()),
            Just(String::new()),
            "s3:[a-z]{0,4}[ /.:${}-][a-z]{0,4}",
        ]
        .prop_map(Break::ActionText),
        prop_oneof![
            Just("arn:aws:s3:::".to_owned()),
            Just("arn:aws:iam::123:role/x".to_owned()),
            Just("arn:aws:s3::".to_owned()),
            Just("**".to_owned()),
            Just(String::new()),
            hostile_string(10)
                .prop_filter("valid", |s| s != "*" && !s.starts_with("arn:aws:s3:::")),
        ]
        .prop_map(Break::ResourceText),
        prop_oneof![
            Just("${".to_owned()),
            Just("${cognito-identity.amazonaws.com:sub".to_owned()),
            Just("${aws:username}".to_owned()),
            Just("${}".to_owned()),
            "\\$\\{[a-z:.]{1,12}\\}".prop_filter("known", |v| {
                !["${*}", "${?}", "${$}"].contains(&v.as_str())
                    && !v.starts_with("${cognito-identity.amazonaws.com:")
            }),
        ]
        .prop_map(Break::Variable),
        prop_oneof![
            Just("StringEqualsIgnoreCase".to_owned()),
            Just("ForAnyValue:StringLike".to_owned()),
            Just("IpAddress".to_owned()),
            Just("stringequals".to_owned()),
            hostile_string(10),
        ]
        .prop_filter("valid", |o| {
            ![
                "StringEquals",
                "StringNotEquals",
                "StringLike",
                "StringNotLike",
            ]
            .contains(&o.as_str())
        })
        .prop_map(Break::Operator),
        prop_oneof![
            Just("s3:".to_owned()),
            Just("iam:prefix".to_owned()),
            Just("s3:pre fix".to_owned()),
            Just("s3:pre\u{0}fix".to_owned()),
            Just("prefix".to_owned()),
        ]
        .prop_map(Break::ConditionKey),
        prop::sample::select(&["Action", "Resource", "Statement"][..]).prop_map(Break::EmptyList),
        (2049usize..3000).prop_map(Break::TooLong),
        prop::sample::select(&["Sid", "Action", "Resource"][..]).prop_map(Break::NotAString),
        prop_oneof![
            Just(json!("not a statement")),
            Just(json!(42)),
            Just(json!([1])),
            Just(json!([[]])),
            Just(Value::Null),
        ]
        .prop_map(Break::Statements),
    ]
}

#[test]
fn prop_policy_malformed_documents_name_the_offending_element() {
    fn s1(doc: &mut Value) -> &mut Value {
        &mut doc["Statement"][1]
    }
    let base = || {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "s0", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::b/x"],
             "Condition": {"StringLike": {"s3:prefix": "a/*"}}},
        ]})
    };
    check("policy_malformed", 512, breakage(), |b| {
        let mut doc = base();
        let (path, fragment): (String, String) = match &b {
            Break::Drop(field @ ("Version" | "Statement")) => {
                doc.as_object_mut().unwrap().remove(*field);
                (field.to_string(), "is required".into())
            }
            Break::Drop(field) => {
                s1(&mut doc).as_object_mut().unwrap().remove(*field);
                (format!("Statement[1].{field}"), "is required".into())
            }
            Break::Version(v) => {
                doc["Version"] = v.clone();
                ("Version".into(), "2012-10-17".into())
            }
            Break::TopField(k) => {
                doc[k.as_str()] = json!(1);
                (k.clone(), "unknown field".into())
            }
            Break::StatementField(k) => {
                doc["Statement"][1][k.as_str()] = json!("x");
                let short: String = if k.chars().count() > 64 {
                    format!("{}...", k.chars().take(64).collect::<String>())
                } else {
                    k.clone()
                };
                (format!("Statement[1].{short}"), "unknown field".into())
            }
            Break::Effect(v) => {
                doc["Statement"][1]["Effect"] = v.clone();
                ("Statement[1].Effect".into(), "\"Allow\" or \"Deny\"".into())
            }
            Break::ActionText(a) => {
                doc["Statement"][1]["Action"] = json!(["s3:GetObject", a]);
                ("Statement[1].Action[1]".into(), "action".into())
            }
            Break::ResourceText(r) => {
                doc["Statement"][1]["Resource"] = json!(r);
                ("Statement[1].Resource".into(), "arn:aws:s3:::".into())
            }
            Break::Variable(v) => {
                doc["Statement"][1]["Resource"] =
                    json!(["arn:aws:s3:::b/x", format!("arn:aws:s3:::b/{v}/x")]);
                ("Statement[1].Resource[1]".into(), "variable".into())
            }
            Break::Operator(o) => {
                doc["Statement"][1]["Condition"] = json!({ o.as_str(): {"s3:prefix": "a"} });
                let short: String = if o.chars().count() > 64 {
                    format!("{}...", o.chars().take(64).collect::<String>())
                } else {
                    o.clone()
                };
                (
                    format!("Statement[1].Condition.{short}"),
                    "unsupported operator".into(),
                )
            }
            Break::ConditionKey(k) => {
                doc["Statement"][1]["Condition"] = json!({"StringEquals": { k.as_str(): "a" }});
                (
                    format!("Statement[1].Condition.StringEquals.{k}"),
                    "condition key".into(),
                )
            }
            Break::EmptyList("Statement") => {
                doc["Statement"] = json!([]);
                ("Statement".into(), "1 to 100".into())
            }
            Break::EmptyList(field) => {
                doc["Statement"][1][*field] = json!([]);
                (format!("Statement[1].{field}"), "1 to 100".into())
            }
            Break::TooLong(n) => {
                doc["Statement"][1]["Resource"] =
                    json!(format!("arn:aws:s3:::b/{}", "k".repeat(*n)));
                (
                    "Statement[1].Resource".into(),
                    "longer than 2048 bytes".into(),
                )
            }
            Break::NotAString(field) => {
                doc["Statement"][1][*field] = json!([{"x": 1}]);
                let path = if *field == "Sid" {
                    "Statement[1].Sid"
                } else {
                    ""
                };
                let path = if path.is_empty() {
                    format!("Statement[1].{field}[0]")
                } else {
                    path.into()
                };
                (path, "must be a string".into())
            }
            Break::Statements(v) => {
                let array = v.is_array();
                doc["Statement"] = v.clone();
                if array {
                    ("Statement[0]".into(), "must be an object".into())
                } else {
                    ("Statement".into(), "object".into())
                }
            }
        };
        match PolicyDocument::parse(&doc) {
            Ok(_) => prop_assert!(false, "{:?} accepted: {}", b, doc),
            Err(e) => {
                prop_assert_eq!(&e.path, &path, "{:?}: {}", b, e);
                prop_assert!(e.message.contains(&fragment), "{:?}: {}", b, e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        Ok(())
    });
}

/// Arbitrary JSON (hostile strings, wrong types, deep nesting): a parse error with a message,
/// or a document that round-trips. Never a panic.
#[test]
fn prop_policy_arbitrary_json_is_an_error_or_a_round_trip() {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        hostile_string(12).prop_map(Value::String),
        prop::sample::select(
            &[
                "2012-10-17",
                "Allow",
                "Deny",
                "*",
                "s3:GetObject",
                "arn:aws:s3:::b/*",
                "Version",
                "Statement",
                "Effect",
                "Action",
                "Resource",
                "Condition",
                "StringLike",
                "s3:prefix"
            ][..]
        )
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    let keys = prop::sample::select(
        &[
            "Version",
            "Statement",
            "Effect",
            "Action",
            "Resource",
            "Condition",
            "Sid",
            "StringLike",
            "StringEquals",
            "s3:prefix",
            "x",
        ][..],
    );
    let json = leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    });
    check("policy_arbitrary", 512, json, |json| {
        match PolicyDocument::parse(&json) {
            Ok(doc) => {
                let again = PolicyDocument::parse(&doc.to_json()).expect("canonical form parses");
                prop_assert_eq!(again, doc);
            }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
        Ok(())
    });
}
