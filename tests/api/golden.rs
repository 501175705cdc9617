//! The golden session (issue 17, item 8): one scripted session through every
//! door — the native REST API, the admin API, the Cognito JSON protocol for
//! user pools (data and control plane) and for identity pools — recorded as
//! method, path or operation, status, content type and body, with the
//! volatile values (ids, secrets, tokens, times, keys) masked, and compared
//! with `tests/golden/session.json`. Any change of an answer (a renamed key,
//! a changed type, status, error code or claim set) fails with the first
//! differences. `POOLGATE_UPDATE_GOLDEN=1` rewrites the fixture.
//!
//! Masking keeps the structure and the relations: each distinct volatile
//! value becomes a numbered placeholder (`<uuid#3>`), so "the sub in the
//! token is the sub `GetUser` returns" is part of the fixture; a time is
//! written relative to the session's clock (`<time:t+3600>`), so a changed
//! lifetime is caught; a JWT becomes its header and masked claims.

use crate::helpers::*;
use base64::Engine;
use poolgate::clock::Clock;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/session.json");
/// The session's clock is moved this far ahead before the first step, so a
/// time taken from the wall clock instead (`<time:wall>`) is told apart.
const AHEAD: i64 = 100_000;
/// The clock moves this far before each step, so a time says which step
/// set it (an `updated_at` that stopped moving is caught).
const TICK: i64 = 10;
const IDP: &str = "AWSCognitoIdentityProviderService.";
const IDS: &str = "AWSCognitoIdentityService.";
const NEW_PASSWORD: &str = "another horse battery staple";
const TEMPORARY: &str = "Temporary passphrase 1";

// ---- the normaliser -----------------------------------------------------------

/// Keys whose string values are secrets or session blobs.
const SECRET_KEYS: &[&str] = &[
    "accesstoken",
    "clientsecret",
    "idtoken",
    "password",
    "passwordclaimsecretblock",
    "passwordclaimsignature",
    "refreshtoken",
    "salt",
    "secretaccesskey",
    "secretblock",
    "secrethash",
    "secretkey",
    "session",
    "sessiontoken",
    "srpb",
    "temporarypassword",
];

/// Keys whose string values are generated identifiers.
const ID_KEYS: &[&str] = &[
    "accesskeyid",
    "aud",
    "clientid",
    "eventid",
    "id",
    "identityid",
    "identitypoolid",
    "jti",
    "kid",
    "originjti",
    "poolid",
    "requestid",
    "sub",
    "userpoolid",
];

fn key_class(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Turns an answer into its deterministic form. One normaliser serves the
/// whole session, so equal raw values get equal placeholders everywhere.
struct Normaliser {
    /// The session's clock when the first step ran.
    t0: i64,
    known: HashMap<String, String>,
    counters: HashMap<String, usize>,
}

impl Normaliser {
    fn new(t0: i64) -> Self {
        Self {
            t0,
            known: HashMap::new(),
            counters: HashMap::new(),
        }
    }

    fn mask(&mut self, kind: &str, raw: &str) -> String {
        if let Some(p) = self.known.get(raw) {
            return p.clone();
        }
        let n = self.counters.entry(kind.to_owned()).or_default();
        *n += 1;
        let p = format!("<{kind}#{n}>");
        self.known.insert(raw.to_owned(), p.clone());
        p
    }

    fn time(&self, secs: i64, kind: &str) -> String {
        let offset = secs - self.t0;
        if (-AHEAD - 60..=-AHEAD + 3600).contains(&offset) {
            format!("<{kind}:wall>")
        } else {
            format!("<{kind}:t{offset:+}>")
        }
    }

    fn value(&mut self, key: Option<&str>, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let nk = self.text(k);
                    let nv = self.value(Some(k), v);
                    out.insert(nk, nv);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(key, v)).collect()),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    if (1_000_000_000..10_000_000_000).contains(&i) {
                        return self.time(i, "time").into();
                    }
                    if (1_000_000_000_000..10_000_000_000_000).contains(&i) {
                        return self.time(i / 1000, "time-ms").into();
                    }
                } else if let Some(f) = n.as_f64()
                    && (1e9..1e10).contains(&f)
                {
                    return self.time(f.floor() as i64, "time-f64").into();
                }
                v.clone()
            }
            Value::String(s) => self.string(key, s).into(),
            _ => v.clone(),
        }
    }

    fn string(&mut self, key: Option<&str>, s: &str) -> String {
        if let Some(marker) = self.jwt(s) {
            return marker;
        }
        if let Some(secs) = rfc3339(s) {
            let shape: String = s
                .chars()
                .map(|c| if c.is_ascii_digit() { 'd' } else { c })
                .collect();
            return self.time(secs, &format!("rfc3339 {shape}"));
        }
        let class = key.map(key_class).unwrap_or_default();
        // A short value under such a key is a setting ("hours" in
        // TokenValidityUnits.AccessToken), not a secret.
        if SECRET_KEYS.contains(&class.as_str()) && s.len() >= 16 {
            return self.mask("secret", s);
        }
        let masked = self.text(s);
        if masked != s {
            return masked;
        }
        if ID_KEYS.contains(&class.as_str()) && !s.is_empty() {
            let kind = match class.as_str() {
                "clientid" | "aud" => "client-id",
                _ => "id",
            };
            return self.mask(kind, s);
        }
        masked
    }

    /// A JWT (`header.payload.signature`) as its header and masked claims.
    fn jwt(&mut self, s: &str) -> Option<String> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.len() < 2) {
            return None;
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value = serde_json::from_slice(&b64.decode(parts[0]).ok()?).ok()?;
        let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).ok()?).ok()?;
        let alg = header.get("alg")?.as_str()?.to_owned();
        let mut head = format!("alg={alg}");
        let mut names: Vec<&String> = header.as_object()?.keys().collect();
        names.sort();
        for name in names {
            match name.as_str() {
                "alg" => {}
                "kid" => {
                    let kid = self.mask("kid", header[name].as_str().unwrap_or(""));
                    head.push_str(&format!(",kid={kid}"));
                }
                other => head.push_str(&format!(",{other}={}", header[other])),
            }
        }
        let claims = self.value(None, &claims);
        Some(format!("<jwt {head} claims={claims}>"))
    }

    /// Masks the identifiers inside a longer text (a message, a path, an
    /// ARN): values already masked elsewhere, uuids, pool and identity ids,
    /// temporary access keys.
    fn text(&mut self, s: &str) -> String {
        let mut known: Vec<(String, String)> = self
            .known
            .iter()
            .filter(|(raw, _)| raw.len() >= 8 && s.contains(raw.as_str()))
            .map(|(r, p)| (r.clone(), p.clone()))
            .collect();
        known.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let mut s = s.to_owned();
        for (raw, p) in known {
            s = s.replace(&raw, &p);
        }
        let b = s.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        let mut copied = 0;
        while i < b.len() {
            let found = if let Some(n) = identity_id_at(b, i) {
                Some((n, "identity-id"))
            } else if let Some(n) = pool_id_at(b, i) {
                Some((n, "pool-id"))
            } else if i == 0 || !b[i - 1].is_ascii_alphanumeric() {
                if uuid_at(b, i) {
                    Some((36, "uuid"))
                } else {
                    access_key_at(b, i).map(|n| (n, "access-key"))
                }
            } else {
                None
            };
            match found {
                Some((n, kind)) => {
                    out.push_str(&s[copied..i]);
                    let raw = s[i..i + n].to_owned();
                    out.push_str(&self.mask(kind, &raw));
                    i += n;
                    copied = i;
                }
                None => i += 1,
            }
        }
        out.push_str(&s[copied..]);
        out
    }
}

fn uuid_at(b: &[u8], i: usize) -> bool {
    if b.len() < i + 36 {
        return false;
    }
    let ok = b[i..i + 36].iter().enumerate().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    ok && b.get(i + 36).is_none_or(|c| !c.is_ascii_alphanumeric())
}

fn identity_id_at(b: &[u8], i: usize) -> Option<usize> {
    let prefix = b"local-east-1:";
    (b[i..].starts_with(prefix) && uuid_at(b, i + prefix.len())).then_some(prefix.len() + 36)
}

fn pool_id_at(b: &[u8], i: usize) -> Option<usize> {
    let prefix = b"local-east-1_";
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let n = b[i + prefix.len()..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    (n > 0).then_some(prefix.len() + n)
}

fn access_key_at(b: &[u8], i: usize) -> Option<usize> {
    let n = b[i..]
        .iter()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .count();
    (b[i..].starts_with(b"ASIA") && n == 20).then_some(20)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` as Unix seconds.
fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.chars().take_while(char::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = match &rest[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

// ---- the comparison -----------------------------------------------------------

fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    if out.len() >= 25 || want == got {
        return;
    }
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let mut keys: Vec<&String> = w.keys().chain(g.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (Some(a), None) => out.push(format!("{p}: expected {a}, actual <absent>")),
                    (None, Some(b)) => out.push(format!("{p}: expected <absent>, actual {b}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!(
                    "{path}: expected {} elements, actual {}",
                    w.len(),
                    g.len()
                ));
            }
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
            for (i, a) in w.iter().enumerate().skip(g.len()) {
                out.push(format!("{path}[{i}]: expected {a}, actual <absent>"));
            }
            for (i, b) in g.iter().enumerate().skip(w.len()) {
                out.push(format!("{path}[{i}]: expected <absent>, actual {b}"));
            }
        }
        _ => out.push(format!("{path}: expected {want}, actual {got}")),
    }
}

/// The differences between two recorded sessions, step by step, each
/// path starting with the step's number and label.
fn session_diff(want: &[Value], got: &[Value]) -> Vec<String> {
    let mut out = vec![];
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        diff(&format!("step {i} {}", w["step"]), w, g, &mut out);
    }
    if want.len() != got.len() {
        out.push(format!(
            "expected {} steps, actual {} (first extra or missing: {})",
            want.len(),
            got.len(),
            want.get(got.len()).or(got.get(want.len())).unwrap()["step"]
        ));
    }
    out
}

// ---- the session ------------------------------------------------------------------

/// A raw answer, before masking.
struct Answer {
    status: u16,
    content_type: String,
    request_ids: Vec<&'static str>,
    body: Value,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let request_ids = ["x-amzn-requestid", "x-request-id"]
        .into_iter()
        .filter(|h| header(h).is_some())
        .collect();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        content_type,
        request_ids,
        body,
    }
}

struct Session<'a> {
    app: &'a TestApp,
    norm: Normaliser,
    steps: Vec<Value>,
    /// Arrays of the next answer to sort first: (pointer to the array,
    /// pointer inside an element to sort by), where the order is unspecified.
    sort: Vec<(&'static str, &'static str)>,
}

impl<'a> Session<'a> {
    fn new(app: &'a TestApp) -> Self {
        app.clock.advance(AHEAD);
        Self {
            app,
            norm: Normaliser::new(app.clock.now()),
            steps: vec![],
            sort: vec![],
        }
    }

    fn sorted(&mut self, array: &'static str, by: &'static str) -> &mut Self {
        self.sort.push((array, by));
        self
    }

    fn record(
        &mut self,
        step: &str,
        method: &str,
        path: &str,
        target: Option<&str>,
        mut a: Answer,
    ) -> Value {
        for (array, by) in std::mem::take(&mut self.sort) {
            let list = a
                .body
                .pointer_mut(array)
                .and_then(Value::as_array_mut)
                .unwrap_or_else(|| panic!("{step}: no array at {array}"));
            list.sort_by_key(|e| e.pointer(by).map(Value::to_string).unwrap_or_default());
        }
        let body = self.norm.value(None, &a.body);
        let path = self.norm.text(path);
        let mut rec = json!({
            "step": step,
            "method": method,
            "path": path,
            "status": a.status,
            "content_type": a.content_type,
            "request_ids": a.request_ids,
            "body": body,
        });
        if let Some(t) = target {
            rec["target"] = t.into();
        }
        self.steps.push(rec);
        a.body
    }

    async fn send(
        &mut self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Value {
        self.app.clock.advance(TICK);
        let mut r = self.app.http.request(
            method.parse().unwrap(),
            format!("{}{}", self.app.base, path),
        );
        if let Some(b) = body {
            r = r.json(&b);
        }
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        let a = answer(r.send().await.unwrap()).await;
        self.record(step, method, path, None, a)
    }

    async fn native(&mut self, step: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        self.send(step, method, path, body, None).await
    }

    async fn bearer(
        &mut self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> Value {
        self.send(step, method, path, body, Some(token)).await
    }

    async fn admin(&mut self, step: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let key = self.app.admin_key.clone();
        self.send(step, method, path, body, Some(&key)).await
    }

    /// A request whose body is sent as is (malformed input).
    async fn raw(
        &mut self,
        step: &str,
        path: &str,
        content_type: &str,
        target: Option<&str>,
        body: &str,
    ) -> Value {
        self.app.clock.advance(TICK);
        let mut r = self
            .app
            .http
            .post(format!("{}{}", self.app.base, path))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(t) = target {
            r = r.header("x-amz-target", t);
        }
        let a = answer(r.send().await.unwrap()).await;
        self.record(step, "POST", path, target, a)
    }

    /// An unsigned Cognito call (`POST /`), `target` as on the wire.
    async fn cognito(&mut self, step: &str, target: &str, body: Value) -> Value {
        self.app.clock.advance(TICK);
        let r = self
            .app
            .http
            .post(format!("{}/", self.app.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(body.to_string());
        let a = answer(r.send().await.unwrap()).await;
        self.record(step, "POST", "/", Some(target), a)
    }

    /// A Cognito call signed with the admin key as the AWS SDKs sign it.
    async fn signed(&mut self, step: &str, target: &str, body: Value) -> Value {
        self.app.clock.advance(TICK);
        use sha2::Digest;
        let app = self.app;
        let now = app.clock.now();
        let body = body.to_string();
        let date = poolgate::gateway::sign::amz_date(now);
        let headers = [
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("host", app.base.trim_start_matches("http://").to_owned()),
            ("x-amz-date", date.clone()),
            ("x-amz-target", target.to_owned()),
        ];
        let service = if target.starts_with(IDS) {
            "cognito-identity"
        } else {
            "cognito-idp"
        };
        let signer = poolgate::gateway::sign::Signer {
            access_key_id: poolgate::http::sigv4::ADMIN_ACCESS_KEY_ID,
            secret_access_key: &app.admin_key,
            session_token: None,
            region: app.state.pools.region(),
        };
        let payload = hex::encode(sha2::Sha256::digest(body.as_bytes()));
        let authorization = signer.authorization(service, "POST", "/", &headers, &payload, now);
        let r = app
            .http
            .post(format!("{}/", app.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-date", date)
            .header("x-amz-target", target)
            .header("authorization", authorization)
            .body(body);
        let a = answer(r.send().await.unwrap()).await;
        self.record(step, "POST", "/", Some(target), a)
    }
}

fn text_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
        .to_owned()
}

/// Cognito's SECRET_HASH: Base64(HMAC-SHA256(client secret, username + client id)).
fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{username}{client_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// The native REST API and the admin API.
async fn native_doors(s: &mut Session<'_>) {
    let app = s.app;
    let pool = s
        .admin(
            "admin: create pool",
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "golden-native", "username_attributes": ["email"]})),
        )
        .await;
    let pool = text_at(&pool, "/id");
    let admin_pool = format!("/v1/admin/pools/{pool}");
    let client = s
        .admin(
            "admin: create client",
            "POST",
            &format!("{admin_pool}/clients"),
            Some(json!({"name": "web", "refresh_token_rotation": true})),
        )
        .await;
    let client = text_at(&client, "/client_id");
    s.admin("admin: describe pool", "GET", &admin_pool, None)
        .await;
    s.admin(
        "admin: describe client",
        "GET",
        &format!("{admin_pool}/clients/{client}"),
        None,
    )
    .await;

    let p = |tail: &str| format!("/v1/pools/{pool}/{tail}");
    let alice = "alice@example.com";
    let creds =
        |password: &str| json!({"client_id": client, "username": alice, "password": password});
    s.native("sign up", "POST", &p("signup"), Some(creds(PASSWORD)))
        .await;
    s.native(
        "sign up again: username exists",
        "POST",
        &p("signup"),
        Some(creds(PASSWORD)),
    )
    .await;
    s.native(
        "sign in before confirming",
        "POST",
        &p("signin"),
        Some(creds(PASSWORD)),
    )
    .await;
    let code = app.last_code(alice).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    s.native(
        "confirm with a wrong code",
        "POST",
        &p("signup/confirm"),
        Some(json!({"client_id": client, "username": alice, "code": wrong})),
    )
    .await;
    s.native(
        "confirm",
        "POST",
        &p("signup/confirm"),
        Some(json!({"client_id": client, "username": alice, "code": code})),
    )
    .await;
    s.native(
        "sign in: wrong password",
        "POST",
        &p("signin"),
        Some(creds("not the right password at all")),
    )
    .await;
    s.native(
        "sign in: unknown client",
        "POST",
        &p("signin"),
        Some(json!({"client_id": "nosuchclient0000000000000", "username": alice, "password": PASSWORD})),
    )
    .await;
    s.native(
        "sign in: missing password",
        "POST",
        &p("signin"),
        Some(json!({"client_id": client, "username": alice})),
    )
    .await;
    s.raw(
        "sign in: malformed JSON",
        &p("signin"),
        "application/json",
        None,
        "{\"client_id\": ",
    )
    .await;
    s.native(
        "sign in: unknown pool",
        "POST",
        "/v1/pools/local-east-1_NoSuchPool/signin",
        Some(creds(PASSWORD)),
    )
    .await;
    let signed_in = s
        .native("sign in", "POST", &p("signin"), Some(creds(PASSWORD)))
        .await;
    let access = text_at(&signed_in, "/tokens/access_token");
    let refresh = text_at(&signed_in, "/tokens/refresh_token");
    let refreshed = s
        .native(
            "refresh",
            "POST",
            &p("token/refresh"),
            Some(json!({"client_id": client, "refresh_token": refresh})),
        )
        .await;
    let access2 = text_at(&refreshed, "/tokens/access_token");
    let refresh2 = text_at(&refreshed, "/tokens/refresh_token");
    s.native(
        "refresh: garbage token",
        "POST",
        &p("token/refresh"),
        Some(json!({"client_id": client, "refresh_token": "not-a-token"})),
    )
    .await;
    s.bearer("me", "GET", "/v1/me", None, &access).await;
    s.native("me without a token", "GET", "/v1/me", None).await;
    s.bearer(
        "me with a garbage token",
        "GET",
        "/v1/me",
        None,
        "abc.def.ghi",
    )
    .await;
    s.bearer(
        "update attributes",
        "PATCH",
        "/v1/me",
        Some(json!({"attributes": {"given_name": "Alice", "family_name": "Liddell"}})),
        &access2,
    )
    .await;
    s.bearer(
        "update attributes: a new email",
        "PATCH",
        "/v1/me",
        Some(json!({"attributes": {"email": "alice.new@example.com"}})),
        &access2,
    )
    .await;
    s.bearer(
        "update attributes: unknown attribute",
        "PATCH",
        "/v1/me",
        Some(json!({"attributes": {"no_such_attribute": "x"}})),
        &access2,
    )
    .await;
    s.bearer("me after the update", "GET", "/v1/me", None, &access2)
        .await;
    s.bearer(
        "change password: wrong previous",
        "POST",
        "/v1/me/password",
        Some(json!({"previous_password": "not the right password at all", "proposed_password": NEW_PASSWORD})),
        &access2,
    )
    .await;
    s.bearer(
        "change password: too short",
        "POST",
        "/v1/me/password",
        Some(json!({"previous_password": PASSWORD, "proposed_password": "short"})),
        &access2,
    )
    .await;
    s.bearer(
        "change password",
        "POST",
        "/v1/me/password",
        Some(json!({"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD})),
        &access2,
    )
    .await;
    s.native(
        "sign in with the old password",
        "POST",
        &p("signin"),
        Some(creds(PASSWORD)),
    )
    .await;
    let again = s
        .native(
            "sign in with the new password",
            "POST",
            &p("signin"),
            Some(creds(NEW_PASSWORD)),
        )
        .await;
    let access3 = text_at(&again, "/tokens/access_token");
    s.bearer("sign out", "POST", "/v1/me/signout", None, &access3)
        .await;
    s.bearer("me after sign-out", "GET", "/v1/me", None, &access3)
        .await;
    s.native(
        "refresh after sign-out",
        "POST",
        &p("token/refresh"),
        Some(json!({"client_id": client, "refresh_token": refresh2})),
    )
    .await;

    // The admin API on users and groups.
    let bob = "bob@example.com";
    s.admin(
        "admin: create user",
        "POST",
        &format!("{admin_pool}/users"),
        Some(json!({"username": bob, "temporary_password": TEMPORARY,
            "attributes": {"given_name": "Bob"}})),
    )
    .await;
    s.admin(
        "admin: create user again",
        "POST",
        &format!("{admin_pool}/users"),
        Some(json!({"username": bob, "temporary_password": TEMPORARY})),
    )
    .await;
    s.native(
        "sign in with the temporary password",
        "POST",
        &p("signin"),
        Some(json!({"client_id": client, "username": bob, "password": TEMPORARY})),
    )
    .await;
    s.sorted("/users", "/attributes/email")
        .admin(
            "admin: list users",
            "GET",
            &format!("{admin_pool}/users"),
            None,
        )
        .await;
    let users = format!("{admin_pool}/users");
    s.admin("admin: get user", "GET", &format!("{users}/{alice}"), None)
        .await;
    s.admin(
        "admin: get unknown user",
        "GET",
        &format!("{users}/nobody@example.com"),
        None,
    )
    .await;
    s.admin(
        "admin: disable user",
        "POST",
        &format!("{users}/{alice}/disable"),
        None,
    )
    .await;
    s.native(
        "sign in while disabled",
        "POST",
        &p("signin"),
        Some(creds(NEW_PASSWORD)),
    )
    .await;
    s.admin(
        "admin: get disabled user",
        "GET",
        &format!("{users}/{alice}"),
        None,
    )
    .await;
    s.admin(
        "admin: enable user",
        "POST",
        &format!("{users}/{alice}/enable"),
        None,
    )
    .await;
    let groups = format!("{admin_pool}/groups");
    s.admin(
        "admin: create group",
        "POST",
        &groups,
        Some(json!({"name": "editors", "description": "They edit", "precedence": 2})),
    )
    .await;
    s.admin(
        "admin: create group with a bad name",
        "POST",
        &groups,
        Some(json!({"name": "has space"})),
    )
    .await;
    s.admin(
        "admin: create second group",
        "POST",
        &groups,
        Some(json!({"name": "admins", "precedence": 1})),
    )
    .await;
    for g in ["editors", "admins"] {
        s.admin(
            &format!("admin: add member to {g}"),
            "POST",
            &format!("{groups}/{g}/members"),
            Some(json!({"username": alice})),
        )
        .await;
    }
    s.sorted("/groups", "/name")
        .admin("admin: list groups", "GET", &groups, None)
        .await;
    s.admin(
        "admin: list members",
        "GET",
        &format!("{groups}/editors/members"),
        None,
    )
    .await;
    s.admin(
        "admin: groups of a user",
        "GET",
        &format!("{users}/{alice}/groups"),
        None,
    )
    .await;
    let grouped = s
        .native(
            "sign in as a group member",
            "POST",
            &p("signin"),
            Some(creds(NEW_PASSWORD)),
        )
        .await;
    assert!(grouped["tokens"].is_object(), "{grouped}");
    s.native("admin API without the key", "GET", &admin_pool, None)
        .await;
    s.bearer(
        "admin API with a wrong key",
        "GET",
        &admin_pool,
        None,
        "not-the-admin-key-0123456789",
    )
    .await;
    s.admin(
        "admin: describe unknown pool",
        "GET",
        "/v1/admin/pools/local-east-1_NoSuchPool",
        None,
    )
    .await;
    s.admin(
        "admin: create pool with an unknown setting",
        "POST",
        "/v1/admin/pools",
        Some(json!({"name": "x", "no_such_setting": true})),
    )
    .await;
}

/// The Cognito JSON protocol: user pools, then identity pools.
async fn cognito_doors(s: &mut Session<'_>) {
    let app = s.app;
    let t = |op: &str| format!("{IDP}{op}");
    let pool = s
        .signed(
            "cognito: CreateUserPool",
            &t("CreateUserPool"),
            json!({"PoolName": "golden-cognito", "AutoVerifiedAttributes": ["email"]}),
        )
        .await;
    let pool = text_at(&pool, "/UserPool/Id");
    s.signed(
        "cognito: DescribeUserPool",
        &t("DescribeUserPool"),
        json!({"UserPoolId": pool}),
    )
    .await;
    let client = s
        .signed(
            "cognito: CreateUserPoolClient with a secret",
            &t("CreateUserPoolClient"),
            json!({"UserPoolId": pool, "ClientName": "backend", "GenerateSecret": true,
                "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
        )
        .await;
    let client_id = text_at(&client, "/UserPoolClient/ClientId");
    let secret = text_at(&client, "/UserPoolClient/ClientSecret");
    s.signed(
        "cognito: DescribeUserPoolClient",
        &t("DescribeUserPoolClient"),
        json!({"UserPoolId": pool, "ClientId": client_id}),
    )
    .await;
    let hash = |user: &str| secret_hash(&secret, user, &client_id);

    let carol = "carol";
    let carol_mail = "carol@example.com";
    s.cognito(
        "cognito: SignUp without SecretHash",
        &t("SignUp"),
        json!({"ClientId": client_id, "Username": carol, "Password": PASSWORD,
            "UserAttributes": [{"Name": "email", "Value": carol_mail}]}),
    )
    .await;
    s.cognito(
        "cognito: SignUp with a weak password",
        &t("SignUp"),
        json!({"ClientId": client_id, "SecretHash": hash(carol), "Username": carol,
            "Password": "short", "UserAttributes": [{"Name": "email", "Value": carol_mail}]}),
    )
    .await;
    s.cognito(
        "cognito: SignUp",
        &t("SignUp"),
        json!({"ClientId": client_id, "SecretHash": hash(carol), "Username": carol,
            "Password": PASSWORD, "UserAttributes": [{"Name": "email", "Value": carol_mail}]}),
    )
    .await;
    let code = app.last_code(carol_mail).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    s.cognito(
        "cognito: ConfirmSignUp with a wrong code",
        &t("ConfirmSignUp"),
        json!({"ClientId": client_id, "SecretHash": hash(carol), "Username": carol,
            "ConfirmationCode": wrong}),
    )
    .await;
    s.cognito(
        "cognito: ConfirmSignUp",
        &t("ConfirmSignUp"),
        json!({"ClientId": client_id, "SecretHash": hash(carol), "Username": carol,
            "ConfirmationCode": code}),
    )
    .await;
    let auth = |user: &str, password: &str, hash: String| {
        json!({"ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": user, "PASSWORD": password, "SECRET_HASH": hash}})
    };
    s.cognito(
        "cognito: InitiateAuth with a wrong SECRET_HASH",
        &t("InitiateAuth"),
        auth(carol, PASSWORD, hash("someone else")),
    )
    .await;
    s.cognito(
        "cognito: InitiateAuth with a wrong password",
        &t("InitiateAuth"),
        auth(carol, "not the right password at all", hash(carol)),
    )
    .await;
    s.cognito(
        "cognito: InitiateAuth with an unknown client",
        &t("InitiateAuth"),
        json!({"ClientId": "nosuchclient0000000000000", "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": carol, "PASSWORD": PASSWORD}}),
    )
    .await;
    let signed_in = s
        .cognito(
            "cognito: InitiateAuth USER_PASSWORD_AUTH",
            &t("InitiateAuth"),
            auth(carol, PASSWORD, hash(carol)),
        )
        .await;
    let access = text_at(&signed_in, "/AuthenticationResult/AccessToken");
    let refresh = text_at(&signed_in, "/AuthenticationResult/RefreshToken");
    s.cognito(
        "cognito: InitiateAuth REFRESH_TOKEN_AUTH without USERNAME",
        &t("InitiateAuth"),
        json!({"ClientId": client_id, "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {"REFRESH_TOKEN": refresh, "SECRET_HASH": hash(carol)}}),
    )
    .await;
    s.cognito(
        "cognito: InitiateAuth REFRESH_TOKEN_AUTH",
        &t("InitiateAuth"),
        json!({"ClientId": client_id, "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {"REFRESH_TOKEN": refresh, "USERNAME": carol,
                "SECRET_HASH": hash(carol)}}),
    )
    .await;
    s.cognito(
        "cognito: GetUser",
        &t("GetUser"),
        json!({"AccessToken": access}),
    )
    .await;
    s.cognito(
        "cognito: UpdateUserAttributes",
        &t("UpdateUserAttributes"),
        json!({"AccessToken": access,
            "UserAttributes": [{"Name": "given_name", "Value": "Carol"}]}),
    )
    .await;
    s.cognito(
        "cognito: GetUser after the update",
        &t("GetUser"),
        json!({"AccessToken": access}),
    )
    .await;
    s.cognito(
        "cognito: GetUser with a garbage token",
        &t("GetUser"),
        json!({"AccessToken": "abc.def.ghi"}),
    )
    .await;

    // Admin operations, groups and a forced password change.
    let dave = "dave";
    s.signed(
        "cognito: AdminCreateUser",
        &t("AdminCreateUser"),
        json!({"UserPoolId": pool, "Username": dave, "TemporaryPassword": TEMPORARY,
            "MessageAction": "SUPPRESS",
            "UserAttributes": [{"Name": "email", "Value": "dave@example.com"},
                {"Name": "email_verified", "Value": "true"}]}),
    )
    .await;
    s.signed(
        "cognito: AdminCreateUser again",
        &t("AdminCreateUser"),
        json!({"UserPoolId": pool, "Username": dave, "TemporaryPassword": TEMPORARY,
            "MessageAction": "SUPPRESS"}),
    )
    .await;
    s.signed(
        "cognito: ListUsers with a Filter",
        &t("ListUsers"),
        json!({"UserPoolId": pool, "Filter": "email = \"carol@example.com\""}),
    )
    .await;
    s.sorted("/Users", "/Username")
        .signed(
            "cognito: ListUsers",
            &t("ListUsers"),
            json!({"UserPoolId": pool}),
        )
        .await;
    s.signed(
        "cognito: ListUsers with a bad Filter",
        &t("ListUsers"),
        json!({"UserPoolId": pool, "Filter": "email ~ carol"}),
    )
    .await;
    s.signed(
        "cognito: AdminGetUser",
        &t("AdminGetUser"),
        json!({"UserPoolId": pool, "Username": carol}),
    )
    .await;
    s.signed(
        "cognito: AdminGetUser unknown user",
        &t("AdminGetUser"),
        json!({"UserPoolId": pool, "Username": "nobody"}),
    )
    .await;
    let challenge = s
        .cognito(
            "cognito: InitiateAuth with the temporary password",
            &t("InitiateAuth"),
            auth(dave, TEMPORARY, hash(dave)),
        )
        .await;
    let session = text_at(&challenge, "/Session");
    s.cognito(
        "cognito: RespondToAuthChallenge with a weak password",
        &t("RespondToAuthChallenge"),
        json!({"ClientId": client_id, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": session,
            "ChallengeResponses": {"USERNAME": dave, "NEW_PASSWORD": "short",
                "SECRET_HASH": hash(dave)}}),
    )
    .await;
    let responded = s
        .cognito(
            "cognito: RespondToAuthChallenge NEW_PASSWORD_REQUIRED",
            &t("RespondToAuthChallenge"),
            json!({"ClientId": client_id, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": session,
                "ChallengeResponses": {"USERNAME": dave, "NEW_PASSWORD": NEW_PASSWORD,
                    "SECRET_HASH": hash(dave)}}),
        )
        .await;
    let dave_id_token = text_at(&responded, "/AuthenticationResult/IdToken");
    s.signed(
        "cognito: CreateGroup",
        &t("CreateGroup"),
        json!({"UserPoolId": pool, "GroupName": "readers", "Description": "They read",
            "Precedence": 5}),
    )
    .await;
    s.signed(
        "cognito: AdminAddUserToGroup",
        &t("AdminAddUserToGroup"),
        json!({"UserPoolId": pool, "GroupName": "readers", "Username": carol}),
    )
    .await;
    s.signed(
        "cognito: AdminAddUserToGroup unknown group",
        &t("AdminAddUserToGroup"),
        json!({"UserPoolId": pool, "GroupName": "nosuchgroup", "Username": carol}),
    )
    .await;
    s.sorted("/Groups", "/GroupName")
        .signed(
            "cognito: ListGroups",
            &t("ListGroups"),
            json!({"UserPoolId": pool}),
        )
        .await;
    s.signed(
        "cognito: AdminListGroupsForUser",
        &t("AdminListGroupsForUser"),
        json!({"UserPoolId": pool, "Username": carol}),
    )
    .await;
    let grouped = s
        .cognito(
            "cognito: InitiateAuth as a group member",
            &t("InitiateAuth"),
            auth(carol, PASSWORD, hash(carol)),
        )
        .await;
    let carol_access = text_at(&grouped, "/AuthenticationResult/AccessToken");

    // Typical failures of the protocol itself.
    s.signed(
        "cognito: DescribeUserPool unknown pool",
        &t("DescribeUserPool"),
        json!({"UserPoolId": "local-east-1_NoSuchPool"}),
    )
    .await;
    s.signed(
        "cognito: DescribeUserPool without UserPoolId",
        &t("DescribeUserPool"),
        json!({}),
    )
    .await;
    s.cognito(
        "cognito: AdminGetUser unsigned",
        &t("AdminGetUser"),
        json!({"UserPoolId": pool, "Username": carol}),
    )
    .await;
    s.cognito(
        "cognito: unknown operation",
        &t("NoSuchOperation"),
        json!({}),
    )
    .await;
    s.cognito(
        "cognito: unsupported operation",
        &t("StartUserImportJob"),
        json!({"UserPoolId": pool, "JobId": "x"}),
    )
    .await;
    s.cognito(
        "cognito: SignUp without ClientId",
        &t("SignUp"),
        json!({"Username": "erin", "Password": PASSWORD}),
    )
    .await;
    s.raw(
        "cognito: malformed JSON",
        "/",
        "application/x-amz-json-1.1",
        Some(&t("GetUser")),
        "{\"AccessToken\": ",
    )
    .await;

    // Identity pools, with the Cognito user's ID token.
    identity_doors(s, &pool, &client_id, &dave_id_token).await;

    s.cognito(
        "cognito: GlobalSignOut",
        &t("GlobalSignOut"),
        json!({"AccessToken": carol_access}),
    )
    .await;
    s.cognito(
        "cognito: GetUser after GlobalSignOut",
        &t("GetUser"),
        json!({"AccessToken": carol_access}),
    )
    .await;
}

async fn identity_doors(s: &mut Session<'_>, pool: &str, client_id: &str, id_token: &str) {
    let t = |op: &str| format!("{IDS}{op}");
    let role = s
        .admin(
            "admin: create role",
            "POST",
            "/v1/admin/roles",
            Some(
                json!({"name": "golden-owner", "max_session_secs": 3600, "policy": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"}]}}),
            ),
        )
        .await;
    let arn = text_at(&role, "/arn");
    let provider = format!("cognito-idp.local-east-1.amazonaws.com/{pool}");
    let ip = s
        .signed(
            "identity: CreateIdentityPool",
            &t("CreateIdentityPool"),
            json!({"IdentityPoolName": "golden_ids", "AllowUnauthenticatedIdentities": false,
                "CognitoIdentityProviders": [{"ProviderName": provider, "ClientId": client_id}]}),
        )
        .await;
    let ip = text_at(&ip, "/IdentityPoolId");
    s.signed(
        "identity: SetIdentityPoolRoles",
        &t("SetIdentityPoolRoles"),
        json!({"IdentityPoolId": ip, "Roles": {"authenticated": arn}}),
    )
    .await;
    s.signed(
        "identity: DescribeIdentityPool",
        &t("DescribeIdentityPool"),
        json!({"IdentityPoolId": ip}),
    )
    .await;
    s.signed(
        "identity: GetIdentityPoolRoles",
        &t("GetIdentityPoolRoles"),
        json!({"IdentityPoolId": ip}),
    )
    .await;
    let logins = json!({provider.clone(): id_token});
    let got = s
        .cognito(
            "identity: GetId",
            &t("GetId"),
            json!({"IdentityPoolId": ip, "Logins": logins}),
        )
        .await;
    let identity = text_at(&got, "/IdentityId");
    s.cognito(
        "identity: GetId again",
        &t("GetId"),
        json!({"IdentityPoolId": ip, "Logins": logins}),
    )
    .await;
    s.cognito(
        "identity: GetId as a guest (not allowed)",
        &t("GetId"),
        json!({"IdentityPoolId": ip}),
    )
    .await;
    s.cognito(
        "identity: GetId with a garbage token",
        &t("GetId"),
        json!({"IdentityPoolId": ip, "Logins": {provider.clone(): "abc.def.ghi"}}),
    )
    .await;
    s.cognito(
        "identity: GetCredentialsForIdentity",
        &t("GetCredentialsForIdentity"),
        json!({"IdentityId": identity, "Logins": logins}),
    )
    .await;
    s.cognito(
        "identity: GetCredentialsForIdentity unknown identity",
        &t("GetCredentialsForIdentity"),
        json!({"IdentityId": "local-east-1:00000000-0000-4000-8000-000000000000",
            "Logins": logins}),
    )
    .await;
    s.cognito(
        "identity: GetOpenIdToken",
        &t("GetOpenIdToken"),
        json!({"IdentityId": identity, "Logins": logins}),
    )
    .await;
    s.signed(
        "identity: DescribeIdentity",
        &t("DescribeIdentity"),
        json!({"IdentityId": identity}),
    )
    .await;
    s.cognito(
        "identity: DescribeIdentity unsigned",
        &t("DescribeIdentity"),
        json!({"IdentityId": identity}),
    )
    .await;
    s.native(
        "identity: native credentials",
        "POST",
        &format!("/v1/identity-pools/{ip}/credentials"),
        Some(json!({"identity_id": identity, "logins": logins})),
    )
    .await;
    s.native(
        "identity: native credentials without logins",
        "POST",
        &format!("/v1/identity-pools/{ip}/credentials"),
        Some(json!({"identity_id": identity})),
    )
    .await;
    s.admin(
        "identity: native describe identity pool",
        "GET",
        &format!("/v1/admin/identity-pools/{ip}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn golden_session_answers_are_unchanged() {
    let app = spawn_app().await;
    let mut s = Session::new(&app);
    native_doors(&mut s).await;
    cognito_doors(&mut s).await;
    let got = json!({
        "about": "Recorded by tests/api/golden.rs; POOLGATE_UPDATE_GOLDEN=1 rewrites it.",
        "steps": s.steps,
    });
    if std::env::var("POOLGATE_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(std::path::Path::new(FIXTURE).parent().unwrap()).unwrap();
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(FIXTURE)
            .unwrap_or_else(|e| panic!("{FIXTURE}: {e} (POOLGATE_UPDATE_GOLDEN=1 writes it)")),
    )
    .unwrap();
    let differences = session_diff(
        want["steps"].as_array().unwrap(),
        got["steps"].as_array().unwrap(),
    );
    assert!(
        differences.is_empty(),
        "the answers differ from {FIXTURE} (POOLGATE_UPDATE_GOLDEN=1 rewrites it \
         when the change is meant):\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn the_normaliser_masks_volatile_values_and_keeps_structure_and_relations() {
    let t0 = 1_800_000_000;
    let mut n = Normaliser::new(t0);
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let sub = "0b5c2f3e-9a41-4c7e-8d2f-6a1b3c4d5e6f";
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "kid": "key-1"})),
        b64(json!({"sub": sub, "exp": t0 + 3600, "token_use": "id"}))
    );
    let raw = json!({
        "Id": "local-east-1_AbC123", "sub": sub, "Username": "carol",
        "message": format!("User {sub} of local-east-1_AbC123"),
        "IdentityId": "local-east-1:11111111-2222-4333-8444-555555555555",
        "ClientId": "3n4b5c6d7e8f9g0h1i2j3k4l5m", "ClientSecret": "s3cr3t-s3cr3t-s3cr3t-s3cr3t",
        "AccessKeyId": "ASIAABCDEFGHIJKLMNOP", "CreationDate": (t0 + 20) as f64,
        "updated_at": "2027-01-15T08:00:00Z", "expires_in": 3600, "IdToken": jwt,
        "TokenValidityUnits": {"AccessToken": "hours"}, "list": [1, "two", null],
    });
    let got = n.value(None, &raw);
    assert_eq!(
        got,
        json!({
            "Id": "<pool-id#1>", "sub": "<uuid#1>", "Username": "carol",
            "message": "User <uuid#1> of <pool-id#1>",
            "IdentityId": "<identity-id#1>",
            "ClientId": "<client-id#1>", "ClientSecret": "<secret#1>",
            "AccessKeyId": "<access-key#1>", "CreationDate": "<time-f64:t+20>",
            "updated_at": "<rfc3339 dddd-dd-ddTdd:dd:ddZ:t+0>",
            "expires_in": 3600,
            "IdToken": "<jwt alg=RS256,kid=<kid#1> claims={\"exp\":\"<time:t+3600>\",\"sub\":\"<uuid#1>\",\"token_use\":\"id\"}>",
            "TokenValidityUnits": {"AccessToken": "hours"}, "list": [1, "two", null],
        })
    );
    // Identifiers already seen are masked inside paths too.
    assert_eq!(
        n.text("/v1/admin/pools/local-east-1_AbC123/clients/3n4b5c6d7e8f9g0h1i2j3k4l5m"),
        "/v1/admin/pools/<pool-id#1>/clients/<client-id#1>"
    );
    assert_eq!(rfc3339("1970-01-02T00:00:01+01:00"), Some(86_401 - 3600));
    // A renamed key or a changed type is a difference with its path.
    let mut out = vec![];
    diff(
        "body",
        &json!({"a": {"b": 1}, "c": [1, 2]}),
        &json!({"a": {"b": "1"}, "c": [1], "d": true}),
        &mut out,
    );
    assert_eq!(
        out,
        [
            "body.a.b: expected 1, actual \"1\"",
            "body.c: expected 2 elements, actual 1",
            "body.c[1]: expected 2, actual <absent>",
            "body.d: expected <absent>, actual true",
        ]
    );
}
