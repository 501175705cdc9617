//! JWT headers at the key ring's `verify`: `alg` none/HS*/other families/unknown, the `kid`
//! (missing, another pool's, hostile), `jku`/`x5u`/`jwk`/`x5c` members pointing at an
//! attacker's key, signatures by an attacker or HMAC'd with our public key: each is a typed
//! rejection (`Malformed`, `UnknownKey`, or `Invalid`), never a token accepted.

use crate::{check, hostile_string};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use poolgate::clock::{Clock, ManualClock, SharedClock};
use poolgate::crypto::keys::{KeyRing, VerifyError};
use poolgate::crypto::{MasterKey, Sealer};
use poolgate::model::{Pool, PoolSettings, SigningAlg};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const POOL: &str = "us-east-1_PropsA";
const OTHER_POOL: &str = "us-east-1_PropsB";
const ISSUER: &str = "http://127.0.0.1/us-east-1_PropsA";

/// Algorithm names jsonwebtoken knows; any other `alg` cannot even be read.
const KNOWN_ALGS: &[&str] = &[
    "HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "EdDSA",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    ring: KeyRing,
    /// Pool A's ES256 key id and its public JWK.
    kid: String,
    jwk: Value,
    /// Pool B's RS256 key id.
    other_kid: String,
    /// A genuine pool A token.
    genuine: String,
    now: i64,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = Arc::new(ManualClock::new());
    let now = clock.now();
    let shared: SharedClock = clock;
    let ring = rt.block_on(async {
        let store = poolgate::store::connect("sqlite::memory:", 1, Duration::from_secs(30))
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        for id in [POOL, OTHER_POOL] {
            let pool = Pool {
                id: id.into(),
                name: id.into(),
                settings: PoolSettings::default(),
                created_at: now,
                updated_at: now,
            };
            store.insert_pool(&pool).await.expect("pool");
        }
        let ring = KeyRing::new(store, Sealer::new(&MasterKey::generate(), "props"), shared);
        ring.create_initial(POOL, SigningAlg::ES256)
            .await
            .expect("key A");
        ring.create_initial(OTHER_POOL, SigningAlg::RS256)
            .await
            .expect("key B");
        ring
    });
    let (kid, jwk, genuine, other_kid) = rt.block_on(async {
        let key = ring.signing_key(POOL).await.expect("signing key");
        let claims = json!({"iss": ISSUER, "sub": "user", "iat": now, "exp": now + 3600});
        let genuine = key.sign(&claims).expect("sign");
        let other = ring.signing_key(OTHER_POOL).await.expect("other key");
        (key.kid.clone(), key.jwk.clone(), genuine, other.kid.clone())
    });
    Fixture {
        rt,
        ring,
        kid,
        jwk,
        other_kid,
        genuine,
        now,
    }
}

impl Fixture {
    fn verify(&self, pool: &str, token: &str, issuer: &str) -> Result<Value, VerifyError> {
        self.rt
            .block_on(self.ring.verify::<Value>(pool, token, issuer))
    }
}

#[derive(Debug, Clone)]
enum Alg {
    Named(String),
    Missing,
    NotAString,
}

#[derive(Debug, Clone)]
enum Kid {
    Ours,
    OtherPool,
    Missing,
    Hostile(String),
    NotAString,
}

#[derive(Debug, Clone)]
enum Member {
    Jku(String),
    X5u(String),
    AttackerJwk,
    X5c,
    Typ(String),
}

#[derive(Debug, Clone)]
enum Sig {
    Attacker,
    HmacWithOurPublicKey,
    Genuine,
    Empty,
    Random(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Forged {
    alg: Alg,
    kid: Kid,
    members: Vec<Member>,
    sig: Sig,
}

fn forged() -> impl Strategy<Value = Forged> {
    let alg = prop_oneof![
        4 => prop::sample::select(KNOWN_ALGS).prop_map(|a| Alg::Named(a.to_owned())),
        2 => prop::sample::select(&["none", "None", "NONE", "nOnE", "", "es256", "ES256 ", "HS1",
            "ES512", "RSA-OAEP", "dir"][..]).prop_map(|a| Alg::Named(a.to_owned())),
        1 => hostile_string(8).prop_map(Alg::Named),
        1 => Just(Alg::Missing),
        1 => Just(Alg::NotAString),
    ];
    let kid = prop_oneof![
        4 => Just(Kid::Ours),
        1 => Just(Kid::OtherPool),
        1 => Just(Kid::Missing),
        2 => prop_oneof![
            Just("../../../../etc/passwd".to_owned()),
            Just("' OR '1'='1".to_owned()),
            Just("%00".to_owned()),
            Just("x".repeat(20_000)),
            hostile_string(40),
        ]
        .prop_map(Kid::Hostile),
        1 => Just(Kid::NotAString),
    ];
    let member = prop_oneof![
        Just(Member::Jku("https://attacker.example/jwks.json".into())),
        hostile_string(20).prop_map(Member::Jku),
        Just(Member::X5u("https://attacker.example/cert.pem".into())),
        Just(Member::AttackerJwk),
        Just(Member::X5c),
        hostile_string(8).prop_map(Member::Typ),
    ];
    let sig = prop_oneof![
        Just(Sig::Attacker),
        Just(Sig::HmacWithOurPublicKey),
        Just(Sig::Genuine),
        Just(Sig::Empty),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Sig::Random),
    ];
    (alg, kid, prop::collection::vec(member, 0..3), sig).prop_map(|(alg, kid, members, sig)| {
        Forged {
            alg,
            kid,
            members,
            sig,
        }
    })
}

#[test]
fn prop_jwt_forged_headers_get_a_typed_rejection() {
    let f = fixture();
    // Controls: the genuine token verifies; not for another pool or another issuer.
    assert!(f.verify(POOL, &f.genuine, ISSUER).is_ok());
    assert!(matches!(
        f.verify(OTHER_POOL, &f.genuine, ISSUER),
        Err(VerifyError::UnknownKey)
    ));
    assert!(matches!(
        f.verify(POOL, &f.genuine, "http://evil"),
        Err(VerifyError::Invalid(_))
    ));

    let rng = SystemRandom::new();
    let attacker_pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("attacker key");
    let attacker = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        attacker_pkcs8.as_ref(),
    )
    .expect("attacker key");
    let point = attacker.public_key().as_ref().to_vec(); // 0x04 ‖ x ‖ y
    let attacker_jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "attacker", "use": "sig", "alg": "ES256",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
    });
    let genuine_sig = f.genuine.rsplit('.').next().unwrap().to_owned();

    check("jwt_forged_headers", 256, forged(), |forged| {
        let mut header = serde_json::Map::new();
        match &forged.alg {
            Alg::Named(a) => {
                header.insert("alg".into(), a.clone().into());
            }
            Alg::Missing => {}
            Alg::NotAString => {
                header.insert("alg".into(), json!(["ES256"]));
            }
        }
        match &forged.kid {
            Kid::Ours => {
                header.insert("kid".into(), f.kid.clone().into());
            }
            Kid::OtherPool => {
                header.insert("kid".into(), f.other_kid.clone().into());
            }
            Kid::Missing => {}
            Kid::Hostile(k) => {
                header.insert("kid".into(), k.clone().into());
            }
            Kid::NotAString => {
                header.insert("kid".into(), json!(7));
            }
        }
        for m in &forged.members {
            let (k, v) = match m {
                Member::Jku(u) => ("jku", json!(u)),
                Member::X5u(u) => ("x5u", json!(u)),
                Member::AttackerJwk => ("jwk", attacker_jwk.clone()),
                Member::X5c => ("x5c", json!(["MIIBszCCAVmgAwIBAgIU"])),
                Member::Typ(t) => ("typ", json!(t)),
            };
            header.insert(k.into(), v);
        }
        let claims = json!({"iss": ISSUER, "sub": "attacker", "iat": f.now, "exp": f.now + 3600,
            "cognito:groups": ["admin"]});
        let message = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&Value::Object(header)).unwrap()),
            B64.encode(serde_json::to_vec(&claims).unwrap())
        );
        let sig = match &forged.sig {
            Sig::Attacker => B64.encode(attacker.sign(&rng, message.as_bytes()).unwrap().as_ref()),
            Sig::HmacWithOurPublicKey => {
                let secret = serde_json::to_vec(&f.jwk).unwrap();
                let mut mac =
                    <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&secret).unwrap();
                mac.update(message.as_bytes());
                B64.encode(mac.finalize().into_bytes())
            }
            Sig::Genuine => genuine_sig.clone(),
            Sig::Empty => String::new(),
            Sig::Random(bytes) => B64.encode(bytes),
        };
        let token = format!("{message}.{sig}");
        let got = f.verify(POOL, &token, ISSUER);

        // What the header alone decides, in the order a verifier must decide it.
        let alg_readable = match &forged.alg {
            Alg::Named(a) => KNOWN_ALGS.contains(&a.as_str()),
            // `alg` is required (jsonwebtoken has no default for it when decoding).
            Alg::Missing => false,
            Alg::NotAString => false,
        };
        let kid_readable = !matches!(forged.kid, Kid::NotAString);
        let ok_shape = token.len() <= 16 * 1024 && alg_readable && kid_readable;
        match got {
            Ok(claims) => prop_assert!(false, "forged token accepted: {:?} → {}", forged, claims),
            Err(VerifyError::Malformed) => {
                prop_assert!(!ok_shape, "{:?}", forged)
            }
            Err(VerifyError::UnknownKey) => {
                prop_assert!(ok_shape, "{:?}", forged);
                prop_assert!(!matches!(forged.kid, Kid::Ours), "{:?}", forged);
            }
            Err(VerifyError::Invalid(why)) => {
                prop_assert!(ok_shape, "{:?}", forged);
                prop_assert!(matches!(forged.kid, Kid::Ours), "{:?}", forged);
                let ours = matches!(&forged.alg, Alg::Named(a) if a == "ES256");
                if !ours {
                    prop_assert_eq!(why, "algorithm not allowed for this key", "{:?}", forged);
                }
            }
        }
        Ok(())
    });
}

/// Garbage in the token's shape itself: wrong number of parts, non-base64, non-JSON header,
/// oversize. All `Malformed` (or, for a readable header without our kid, `UnknownKey`), never
/// a signature check.
#[test]
fn prop_jwt_garbage_tokens_are_malformed() {
    let f = fixture();
    let parts = prop_oneof![
        hostile_string(30),
        "[A-Za-z0-9_-]{0,40}",
        Just("eyJhbGciOiJub25lIn0".to_owned()), // {"alg":"none"}
        Just(B64.encode(b"not json")),
        Just(B64.encode(b"{\"alg\":\"ES256\",\"kid\":")),
    ];
    let strategy = prop_oneof![
        prop::collection::vec(parts.clone(), 0..6).prop_map(|p| p.join(".")),
        (parts.clone(), parts).prop_map(|(a, b)| format!("{a}.{b}")),
        (16_385usize..20_000).prop_map(|n| format!("a.{}.c", "b".repeat(n))),
    ];
    check("jwt_garbage", 512, strategy, |token| {
        match f.verify(POOL, &token, ISSUER) {
            Ok(v) => prop_assert!(false, "{:?} accepted as {}", token, v),
            Err(VerifyError::Malformed) | Err(VerifyError::UnknownKey) => {}
            // Only reachable with our kid in a readable header, which garbage never has.
            Err(VerifyError::Invalid(why)) => prop_assert!(false, "{:?}: Invalid({})", token, why),
        }
        Ok(())
    });
}
