//! The ListUsers filter: `InvalidParameter`, or conditions whose canonical rendering parses
//! back to the same conditions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::error::ErrorKind;
use poolgate::model::{FilterField, Pool, PoolSettings};
use poolgate::user_pools::users::parse_filter;

fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out + "\""
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pool = Pool {
        id: "us-east-1_Fuzz".into(),
        name: "fuzz".into(),
        settings: PoolSettings::default(),
        created_at: 0,
        updated_at: 0,
    };
    match parse_filter(&pool, text) {
        Ok(filters) => {
            assert!(!filters.is_empty() && filters.len() <= 8);
            let canonical: Vec<String> = filters
                .iter()
                .map(|f| {
                    let attr = match &f.field {
                        FilterField::Attribute(a) => a.as_str(),
                        FilterField::Username => "username",
                        FilterField::Status => "status",
                        FilterField::Enabled => "enabled",
                    };
                    let op = if f.prefix { "^=" } else { "=" };
                    format!("{attr} {op} {}", quote(&f.value))
                })
                .collect();
            let again = parse_filter(&pool, &canonical.join(" and ")).expect("canonical parses");
            assert_eq!(again, filters);
        }
        Err(e) => assert_eq!(e.kind, ErrorKind::InvalidParameter),
    }
});
