//! Seeded property tests of the parsers that face hostile input: SRP values, the SigV4
//! canonical request, IAM policy documents, the ListUsers filter, JWT headers and the S3
//! object-key checker. Each property names the error value an input must produce, not only
//! "no panic"; generators mutate valid inputs as well as drawing hostile ones.
//!
//! Runs are reproducible: every property draws from a ChaCha RNG with a fixed seed and no
//! failure persistence. `POOLGATE_PROP_SEED=<u64>` explores another seed and
//! `POOLGATE_PROP_CASES=<n>` changes every property's case count (CI uses the defaults).
//! The `fuzz/` directory holds coverage-guided `cargo fuzz` targets for the same parsers.

mod filter;
mod jwt;
mod policy;
mod s3_key;
mod sigv4;
mod srp;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The seed CI runs with.
const DEFAULT_SEED: u64 = 0x706f_6f6c_6761_7465; // "poolgate"

fn seed() -> u64 {
    std::env::var("POOLGATE_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// A deterministic runner: ChaCha seeded from [`seed`] and the property's name (so adding a
/// property does not shift the inputs of the others), no persistence file, no forking.
pub fn runner(name: &str, cases: u32) -> TestRunner {
    let cases = std::env::var("POOLGATE_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed().to_le_bytes());
    // FNV-1a of the name spreads properties over the seed space.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    bytes[8..16].copy_from_slice(&h.to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `test` on `cases` inputs drawn from `strategy`; on failure panics with the shrunk
/// input and the seed to reproduce it.
pub fn check<S, F>(name: &str, cases: u32, strategy: S, test: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Result<(), TestCaseError>,
{
    let mut runner = runner(name, cases);
    match runner.run(&strategy, test) {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!(
            "property {name} failed (POOLGATE_PROP_SEED={}): {why}\nminimal input: {input:#?}",
            seed()
        ),
        Err(TestError::Abort(why)) => panic!("property {name} aborted: {why}"),
    }
}

/// One value drawn from `strategy` with the property's runner (for fixtures).
pub fn sample<S: Strategy>(name: &str, strategy: S) -> S::Value {
    let mut runner = runner(name, 1);
    strategy
        .new_tree(&mut runner)
        .expect("strategy draws a value")
        .current()
}

/// Characters attackers like: quotes, escapes, separators, controls, NUL, non-ASCII,
/// combining marks, right-to-left override, a lone surrogate's replacement.
pub const HOSTILE_CHARS: &[char] = &[
    '"', '\\', '\'', '/', '.', '*', '?', '$', '{', '}', '=', '^', '&', ';', ',', ':', '%', '+',
    ' ', '\t', '\n', '\r', '\0', '\u{7f}', '\u{a0}', '\u{2028}', '\u{202e}', '\u{301}', '\u{fffd}',
    'é', 'ß', 'İ', '😀', 'a', 'Z', '0', '9', '-', '_', '~',
];

/// A string of up to `max` characters, mostly from [`HOSTILE_CHARS`].
pub fn hostile_string(max: usize) -> impl Strategy<Value = String> {
    use proptest::prelude::*;
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(HOSTILE_CHARS),
            1 => any::<char>(),
        ],
        0..=max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}
