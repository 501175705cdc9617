//! Passkeys: registration, listing and deletion for a signed-in user,
//! passwordless sign-in (`USER_AUTH` with `WEB_AUTHN`), a passkey as the
//! second factor, and the refusals — a cloned authenticator's counter going
//! backwards, a reused challenge, another origin, a name without passkeys.
//!
//! The authenticator here is written from the WebAuthn specification (P-256
//! keys from aws-lc-rs, CBOR by hand, "none" attestation); the server
//! verifies with webauthn-rs. The end-to-end tests use a separate Python
//! authenticator and Chromium's virtual one.

use crate::helpers::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ORIGIN: &str = "http://localhost:8080";

/// One software credential: its id, key (PKCS#8) and signature counter.
#[derive(Clone)]
struct SoftKey {
    id: Vec<u8>,
    pkcs8: Vec<u8>,
    counter: u32,
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend([0x58, n as u8]),
        n => {
            out.push(0x59);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend(b);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    out.push(0x60 | s.len() as u8);
    out.extend(s.as_bytes());
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

impl SoftKey {
    fn keypair(&self) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap()
    }

    /// `navigator.credentials.create()`: a new key and its registration
    /// response (JSON form).
    fn create(options: &Value, origin: &str) -> (SoftKey, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let key = SoftKey {
            id: rand::random::<[u8; 16]>().to_vec(),
            pkcs8,
            counter: 0,
        };
        let point = key.keypair().public_key().as_ref().to_vec();
        assert_eq!(point[0], 4, "uncompressed point");
        // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut cose, &point[1..33]);
        cose.push(0x22);
        cbor_bytes(&mut cose, &point[33..65]);
        let rp_id = options["rp"]["id"].as_str().unwrap();
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(0x45); // UP | UV | AT
        auth.extend(0u32.to_be_bytes());
        auth.extend([0u8; 16]); // AAGUID
        auth.extend((key.id.len() as u16).to_be_bytes());
        auth.extend(&key.id);
        auth.extend(cose);
        let mut att = vec![0xa3];
        cbor_text(&mut att, "fmt");
        cbor_text(&mut att, "none");
        cbor_text(&mut att, "attStmt");
        att.push(0xa0);
        cbor_text(&mut att, "authData");
        cbor_bytes(&mut att, &auth);
        let challenge = options["challenge"].as_str().unwrap();
        let response = json!({
            "id": B64.encode(&key.id),
            "rawId": B64.encode(&key.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": B64.encode(client_data("webauthn.create", challenge, origin)),
                "attestationObject": B64.encode(att),
                "transports": ["internal", "carrier-pigeon"],
            },
        });
        (key, response)
    }

    /// `navigator.credentials.get()`: the counter moves on, then the
    /// assertion over authenticator data and the client data's hash.
    fn get(&mut self, options: &Value, origin: &str) -> Value {
        self.counter += 1;
        let rp_id = options["rpId"].as_str().unwrap();
        let mut auth = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(0x05); // UP | UV
        auth.extend(self.counter.to_be_bytes());
        let cd = client_data(
            "webauthn.get",
            options["challenge"].as_str().unwrap(),
            origin,
        );
        let mut signed = auth.clone();
        signed.extend(Sha256::digest(&cd));
        let sig = self
            .keypair()
            .sign(&SystemRandom::new(), &signed)
            .unwrap()
            .as_ref()
            .to_vec();
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": B64.encode(cd),
                "authenticatorData": B64.encode(auth),
                "signature": B64.encode(sig),
                "userHandle": null,
            },
        })
    }
}

async fn patch_pool(app: &TestApp, patch: Value) -> (u16, Value) {
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(patch),
    )
    .await
}

const PASSKEY_POOL: &str = r#"{"first_auth_factors": ["PASSWORD", "WEB_AUTHN"],
    "webauthn": {"relying_party_id": "localhost", "origins": ["http://localhost:8080"]}}"#;

/// A pool that offers passkey sign-in (relying party `localhost`) and a
/// client allowed `USER_AUTH`.
async fn passkey_app() -> TestApp {
    let app = spawn_app().await;
    let (st, b) = patch_pool(&app, serde_json::from_str(PASSKEY_POOL).unwrap()).await;
    assert_eq!(st, 200, "{b}");
    app.allow_user_auth().await;
    app
}

fn access_of(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn register(app: &TestApp, access: &str, name: &str) -> SoftKey {
    let (st, options) = app
        .request("POST", "/v1/me/passkeys/registration", None, Some(access))
        .await;
    assert_eq!(st, 200, "{options}");
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let (key, credential) = SoftKey::create(&options, ORIGIN);
    let (st, view) = app
        .request(
            "POST",
            "/v1/me/passkeys",
            Some(json!({"credential": credential, "name": name})),
            Some(access),
        )
        .await;
    assert_eq!(st, 200, "{view}");
    assert_eq!(view["credential_id"], B64.encode(&key.id));
    assert_eq!(view["name"], name);
    assert_eq!(view["relying_party_id"], "localhost");
    // Unknown transports are dropped.
    assert_eq!(view["transports"], json!(["internal"]));
    key
}

/// The request options of a `WEB_AUTHN` challenge in a sign-in answer.
fn request_options(answer: &Value) -> Value {
    serde_json::from_str(
        answer["challenge"]["parameters"]["CREDENTIAL_REQUEST_OPTIONS"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

/// `USER_AUTH` with `WEB_AUTHN`: the challenge and its request options.
async fn passkey_challenge(app: &TestApp, username: &str) -> (String, Value) {
    let (st, b) = app
        .post(
            &app.pool_path("signin/start"),
            json!({"client_id": app.client_id, "username": username,
                "preferred_challenge": "WEB_AUTHN"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["challenge"]["name"], "WEB_AUTHN");
    let options = request_options(&b);
    (
        b["challenge"]["session"].as_str().unwrap().to_owned(),
        options,
    )
}

async fn answer(app: &TestApp, session: &str, assertion: &Value) -> (u16, Value) {
    app.answer_challenge(
        "WEB_AUTHN",
        session,
        json!({"CREDENTIAL": assertion.to_string()}),
    )
    .await
}

#[tokio::test]
async fn passkeys_register_list_sign_in_without_a_password_and_delete() {
    let app = passkey_app().await;
    let tokens = app.confirmed_user("pk@example.com").await;
    let access = access_of(&tokens);
    let mut key = register(&app, &access, "laptop").await;
    // The owner is told.
    let mail = app.last_mail("pk@example.com").await;
    assert!(mail.contains("passkey was added"), "{mail}");

    let (st, list) = app
        .request("GET", "/v1/me/passkeys", None, Some(&access))
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(list["passkeys"][0]["authenticator_attachment"], "platform");
    let (st, admin_list) = app
        .admin(
            "GET",
            &format!(
                "/v1/admin/pools/{}/users/pk@example.com/passkeys",
                app.pool_id
            ),
            None,
        )
        .await;
    assert_eq!(st, 200, "{admin_list}");
    assert_eq!(admin_list["passkeys"], list["passkeys"]);

    // The choice lists WEB_AUTHN.
    let (st, b) = app
        .post(
            &app.pool_path("signin/start"),
            json!({"client_id": app.client_id, "username": "pk@example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let available = b["challenge"]["parameters"]["AvailableChallenges"]
        .as_str()
        .unwrap();
    assert!(available.contains("WEB_AUTHN"), "{available}");
    // Choosing it gives the request options, naming this credential.
    let (st, c) = app
        .answer_challenge(
            "SELECT_CHALLENGE",
            b["challenge"]["session"].as_str().unwrap(),
            json!({"ANSWER": "WEB_AUTHN"}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["challenge"]["name"], "WEB_AUTHN");
    let options = request_options(&c);
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["allowCredentials"][0]["id"], B64.encode(&key.id));
    let assertion = key.get(&options, ORIGIN);
    let (st, signed) = answer(
        &app,
        c["challenge"]["session"].as_str().unwrap(),
        &assertion,
    )
    .await;
    assert_eq!(st, 200, "{signed}");
    let id = verify_with_jwks(
        signed["tokens"]["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(id["email"], "pk@example.com");

    // Straight to WEB_AUTHN, a second time.
    let (session, options) = passkey_challenge(&app, "pk@example.com").await;
    let (st, b) = answer(&app, &session, &key.get(&options, ORIGIN)).await;
    assert_eq!(st, 200, "{b}");
    let (_, list) = app
        .request("GET", "/v1/me/passkeys", None, Some(&access))
        .await;
    assert!(list["passkeys"][0]["last_used_at"].is_i64(), "{list}");

    // Deleted: the credential no longer signs in.
    let (session, options) = passkey_challenge(&app, "pk@example.com").await;
    let id = B64.encode(&key.id);
    let (st, b) = app
        .request(
            "DELETE",
            &format!("/v1/me/passkeys/{id}"),
            None,
            Some(&access),
        )
        .await;
    assert_eq!(st, 204, "{b}");
    let (st, b) = app
        .request(
            "DELETE",
            &format!("/v1/me/passkeys/{id}"),
            None,
            Some(&access),
        )
        .await;
    assert_eq!(st, 404, "{b}");
    let (st, b) = answer(&app, &session, &key.get(&options, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["code"], "NotAuthorized");
}

#[tokio::test]
async fn cloned_authenticator_counter_regression_is_refused() {
    let app = passkey_app().await;
    let tokens = app.confirmed_user("clone@example.com").await;
    let mut key = register(&app, &access_of(&tokens), "key").await;
    let mut clone = key.clone();
    for _ in 0..2 {
        let (session, options) = passkey_challenge(&app, "clone@example.com").await;
        let (st, b) = answer(&app, &session, &key.get(&options, ORIGIN)).await;
        assert_eq!(st, 200, "{b}");
    }
    // The copy made before: its counter (1) is behind the stored one (2).
    let (session, options) = passkey_challenge(&app, "clone@example.com").await;
    let (st, b) = answer(&app, &session, &clone.get(&options, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["code"], "NotAuthorized");
    // Equal to the stored counter: refused too.
    let (session, options) = passkey_challenge(&app, "clone@example.com").await;
    let (st, b) = answer(&app, &session, &clone.get(&options, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");
    // Both refusals counted toward the sign-in throttle.
    let sub = verify_with_jwks(
        tokens["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    )["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let failures = |app: &TestApp| {
        let (store, pool, sub) = (app.store.clone(), app.pool_id.clone(), sub.clone());
        async move {
            store
                .signin_failures(&pool, &sub, "any")
                .await
                .unwrap()
                .account_failures
        }
    };
    assert_eq!(failures(&app).await, 2);
    // The genuine authenticator goes on, and its success ends the run.
    let (session, options) = passkey_challenge(&app, "clone@example.com").await;
    let (st, b) = answer(&app, &session, &key.get(&options, ORIGIN)).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(failures(&app).await, 0);
}

#[tokio::test]
async fn passkey_answers_are_single_use_and_bound_to_challenge_and_origin() {
    let app = passkey_app().await;
    let tokens = app.confirmed_user("bound@example.com").await;
    let mut key = register(&app, &access_of(&tokens), "key").await;

    // Another origin: refused.
    let (session, options) = passkey_challenge(&app, "bound@example.com").await;
    let (st, b) = answer(&app, &session, &key.get(&options, "https://evil.example")).await;
    assert_eq!(st, 401, "{b}");
    // The session went with the failed answer.
    let (st, b) = answer(&app, &session, &key.get(&options, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");

    // An assertion over another challenge: refused.
    let (_, old) = passkey_challenge(&app, "bound@example.com").await;
    let (session, _) = passkey_challenge(&app, "bound@example.com").await;
    let (st, b) = answer(&app, &session, &key.get(&old, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");

    // A good answer works once.
    let (session, options) = passkey_challenge(&app, "bound@example.com").await;
    let assertion = key.get(&options, ORIGIN);
    let (st, b) = answer(&app, &session, &assertion).await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = answer(&app, &session, &assertion).await;
    assert_eq!(st, 401, "{b}");

    // Garbage in CREDENTIAL: a clear 4xx.
    let (session, _) = passkey_challenge(&app, "bound@example.com").await;
    let (st, b) = app
        .answer_challenge("WEB_AUTHN", &session, json!({"CREDENTIAL": "{\"id\": 5}"}))
        .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["code"], "InvalidParameter");
    let (st, b) = app.answer_challenge("WEB_AUTHN", &session, json!({})).await;
    assert!(st == 400 || st == 401, "{st} {b}");
}

#[tokio::test]
async fn a_name_without_passkeys_gets_look_alike_options() {
    let app = passkey_app().await;
    app.confirmed_user("nokey@example.com").await;
    let (session, a) = passkey_challenge(&app, "ghost@example.com").await;
    let (_, b) = passkey_challenge(&app, "ghost@example.com").await;
    let (_, c) = passkey_challenge(&app, "nokey@example.com").await;
    for o in [&a, &c] {
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        assert!(
            o["allowCredentials"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{o}"
        );
        assert_eq!(o["rpId"], "localhost");
        assert_eq!(o["userVerification"], "required");
        assert!(keys.len() >= 5, "{o}");
    }
    // Every name is offered at least one credential, as a real user is.
    for i in 0..40 {
        let (_, o) = passkey_challenge(&app, &format!("ghost{i}@example.com")).await;
        assert!(
            o["allowCredentials"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{o}"
        );
    }
    // Stable per name, fresh challenge each time.
    assert_eq!(a["allowCredentials"], b["allowCredentials"]);
    assert_ne!(a["challenge"], b["challenge"]);
    assert_ne!(a["allowCredentials"], c["allowCredentials"]);
    // Answers are refused like a wrong passkey.
    let (mut key, _) = SoftKey::create(
        &json!({"rp": {"id": "localhost"}, "challenge": "AAAA"}),
        ORIGIN,
    );
    let (st, b) = answer(&app, &session, &key.get(&a, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["code"], "NotAuthorized");
}

#[tokio::test]
async fn registration_needs_passkeys_on_a_recent_sign_in_and_a_pending_start() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("reg@example.com").await;
    let access = access_of(&tokens);
    // The pool does not offer passkeys.
    let (st, b) = app
        .request("POST", "/v1/me/passkeys/registration", None, Some(&access))
        .await;
    assert_eq!(st, 400, "{b}");
    // Pool settings are validated.
    for bad in [
        json!({"relying_party_id": "10.0.0.1"}),
        json!({"relying_party_id": "exa mple.com"}),
        json!({"origins": ["localhost:8080"]}),
        json!({"origins": ["https://app.example.com/path"]}),
        json!({"relying_party_id": "example.com", "origins": ["https://other.test"]}),
        json!({"color": "red"}),
    ] {
        let (st, b) = patch_pool(&app, json!({"webauthn": bad})).await;
        assert_eq!(st, 400, "{bad}: {b}");
    }
    let (st, b) = patch_pool(&app, serde_json::from_str(PASSKEY_POOL).unwrap()).await;
    assert_eq!(st, 200, "{b}");
    // Completing without a start.
    let (_, credential) = SoftKey::create(
        &json!({"rp": {"id": "localhost"}, "challenge": "AAAA"}),
        ORIGIN,
    );
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/passkeys",
            Some(json!({"credential": credential})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    // A start, then an answer to another challenge: refused, and the
    // start is spent.
    let (st, options) = app
        .request("POST", "/v1/me/passkeys/registration", None, Some(&access))
        .await;
    assert_eq!(st, 200, "{options}");
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/passkeys",
            Some(json!({"credential": credential})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 401, "{b}");
    let (_, good) = SoftKey::create(&options, ORIGIN);
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/passkeys",
            Some(json!({"credential": good})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    // Not a credential at all.
    app.request("POST", "/v1/me/passkeys/registration", None, Some(&access))
        .await;
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/passkeys",
            Some(json!({"credential": {"hello": 1}})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    // M3: a sign-in older than 15 minutes cannot add one.
    app.clock.advance(16 * 60);
    let (st, b) = app
        .request("POST", "/v1/me/passkeys/registration", None, Some(&access))
        .await;
    assert_eq!(st, 401, "{b}");
}

#[tokio::test]
async fn a_passkey_can_be_the_second_factor_after_the_password() {
    let app = passkey_app().await;
    let tokens = app.confirmed_user("second@example.com").await;
    let mut key = register(&app, &access_of(&tokens), "key").await;
    let (st, b) = patch_pool(
        &app,
        json!({"first_auth_factors": ["PASSWORD"],
                "mfa": {"mode": "ON", "factors": ["WEB_AUTHN", "SOFTWARE_TOKEN"]}}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    // Passwordless is no longer offered; the password leads to the passkey.
    let (st, b) = app
        .post(
            &app.pool_path("signin/start"),
            json!({"client_id": app.client_id, "username": "second@example.com",
                "preferred_challenge": "WEB_AUTHN"}),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = app.sign_in("second@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    assert!(b["tokens"].is_null(), "{b}");
    assert_eq!(b["challenge"]["name"], "WEB_AUTHN");
    let options = request_options(&b);
    let session = b["challenge"]["session"].as_str().unwrap();
    let (st, done) = answer(&app, session, &key.get(&options, ORIGIN)).await;
    assert_eq!(st, 200, "{done}");
    assert!(done["tokens"]["access_token"].is_string(), "{done}");
    // The MFA view counts it and it can be the preferred factor.
    let access = access_of(&done["tokens"]);
    let (st, v) = app
        .request(
            "PUT",
            "/v1/me/mfa",
            Some(json!({"preferred": "WEB_AUTHN"})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["passkeys"].as_u64(), v["preferred"].as_str()),
        (Some(1), Some("WEB_AUTHN"))
    );
    // A wrong passkey answer after the right password: refused.
    let (_, b) = app.sign_in("second@example.com", PASSWORD).await;
    let session = b["challenge"]["session"].as_str().unwrap();
    let (mut other, _) = SoftKey::create(
        &json!({"rp": {"id": "localhost"}, "challenge": "AAAA"}),
        ORIGIN,
    );
    let options = request_options(&b);
    let (st, b) = answer(&app, session, &other.get(&options, ORIGIN)).await;
    assert_eq!(st, 401, "{b}");
}
