//! `SRP_A` and the session key: any string is `BadA` or a group element that round-trips;
//! `session_key` with fuzzed A, B, b and v returns a typed error or a key, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::crypto::srp::{self, SrpError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match srp::parse_a(text) {
        Ok(a) => {
            assert!(!text.is_empty() && text.bytes().all(|c| c.is_ascii_hexdigit()));
            assert!(!a.is_empty() && a[0] != 0, "minimal big-endian");
            // Re-parsing its own hex gives the same value.
            assert_eq!(srp::parse_a(&hex(&a)), Ok(a.clone()));
            // Split the input into B hex, b and v for the second step.
            let third = data.len() / 3;
            let (b_hex, rest) = text.split_at(third);
            let (b, v) = rest.as_bytes().split_at(rest.len() / 2);
            match srp::session_key(&a, b_hex, b, v) {
                Ok(_) | Err(SrpError::BadB | SrpError::BadVerifier | SrpError::ZeroU) => {}
                Err(SrpError::BadA) => panic!("A was accepted by parse_a"),
            }
        }
        Err(e) => assert_eq!(e, SrpError::BadA),
    }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
