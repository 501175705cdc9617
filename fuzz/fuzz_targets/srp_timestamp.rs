//! Cognito's `TIMESTAMP`: whatever parses is the canonical form of its instant (a 2-digit day
//! aside), and the claim signature check never panics on fuzzed base64.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::crypto::srp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = srp::parse_timestamp(text) {
        let canonical = srp::format_timestamp(t);
        let mut parts: Vec<String> = canonical.split(' ').map(str::to_owned).collect();
        parts[2] = format!("{:0>2}", parts[2]);
        assert!(
            text == canonical || text == parts.join(" "),
            "{text:?} vs {canonical:?}"
        );
    }
    let key = [7u8; 16];
    let _ = srp::verify_signature(&key, "AbC123", "user", data, text, text);
});
