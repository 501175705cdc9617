//! The authorization-code flow through the hosted sign-in page, driven
//! like a browser (no redirect following, cookies by hand). Named after
//! the checklist's OAuth items A1, A2, A3, A6 and A7.

use crate::helpers::*;
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

const CB: &str = "https://app.example.com/cb";
const BYE: &str = "https://app.example.com/bye";
const VERIFIER: &str = "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag";

/// A form-encoded body (this reqwest is built without its `form` feature).
trait FormBody {
    fn form_body<T: serde::Serialize + ?Sized>(self, form: &T) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
    }
}

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn hosted_app() -> TestApp {
    hosted_app_with(|_| {}).await
}

async fn hosted_app_with(tweak: impl FnOnce(&mut poolgate::config::Settings)) -> TestApp {
    let app = spawn_app_with(tweak).await;
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
            Some(json!({"allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email", "profile"],
                "callback_urls": [CB, "http://localhost:3000/callback"],
                "logout_urls": [BYE]})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    app.confirmed_user("alice@example.com").await;
    app
}

fn query(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut p: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &app.client_id),
        ("redirect_uri", CB),
        ("scope", "openid email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", &ch),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    serde_urlencoded::to_string(&p).unwrap()
}

async fn get(b: &reqwest::Client, url: String, cookie: Option<&str>) -> reqwest::Response {
    let mut r = b.get(url);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
}

fn response_params(loc: &str) -> std::collections::BTreeMap<String, String> {
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str(q).unwrap()
}

/// Shows the sign-in page for `q` and posts the form: the login answer,
/// and the session cookie it set.
async fn sign_in(app: &TestApp, b: &reqwest::Client, q: &str, password: &str) -> reqwest::Response {
    sign_in_as(app, b, q, "alice@example.com", password).await
}

async fn sign_in_as(
    app: &TestApp,
    b: &reqwest::Client,
    q: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = get(
        b,
        format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "poolgate_csrf").expect("csrf cookie");
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{csrf}\"")),
        "csrf in the form"
    );
    assert!(html.contains("<label for=\"password\">"), "labelled fields");
    b.post(format!("{}/{}/login", app.base, app.pool_id))
        .header("cookie", csrf_cookie)
        .form_body(&[
            ("csrf", csrf.as_str()),
            ("authorize", q),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
        .form_body(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// `grant_type=refresh_token` at the token endpoint.
async fn oauth_refresh(app: &TestApp, token: &str) -> (u16, Value) {
    exchange(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", app.client_id.as_str()),
            ("refresh_token", token),
        ],
    )
    .await
}

async fn code_for(app: &TestApp, b: &reqwest::Client, q: &str) -> (String, Option<String>) {
    let r = sign_in(app, b, q, PASSWORD).await;
    assert_eq!(r.status(), 303, "A7: 303 after the credential POST");
    let session = set_cookie(&r, "poolgate_session");
    let p = response_params(&location(&r).unwrap());
    (p["code"].clone(), session)
}

#[tokio::test]
async fn a2_a3_a6_the_code_flow_with_pkce_issues_tokens_once() {
    let app = hosted_app().await;
    let b = browser();
    let q = query(&app, &[]);
    let r = sign_in(&app, &b, &q, "wrong password for alice").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Incorrect username or password.")
    );

    let r = sign_in(&app, &b, &q, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let loc = location(&r).unwrap();
    assert!(loc.starts_with(&format!("{CB}?")), "{loc}");
    let p = response_params(&loc);
    assert_eq!(p["state"], "st-123", "A6: state echoed");
    assert_eq!(p["iss"], app.issuer(), "A6: iss in the response (RFC 9207)");
    let code = p["code"].clone();

    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", app.client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (st, t) = exchange(&app, &form).await;
    assert_eq!(st, 200, "{t}");
    let jwks = app.jwks().await;
    let id = verify_with_jwks(t["id_token"].as_str().unwrap(), &jwks, &app.issuer());
    assert_eq!(id["nonce"], "n-456", "A6: nonce echoed");
    assert_eq!(id["aud"], app.client_id.as_str());
    let access_token = t["access_token"].as_str().unwrap();
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    assert_eq!(
        id["at_hash"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );
    let access = verify_with_jwks(access_token, &jwks, &app.issuer());
    assert_eq!(access["scope"], "openid email");

    // userInfo opens what the scopes allow.
    let (st, info) = app
        .request(
            "GET",
            &format!("/{}/oauth2/userInfo", app.pool_id),
            None,
            Some(access_token),
        )
        .await;
    assert_eq!(st, 200, "{info}");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], true);

    // A refresh keeps the granted scope.
    let (st, refreshed) = oauth_refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(st, 200, "{refreshed}");
    let again = verify_with_jwks(
        refreshed["access_token"].as_str().unwrap(),
        &jwks,
        &app.issuer(),
    );
    assert_eq!(again["scope"], "openid email");

    // A3: the code works once; a replay revokes what it issued.
    let (st, b2) = exchange(&app, &form).await;
    assert_eq!(
        (st, b2["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b2}"
    );
    let (st, b3) = oauth_refresh(&app, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (st, b3["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b3}"
    );
}

#[tokio::test]
async fn a1_the_redirect_uri_must_match_exactly_and_never_redirects_otherwise() {
    let app = hosted_app().await;
    let b = browser();
    for bad in [
        "https://app.example.com/cb/",
        "https://app.example.com/c",
        "https://APP.example.com/cb",
        "https://app.example.com/CB",
        "https://app.example.com/cb?x=1",
        "https://app.example.com/cb/extra",
        "https://app.example.com@evil.example/cb",
        "https://evil.example/cb",
        "https://app.example.com%2fcb",
        "https://app.example.com:8443/cb",
        "http://app.example.com/cb",
        "https://app.example.com/cb#frag",
        "http://localhost:3001/callback",
    ] {
        let q = query(&app, &[("redirect_uri", bad)]);
        let r = get(
            &b,
            format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
            None,
        )
        .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(location(&r).is_none(), "{bad}: no redirect");
        assert!(
            r.text().await.unwrap().contains("has not registered"),
            "{bad}"
        );
    }
    // Unknown client: a page too.
    let q = query(&app, &[("client_id", "nosuchclient")]);
    let r = get(
        &b,
        format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    assert_eq!((r.status().as_u16(), location(&r)), (400, None));
    // The registered loopback URI works.
    let q = query(&app, &[("redirect_uri", "http://localhost:3000/callback")]);
    let r = get(
        &b,
        format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a2_pkce_is_required_with_s256_and_checked() {
    let app = hosted_app().await;
    let b = browser();
    for (extra, what) in [
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "no challenge",
        ),
        (vec![("code_challenge_method", "plain")], "plain"),
        (
            vec![
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "bad challenge",
        ),
        (vec![("response_type", "token")], "implicit"),
        (
            vec![("scope", "openid aws.cognito.signin.user.admin")],
            "scope not allowed",
        ),
        (vec![("scope", "email")], "no openid"),
    ] {
        let q = query(&app, &extra);
        let r = get(
            &b,
            format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
            None,
        )
        .await;
        assert_eq!(r.status(), 302, "{what}");
        let p = response_params(&location(&r).unwrap());
        assert!(p.contains_key("error"), "{what}: {p:?}");
        assert_eq!(p["state"], "st-123", "{what}");
    }
    for (verifier, what) in [
        (Some("x".repeat(43)), "wrong verifier"),
        (Some("short".into()), "too short"),
        (None, "missing verifier"),
    ] {
        let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", app.client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CB),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v.as_str()));
        }
        let (st, e) = exchange(&app, &form).await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {e}"
        );
    }
}

#[tokio::test]
async fn a3_codes_are_bound_to_redirect_uri_client_and_time() {
    let app = hosted_app().await;
    let b = browser();
    let base = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", app.client_id.clone()),
            ("code", code.to_owned()),
            ("redirect_uri", CB.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ]
    };
    // Another redirect URI than the authorization request's.
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    let mut f = base(&code);
    f[3].1 = "http://localhost:3000/callback".into();
    let r = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
        .form_body(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Expired (codes live 5 minutes).
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    app.clock.advance(301);
    let r = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
        .form_body(&base(&code))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // Another client.
    let (st, other) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(st, 201);
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    let mut f = base(&code);
    f[1].1 = other["client_id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
        .form_body(&f)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn a3_sealed_codes_resist_tampering_races_and_late_replays() {
    let app = hosted_app().await;
    let b = browser();
    let form = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", app.client_id.clone()),
            ("code", code.to_owned()),
            ("redirect_uri", CB.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let (http, url) = (
            app.http.clone(),
            format!("{}/{}/oauth2/token", app.base, app.pool_id),
        );
        async move {
            let r = http.post(url).form_body(&f).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // A code is opaque and sealed: any change to it is refused.
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    assert!(code.starts_with("c1.") && code.len() < 1024, "{code}");
    let mid = code.len() / 2;
    let flipped = if &code[mid..mid + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &code[..mid], &code[mid + 1..]);
    for bad in [
        tampered.as_str(),
        &code[..code.len() - 4],
        "c1.",
        "c2.AAAA",
        code.trim_start_matches("c1."),
    ] {
        let (st, body) = post(form(bad)).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{bad}: {body}"
        );
    }
    // Eight exchanges of one code at once: exactly one gets tokens.
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    let answers = futures_util::future::join_all((0..8).map(|_| post(form(&code)))).await;
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (st, body) in &answers {
        if *st != 200 {
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
    // Its refresh token was revoked by the losing replays.
    let refresh = winners[0]["refresh_token"].as_str().unwrap().to_owned();
    let (st, body) = oauth_refresh(&app, refresh.as_str()).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // A replay after the code expired still revokes what it issued.
    let (code, _) = code_for(&app, &b, &query(&app, &[])).await;
    let (st, first) = post(form(&code)).await;
    assert_eq!(st, 200, "{first}");
    app.clock.advance(400);
    let (st, body) = post(form(&code)).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (st, body) = oauth_refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn a7_csrf_frames_single_sign_on_and_logout() {
    let app = hosted_app().await;
    let b = browser();
    let q = query(&app, &[]);
    let authorize = format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id);
    let page = get(&b, authorize.clone(), None).await;
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // No CSRF token: refused.
    let r = b
        .post(format!("{}/{}/login", app.base, app.pool_id))
        .form_body(&[
            ("authorize", q.as_str()),
            ("username", "alice@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(location(&r).is_none());

    // Signed in once: the next authorization is single sign-on.
    let (_, session) = code_for(&app, &b, &q).await;
    let session = session.expect("session cookie");
    let r = get(&b, authorize.clone(), Some(&session)).await;
    assert_eq!(r.status(), 302);
    assert!(response_params(&location(&r).unwrap()).contains_key("code"));
    // prompt=login asks again; prompt=none without a session is an error.
    let login_again = format!("{authorize}&prompt=login");
    assert_eq!(get(&b, login_again, Some(&session)).await.status(), 200);
    let r = get(&b, format!("{authorize}&prompt=none"), None).await;
    assert_eq!(
        response_params(&location(&r).unwrap())["error"],
        "login_required"
    );

    // Logout: the URI must be registered; without an id_token_hint the user
    // confirms; the session then ends.
    let logout = |uri: &str| {
        format!(
            "{}/{}/logout?{}",
            app.base,
            app.pool_id,
            serde_urlencoded::to_string([
                ("client_id", app.client_id.as_str()),
                ("logout_uri", uri)
            ])
            .unwrap()
        )
    };
    let r = get(&b, logout("https://evil.example/"), Some(&session)).await;
    assert_eq!((r.status().as_u16(), location(&r)), (400, None));
    let r = get(&b, logout(BYE), Some(&session)).await;
    assert_eq!(r.status(), 200, "a confirmation page");
    let csrf_cookie = set_cookie(&r, "poolgate_csrf").unwrap();
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let r = b
        .post(format!("{}/{}/logout", app.base, app.pool_id))
        .header("cookie", format!("{csrf_cookie}; {session}"))
        .form_body(&[
            ("csrf", csrf.as_str()),
            ("client_id", app.client_id.as_str()),
            ("logout_uri", BYE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r).as_deref(), Some(BYE));
    let r = get(&b, authorize, Some(&session)).await;
    assert_eq!(r.status(), 200, "signed out: the sign-in page again");
}

/// The hidden inputs of a hosted page (HTML-unescaped, as a browser sends them).
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        v.replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split_once("value=\"")?.1.split_once('"')?.0;
            Some((name.to_owned(), unescape(value)))
        })
        .collect()
}

/// Submits a hosted page's form with `fields` (and its hidden inputs and
/// CSRF cookie) to `path`.
async fn submit(
    app: &TestApp,
    b: &reqwest::Client,
    page: reqwest::Response,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let cookie = set_cookie(&page, "poolgate_csrf").expect("a form page sets its csrf cookie");
    let html = page.text().await.unwrap();
    let mut form = hidden_inputs(&html);
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    b.post(format!("{}/{}/{path}", app.base, app.pool_id))
        .header("cookie", cookie)
        .form_body(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn hosted_pages_sign_up_confirm_reset_and_choose_a_new_password() {
    let app = hosted_app().await;
    let b = browser();
    let q = query(&app, &[]);

    // Sign up, confirm with the mailed code, sign in: a code for the client.
    let page = get(&b, format!("{}/{}/signup?{q}", app.base, app.pool_id), None).await;
    assert_eq!(page.status(), 200);
    let r = submit(
        &app,
        &b,
        page,
        "signup",
        &[("email", "newbie@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let code = app.last_code("newbie@example.com").await;
    let r = submit(
        &app,
        &b,
        r,
        "confirm",
        &[("code", "000000"), ("action", "confirm")],
    )
    .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("That code is not right"), "{html}");
    let page = get(&b, format!("{}/{}/signup?{q}", app.base, app.pool_id), None).await;
    let r = submit(
        &app,
        &b,
        page,
        "signup",
        &[("email", "newbie@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert!(
        r.text().await.unwrap().contains("already exists"),
        "a taken email is said in words"
    );
    // The confirm form again (from a fresh page holding the right hidden fields).
    let page = get(&b, format!("{}/{}/signup?{q}", app.base, app.pool_id), None).await;
    let csrf = set_cookie(&page, "poolgate_csrf").unwrap();
    let token = csrf.split_once('=').unwrap().1.to_owned();
    let r = b
        .post(format!("{}/{}/confirm", app.base, app.pool_id))
        .header("cookie", csrf)
        .form_body(&[
            ("csrf", token.as_str()),
            ("authorize", q.as_str()),
            ("username", "newbie@example.com"),
            ("code", code.as_str()),
            ("action", "confirm"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Your account is confirmed"), "{html}");

    // Forgotten password: a code by mail, a new password, then sign-in.
    let page = get(
        &b,
        format!("{}/{}/forgotPassword?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    let r = submit(
        &app,
        &b,
        page,
        "forgotPassword",
        &[("username", "alice@example.com")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let code = app.last_code("alice@example.com").await;
    let new = "a completely new passphrase 1";
    let r = submit(
        &app,
        &b,
        r,
        "confirmForgotPassword",
        &[("code", code.as_str()), ("password", new)],
    )
    .await;
    assert!(r.text().await.unwrap().contains("Your password is changed"));
    let r = sign_in(&app, &b, &q, new).await;
    assert_eq!(r.status(), 303);

    // An admin-set temporary password: the page asks for a new one, then
    // the client gets its code.
    let (st, u) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/users", app.pool_id),
            Some(json!({"username": "temp@example.com", "temporary_password": "temporary passphrase 99",
                "attributes": {"email": "temp@example.com", "email_verified": "true"}})),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let page = get(
        &b,
        format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    let r = submit(
        &app,
        &b,
        page,
        "login",
        &[
            ("username", "temp@example.com"),
            ("password", "temporary passphrase 99"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = submit(
        &app,
        &b,
        r,
        "newPassword",
        &[("new_password", "my own passphrase 77")],
    )
    .await;
    assert_eq!(r.status(), 303, "signed in with the new password");
    assert!(response_params(&location(&r).unwrap()).contains_key("code"));
}

#[tokio::test]
async fn hosted_pages_wear_the_pool_branding_and_the_clients_overrides() {
    let app = hosted_app().await;
    let pool = format!("/v1/admin/pools/{}", app.pool_id);
    let client = format!("{pool}/clients/{}", app.client_id);
    let (st, b) = app
        .admin(
            "PATCH",
            &pool,
            Some(
                json!({"branding": {"logo_url": "https://cdn.example.com/logo.png",
                "primary_color": "#aa3300", "background_color": "#fafafa",
                "custom_css": "main > h1 { letter-spacing: .05em }"}}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let b = browser();
    let page = |b: reqwest::Client, url: String| async move {
        let r = get(&b, url, None).await;
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let url = format!(
        "{}/{}/oauth2/authorize?{}",
        app.base,
        app.pool_id,
        query(&app, &[])
    );
    let html = page(b.clone(), url.clone()).await;
    assert!(
        html.contains(r#"<img class="logo" src="https:&#x2f;&#x2f;cdn.example.com&#x2f;logo.png""#),
        "{html}"
    );
    assert!(html.contains("background:#aa3300"), "{html}");
    assert!(html.contains("background:#fafafa"), "{html}");
    // Custom CSS goes in as written (it cannot contain `<`).
    assert!(
        html.contains("main > h1 { letter-spacing: .05em }"),
        "{html}"
    );

    // The client overrides what it names; the rest stays the pool's.
    let (st, _) = app
        .admin(
            "PATCH",
            &client,
            Some(json!({"branding": {"primary_color": "#007755"}})),
        )
        .await;
    assert_eq!(st, 200);
    let html = page(b.clone(), url.clone()).await;
    assert!(html.contains("background:#007755") && !html.contains("#aa3300"));
    assert!(html.contains("background:#fafafa") && html.contains("logo.png"));
    // The other hosted pages too (the sign-up page acts for the client).
    let signup = format!("{}/{}/signup?{}", app.base, app.pool_id, query(&app, &[]));
    assert!(page(b.clone(), signup).await.contains("background:#007755"));

    for bad in [
        json!({"primary_color": "red; } body { display:none"}),
        json!({"primary_color": "#12345"}),
        json!({"logo_url": "javascript:alert(1)"}),
        json!({"logo_url": "http://cdn.example.com/logo.png"}),
        json!({"logo_url": "data:image/svg+xml;base64,PHN2Zz4="}),
        json!({"custom_css": "</style><script>alert(1)</script>"}),
        json!({"custom_css": "@import url(https://evil.example/x.css);"}),
        json!({"unknown": "x"}),
    ] {
        for target in [&pool, &client] {
            let (st, b) = app
                .admin("PATCH", target, Some(json!({ "branding": bad })))
                .await;
            assert_eq!(st, 400, "{target} {bad} -> {b}");
        }
    }
}

fn logout_url(app: &TestApp, hint: Option<&str>) -> String {
    let mut p = vec![("client_id", app.client_id.as_str()), ("logout_uri", BYE)];
    if let Some(h) = hint {
        p.push(("id_token_hint", h));
    }
    format!(
        "{}/{}/logout?{}",
        app.base,
        app.pool_id,
        serde_urlencoded::to_string(&p).unwrap()
    )
}

#[tokio::test]
async fn a7_logout_with_another_users_id_token_hint_confirms_and_keeps_the_session() {
    let app = hosted_app().await;
    let b = browser();
    let q = query(&app, &[]);
    let authorize = format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id);
    let (code, session) = code_for(&app, &b, &q).await;
    let session = session.expect("session cookie");
    let (st, t) = exchange(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", app.client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let alice = t["id_token"].as_str().unwrap().to_owned();
    let bob = app.confirmed_user("bob@example.com").await;
    let bob = bob["id_token"].as_str().unwrap();

    // Bob's valid ID token does not end Alice's session.
    let r = get(&b, logout_url(&app, Some(bob)), Some(&session)).await;
    assert_eq!(r.status(), 200, "the confirmation page");
    assert!(location(&r).is_none());
    assert!(
        set_cookie(&r, "poolgate_session").is_none(),
        "the session cookie is kept"
    );
    let r = get(&b, authorize.clone(), Some(&session)).await;
    assert_eq!(r.status(), 302, "still signed in (single sign-on)");

    // Alice's own ends it at once.
    let r = get(&b, logout_url(&app, Some(&alice)), Some(&session)).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r).as_deref(), Some(BYE));
    let r = get(&b, authorize, Some(&session)).await;
    assert_eq!(r.status(), 200, "signed out: the sign-in page again");
}

#[tokio::test]
async fn a7_a_csrf_token_of_one_session_is_refused_in_another() {
    let app = hosted_app().await;
    app.confirmed_user("bob@example.com").await;
    let b = browser();
    let q = query(&app, &[]);
    let (_, alice) = code_for(&app, &b, &q).await;
    let alice = alice.expect("alice's session");
    let r = sign_in_as(&app, &b, &q, "bob@example.com", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let bob = set_cookie(&r, "poolgate_session").expect("bob's session");

    // Alice's confirmation page: its CSRF cookie and token.
    let page = get(&b, logout_url(&app, None), Some(&alice)).await;
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "poolgate_csrf").unwrap();
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let post = |session: Option<&str>| {
        let cookie = match session {
            Some(s) => format!("{csrf_cookie}; {s}"),
            None => csrf_cookie.clone(),
        };
        b.post(format!("{}/{}/logout", app.base, app.pool_id))
            .header("cookie", cookie)
            .form_body(&[
                ("csrf", csrf.as_str()),
                ("client_id", app.client_id.as_str()),
                ("logout_uri", BYE),
            ])
            .send()
    };
    // In Bob's session (or none), Alice's token is refused.
    assert_eq!(post(Some(&bob)).await.unwrap().status(), 403);
    assert_eq!(post(None).await.unwrap().status(), 403);
    let authorize = format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id);
    assert_eq!(
        get(&b, authorize.clone(), Some(&bob)).await.status(),
        302,
        "bob still signed in"
    );
    // In her own, it works.
    let r = post(Some(&alice)).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(get(&b, authorize, Some(&alice)).await.status(), 200);
}

#[tokio::test]
async fn a7_the_csrf_cookie_is_host_prefixed_on_https() {
    let app = hosted_app_with(|s| s.server.public_url = "https://poolgate.test".into()).await;
    let b = browser();
    let q = query(&app, &[]);
    let page = get(
        &b,
        format!("{}/{}/oauth2/authorize?{q}", app.base, app.pool_id),
        None,
    )
    .await;
    assert_eq!(page.status(), 200);
    let full = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.contains("poolgate_csrf="))
        .expect("a csrf cookie");
    assert!(full.starts_with("__Host-poolgate_csrf="), "{full}");
    assert!(
        full.contains("; Path=/;") && full.contains("; Secure"),
        "{full}"
    );
    assert!(!full.to_ascii_lowercase().contains("domain="), "{full}");
    // The form posts back with it.
    let csrf_cookie = set_cookie(&page, "__Host-poolgate_csrf").unwrap();
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let r = b
        .post(format!("{}/{}/login", app.base, app.pool_id))
        .header("cookie", &csrf_cookie)
        .form_body(&[
            ("csrf", csrf.as_str()),
            ("authorize", q.as_str()),
            ("username", "alice@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The un-prefixed name is not accepted on https.
    let plain = csrf_cookie.replacen("__Host-", "", 1);
    let r = b
        .post(format!("{}/{}/login", app.base, app.pool_id))
        .header("cookie", plain)
        .form_body(&[
            ("csrf", csrf.as_str()),
            ("authorize", q.as_str()),
            ("username", "alice@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
