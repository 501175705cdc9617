//! SRP inputs: the client's `SRP_A`, our stored `SRP_B`/b/verifier, the `TIMESTAMP` and the
//! `PASSWORD_CLAIM_SIGNATURE`. The group prime is copied from RFC 3526 here, independently of
//! the module under test.

use crate::{check, hostile_string};
use crypto_bigint::U3072;
use poolgate::crypto::srp::{self, SrpError};
use proptest::prelude::*;

const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

fn n() -> U3072 {
    U3072::from_be_hex(N_HEX)
}

fn minimal(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

/// Hex of `bytes` as a client might send it: random case per digit, optional leading zeros
/// (within the 1024-character limit), odd length allowed (one leading `0` nibble dropped).
fn client_hex(bytes: &[u8], upper: &[bool], zeros: usize, drop_nibble: bool) -> String {
    let mut hex = hex::encode(bytes);
    if drop_nibble && hex.starts_with('0') && hex.len() > 1 {
        hex.remove(0);
    }
    let hex: String = hex
        .chars()
        .zip(upper.iter().cycle())
        .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
        .collect();
    let zeros = zeros.min(1024usize.saturating_sub(hex.len()));
    format!("{}{hex}", "0".repeat(zeros))
}

/// Integers 0 < A < N as big-endian bytes: short values and full 384-byte values whose top
/// byte is below N's (0xFF), so every one is a group element.
fn group_element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..64),
        (0u8..0xFF, prop::collection::vec(any::<u8>(), 383)).prop_map(|(top, rest)| [
            vec![top],
            rest
        ]
        .concat()),
    ]
    .prop_filter("non-zero", |b| b.iter().any(|&x| x != 0))
}

#[test]
fn prop_parse_a_accepts_every_spelling_of_a_group_element() {
    let strategy = (
        group_element(),
        prop::collection::vec(any::<bool>(), 1..8),
        0usize..700,
        any::<bool>(),
    );
    check(
        "srp_parse_a_valid",
        256,
        strategy,
        |(a, upper, zeros, odd)| {
            let hex = client_hex(&a, &upper, zeros, odd);
            prop_assert_eq!(srp::parse_a(&hex), Ok(minimal(&a)), "{}", hex);
            Ok(())
        },
    );
}

/// Zero in any spelling, N + k (A ≡ k mod N is *not* reduced: refused), any value of more
/// than 384 bytes (≥ 2^3072 > N, which covers 2N, 3N, ...), and over-long spellings.
#[test]
fn prop_parse_a_refuses_zero_n_and_above() {
    let strategy = prop_oneof![
        (1usize..=1024).prop_map(|len| "0".repeat(len)),
        prop_oneof![Just(0u64), 0u64..16, any::<u64>()].prop_map(|k| {
            let a = n().wrapping_add(&U3072::from_u64(k));
            hex::encode(a.to_be_bytes())
        }),
        (1u8..=0xFF, prop::collection::vec(any::<u8>(), 384..400))
            .prop_map(|(top, rest)| hex::encode([vec![top], rest].concat())),
        (1usize..64).prop_map(|extra| format!("{}2", "0".repeat(1024 + extra - 1))),
    ];
    check("srp_parse_a_out_of_group", 256, strategy, |hex| {
        prop_assert_eq!(srp::parse_a(&hex), Err(SrpError::BadA), "{}", hex);
        Ok(())
    });
}

/// A valid A with one hostile character inserted or substituted (whitespace, sign, `0x`,
/// non-ASCII digits, fullwidth letters, NUL) is refused, never "mostly parsed".
#[test]
fn prop_parse_a_refuses_non_hex_mutations() {
    const NON_HEX: &[&str] = &[
        " ", "\t", "\n", "\0", "+", "-", "0x", "0X", "g", "G", "x", "٣", "Ａ", "ｆ", "é", "_", ",",
        "\u{a0}", "\u{feff}",
    ];
    let strategy = (
        group_element(),
        prop::sample::select(NON_HEX),
        any::<prop::sample::Index>(),
        any::<bool>(),
    );
    check(
        "srp_parse_a_non_hex",
        256,
        strategy,
        |(a, bad, at, replace)| {
            let hex = hex::encode(&a);
            let i = at.index(hex.len() + 1);
            let end = if replace { (i + 1).min(hex.len()) } else { i };
            let mutated = format!("{}{bad}{}", &hex[..i], &hex[end..]);
            prop_assert_eq!(srp::parse_a(&mutated), Err(SrpError::BadA), "{:?}", mutated);
            Ok(())
        },
    );
    assert_eq!(srp::parse_a(""), Err(SrpError::BadA));
}

/// Random strings over a hostile alphabet: refused unless they are plain hex of a group
/// element, in which case the value round-trips.
#[test]
fn prop_parse_a_on_garbage_is_bad_a_or_exact() {
    check("srp_parse_a_garbage", 512, hostile_string(40), |s| {
        match srp::parse_a(&s) {
            Ok(a) => {
                prop_assert!(!s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit()));
                let padded = if s.len() % 2 == 1 {
                    format!("0{s}")
                } else {
                    s.clone()
                };
                prop_assert_eq!(minimal(&hex::decode(padded).unwrap()), a);
            }
            Err(e) => prop_assert_eq!(e, SrpError::BadA),
        }
        Ok(())
    });
}

/// One honest exchange, then exactly one of A, SRP_B, b or v spoiled: `session_key` names
/// the spoiled input. The honest inputs give the same key twice (no hidden randomness).
#[test]
fn prop_session_key_names_the_bad_input() {
    let salt = [7u8; 16];
    let v = srp::verifier("AbC123", "user-1", "Pa55w0rd!", &salt);
    let (b, b_hex) = srp::server_ephemeral(&v).expect("server ephemeral");
    let a = srp::parse_a(&hex::encode([3u8; 200])).expect("A");
    let honest = srp::session_key(&a, &b_hex, &b, &v).expect("honest exchange");
    assert_eq!(srp::session_key(&a, &b_hex, &b, &v), Ok(honest));

    let n_bytes = n().to_be_bytes().to_vec();
    let out_of_group = prop_oneof![
        Just(vec![]),
        (1usize..400).prop_map(|len| vec![0u8; len]),
        Just(n_bytes.clone()),
        prop::collection::vec(any::<u8>(), 1..8)
            .prop_map(move |tail| [n_bytes.clone(), tail].concat()),
    ];
    let bad_b_hex = prop_oneof![
        Just(String::new()),
        Just(N_HEX.to_owned()),
        Just("0".repeat(1025)),
        hostile_string(12).prop_filter("not hex", |s| !s.bytes().all(|c| c.is_ascii_hexdigit())),
    ];
    let bad_secret = prop_oneof![
        Just(vec![]),
        (1usize..400).prop_map(|len| vec![0u8; len]),
        (385usize..500).prop_map(|len| vec![1u8; len]),
    ];
    let strategy = prop_oneof![
        out_of_group.clone().prop_map(|x| (0u8, x, String::new())),
        bad_b_hex.prop_map(|s| (1u8, vec![], s)),
        bad_secret.prop_map(|x| (2u8, x, String::new())),
        out_of_group.prop_map(|x| (3u8, x, String::new())),
    ];
    check("srp_session_key", 128, strategy, |(which, bytes, text)| {
        let got = match which {
            0 => srp::session_key(&bytes, &b_hex, &b, &v),
            1 => srp::session_key(&a, &text, &b, &v),
            2 => srp::session_key(&a, &b_hex, &bytes, &v),
            _ => srp::session_key(&a, &b_hex, &b, &bytes),
        };
        let want = [
            SrpError::BadA,
            SrpError::BadB,
            SrpError::BadB,
            SrpError::BadVerifier,
        ][which as usize];
        prop_assert_eq!(got, Err(want));
        Ok(())
    });
}

/// A zero or out-of-group verifier is refused before any B is made (a zero verifier would let
/// anyone sign in).
#[test]
fn prop_server_ephemeral_refuses_bad_verifiers() {
    let n_bytes = n().to_be_bytes().to_vec();
    let strategy = prop_oneof![
        (0usize..400).prop_map(|len| vec![0u8; len]),
        Just(n_bytes.clone()),
        prop::collection::vec(any::<u8>(), 385..390).prop_map(|mut x| {
            x[0] |= 1;
            x
        }),
        any::<u64>().prop_map(|k| n().wrapping_add(&U3072::from_u64(k)).to_be_bytes().to_vec()),
    ];
    check("srp_server_ephemeral", 64, strategy, |v| {
        prop_assert_eq!(srp::server_ephemeral(&v), Err(SrpError::BadVerifier));
        Ok(())
    });
}

/// Every instant from 1900 to 9999 formats to a TIMESTAMP that parses back to it; a string
/// that parses is the canonical form of its instant (a 2-digit day aside).
#[test]
fn prop_timestamps_round_trip_and_only_canonical_forms_parse() {
    let instants = -2_208_988_800i64..253_402_300_800;
    check("srp_timestamp_round_trip", 512, instants, |t| {
        prop_assert_eq!(srp::parse_timestamp(&srp::format_timestamp(t)), Some(t));
        Ok(())
    });
    let mutations = (
        -2_208_988_800i64..253_402_300_800,
        any::<prop::sample::Index>(),
        prop::sample::select(crate::HOSTILE_CHARS),
        0u8..3,
    );
    check(
        "srp_timestamp_mutations",
        1024,
        mutations,
        |(t, at, c, how)| {
            let mut chars: Vec<char> = srp::format_timestamp(t).chars().collect();
            let i = at.index(chars.len());
            match how {
                0 => chars[i] = c,
                1 => chars.insert(i, c),
                _ => {
                    chars.remove(i);
                }
            }
            let s: String = chars.into_iter().collect();
            if let Some(parsed) = srp::parse_timestamp(&s) {
                let canonical = srp::format_timestamp(parsed);
                let two_digit_day = {
                    let mut p: Vec<&str> = canonical.split(' ').collect();
                    let day = format!("{:0>2}", p[2]);
                    p[2] = &day;
                    p.join(" ")
                };
                prop_assert!(
                    s == canonical || s == two_digit_day,
                    "{s:?} parsed as {canonical:?}"
                );
            }
            Ok(())
        },
    );
}

/// The claim signature: the exact base64 (padded or not) verifies; any other 32 bytes, a
/// different timestamp or secret block, or garbage does not.
#[test]
fn prop_claim_signature_only_verifies_exactly() {
    let strategy = (
        any::<[u8; 16]>(),
        prop::collection::vec(any::<u8>(), 0..64),
        hostile_string(30),
        any::<prop::sample::Index>(),
        any::<u8>(),
        hostile_string(70),
    );
    check(
        "srp_signature",
        256,
        strategy,
        |(key, block, ts, at, flip, garbage)| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let sig = srp::signature(&key, "AbC123", "user-1", &block, &ts);
            let good = b64.encode(sig);
            prop_assert!(srp::verify_signature(
                &key, "AbC123", "user-1", &block, &ts, &good
            ));
            prop_assert!(srp::verify_signature(
                &key,
                "AbC123",
                "user-1",
                &block,
                &ts,
                good.trim_end_matches('=')
            ));
            let mut bad = sig;
            bad[at.index(32)] ^= flip | 1;
            let bad = b64.encode(bad);
            prop_assert!(!srp::verify_signature(
                &key, "AbC123", "user-1", &block, &ts, &bad
            ));
            let other_ts = format!("{ts} ");
            prop_assert!(!srp::verify_signature(
                &key, "AbC123", "user-1", &block, &other_ts, &good
            ));
            let other_block = [block.as_slice(), b"x"].concat();
            prop_assert!(!srp::verify_signature(
                &key,
                "AbC123",
                "user-1",
                &other_block,
                &ts,
                &good
            ));
            prop_assert!(!srp::verify_signature(
                &key, "AbC123", "user-2", &block, &ts, &good
            ));
            if garbage != good && garbage.trim_end_matches('=') != good.trim_end_matches('=') {
                prop_assert!(!srp::verify_signature(
                    &key, "AbC123", "user-1", &block, &ts, &garbage
                ));
            }
            Ok(())
        },
    );
}
