//! Fuzzed JWTs at the key ring's `verify` (an in-memory SQLite store with one ES256 pool key):
//! the first input byte picks a header prefix with our `kid`, so the fuzzer reaches the
//! algorithm and signature checks too. Nothing it builds may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolgate::clock::{Clock, ManualClock, SharedClock};
use poolgate::crypto::keys::KeyRing;
use poolgate::crypto::{MasterKey, Sealer};
use poolgate::model::{Pool, PoolSettings, SigningAlg};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const POOL: &str = "us-east-1_Fuzz";

struct Ring {
    rt: tokio::runtime::Runtime,
    ring: KeyRing,
    kid: String,
}

fn ring() -> &'static Ring {
    static RING: OnceLock<Ring> = OnceLock::new();
    RING.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let clock = Arc::new(ManualClock::new());
        let now = clock.now();
        let clock: SharedClock = clock;
        let (ring, kid) = rt.block_on(async {
            let store = poolgate::store::connect("sqlite::memory:", 1, Duration::from_secs(30))
                .await
                .unwrap();
            store.migrate().await.unwrap();
            let pool = Pool {
                id: POOL.into(),
                name: "fuzz".into(),
                settings: PoolSettings::default(),
                created_at: now,
                updated_at: now,
            };
            store.insert_pool(&pool).await.unwrap();
            let ring = KeyRing::new(store, Sealer::new(&MasterKey::generate(), "fuzz"), clock);
            ring.create_initial(POOL, SigningAlg::ES256).await.unwrap();
            let kid = ring.signing_key(POOL).await.unwrap().kid.clone();
            (ring, kid)
        });
        Ring { rt, ring, kid }
    })
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let r = ring();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rest = String::from_utf8_lossy(rest);
    let token = match mode % 3 {
        // The raw input as a token.
        0 => rest.into_owned(),
        // Our kid with a fuzzed alg and members; fuzzed payload and signature.
        1 => {
            let mut fields = rest.splitn(3, '.');
            let (alg_and_members, payload, sig) = (
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
                fields.next().unwrap_or(""),
            );
            let header = format!(r#"{{"kid":"{}",{alg_and_members}}}"#, r.kid);
            format!(
                "{}.{}.{}",
                b64url(header.as_bytes()),
                b64url(payload.as_bytes()),
                b64url(sig.as_bytes())
            )
        }
        // A fuzzed header JSON as is.
        _ => format!("{}.e30.", b64url(rest.as_bytes())),
    };
    let result = r.rt.block_on(
        r.ring
            .verify::<serde_json::Value>(POOL, &token, "http://fuzz"),
    );
    assert!(result.is_err(), "a fuzzed token verified: {token}");
});
