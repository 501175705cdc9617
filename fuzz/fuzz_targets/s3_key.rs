//! The gateway's object-key checks: a key accepted for a local bucket is 1 to 1,024 bytes; one
//! accepted for an upstream bucket also has no `.`, `..`, empty (but a trailing) segment,
//! leading `/` or NUL; a refused one is `InvalidArgument` or `KeyTooLongError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::gateway::{check_object_key, check_upstream_object_key};

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let refused = |code: &str| {
        assert!(
            code == "InvalidArgument" || code == "KeyTooLongError",
            "{code}"
        );
    };
    match check_object_key(key) {
        Ok(()) => assert!(!key.is_empty() && key.len() <= 1024),
        Err(e) => refused(e.code().as_str()),
    }
    match check_upstream_object_key(key) {
        Ok(()) => {
            assert!(key.len() <= 1024);
            let body = key.strip_suffix('/').unwrap_or(key);
            assert!(!body.is_empty() && !key.contains('\0'));
            assert!(
                body.split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..")
            );
        }
        Err(e) => refused(e.code().as_str()),
    }
});
