//! The Cognito protocol's SigV4 verifier on fuzzed requests: the input is split into method,
//! path, query, header lines and body at NUL bytes. The result must be a `SigError` (an
//! unsigned fuzz input cannot carry a valid signature for the fixed secret), never a panic.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use poolgate::http::sigv4::verify;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
    let (method, path, query) = (text(parts.next()), text(parts.next()), text(parts.next()));
    let header_block = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for line in header_block.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let now = 1_764_460_800;
    let result = verify(
        &method,
        &path,
        &query,
        &headers,
        body,
        &["fuzz-secret"],
        now,
    );
    assert!(result.is_err(), "an unsigned input verified: {headers:?}");
});
