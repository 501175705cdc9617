//! The hosted pages and the browser side of OAuth 2.0 / OpenID Connect
//! (Cognito's paths under the pool's issuer): `/oauth2/authorize`, the
//! sign-in page it shows (`POST /login`), `/oauth2/userInfo` and `/logout`.
//! Server-rendered HTML that works without JavaScript; every form carries a
//! CSRF token bound to a cookie; pages cannot be framed; redirects after a
//! credential POST are 303 (RFC 9700 section 4.12).

use crate::app::AppState;
use crate::crypto::{ct_eq, random};
use crate::user_pools::authorize::{Authorization, AuthorizeError, redirect_with};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{pool_id}/oauth2/authorize", get(authorize))
        .route("/{pool_id}/login", axum::routing::post(login))
        .route("/{pool_id}/oauth2/userInfo", get(userinfo).post(userinfo))
        .route("/{pool_id}/logout", get(logout).post(logout_confirmed))
}

const SESSION_COOKIE: &str = "poolgate_session";
const CSRF_COOKIE: &str = "poolgate_csrf";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;margin:0;color:#1d2330}
main{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:1rem 0 .3rem;font-weight:600}
input[type=text],input[type=password],input[type=email]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #9aa1ad;border-radius:4px}
button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:#1f5fd6;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:4px}
@media (max-width:30rem){main{margin:0;border-radius:0;min-height:100vh}}
</style>
</head>
<body><main>
<h1>{{ title }}</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if form == "login" %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="authorize" value="{{ authorize }}">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" autocomplete="username" required value="{{ login_hint }}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{% elif form == "logout" %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="logout_uri" value="{{ logout_uri }}">
<p>Do you want to sign out?</p>
<button type="submit">Sign out</button>
</form>
{% else %}
<p>{{ message }}</p>
{% endif %}
</main></body></html>
"#;

fn render(status: StatusCode, ctx: minijinja::Value, cookies: &[String]) -> Response {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let html = env.render_str(PAGE, ctx).unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    });
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    page_headers(r.headers_mut());
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A7: never framed, never cached.
fn page_headers(h: &mut HeaderMap) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        minijinja::context! { title => "Sign-in problem", form => "message", message => message },
        &[],
    )
}

fn redirect(status: StatusCode, to: &str, cookies: &[String]) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    page_headers(r.headers_mut());
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A cookie scoped to the pool's paths: HttpOnly, SameSite=Lax, Secure
/// when the server is served over https.
fn set_cookie(s: &AppState, pool_id: &str, name: &str, value: &str, max_age: i64) -> String {
    let secure = if s.pools.issuer(pool_id).starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/{pool_id}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// Parameters of a query or form; a repeated one is refused.
fn params(raw: &str) -> Option<BTreeMap<String, String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).ok()?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if out.insert(k, v).is_some() {
            return None;
        }
    }
    Some(out)
}

/// The form's CSRF token equals its cookie (double submit; the cookie is
/// HttpOnly, SameSite=Lax and scoped to the pool).
fn csrf_ok(headers: &HeaderMap, form: &BTreeMap<String, String>) -> bool {
    match (cookie(headers, CSRF_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => !c.is_empty() && ct_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

fn refusal(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(m) => error_page(StatusCode::BAD_REQUEST, &m),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut p = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(s) = &state {
                p.push(("state", s.as_str()));
            }
            redirect(StatusCode::FOUND, &redirect_with(&redirect_uri, &p), &[])
        }
    }
}

fn login_page(
    s: &AppState,
    pool_id: &str,
    a: &Authorization,
    raw_query: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = random::token();
    render(
        status,
        minijinja::context! {
            title => "Sign in", form => "login", error => error,
            action => format!("/{pool_id}/login"), csrf => &csrf, authorize => raw_query,
            login_hint => a.login_hint.clone().unwrap_or_default(),
        },
        &[set_cookie(s, pool_id, CSRF_COOKIE, &csrf, 3600)],
    )
}

/// `GET /oauth2/authorize`: a code at once for a signed-in browser (single
/// sign-on), else the sign-in page.
pub async fn authorize(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = raw.unwrap_or_default();
    let Some(q) = params(&raw).filter(|_| raw.len() <= 8192) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-in link is malformed.");
    };
    let a = match s.pools.check_authorize(&pool_id, &q).await {
        Ok(a) => a,
        Err(e) => return refusal(e),
    };
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(t) => s.pools.login_session(&pool_id, &t).await,
        None => None,
    };
    match (session, a.prompt.as_deref()) {
        (Some((sub, auth_time)), p) if p != Some("login") => {
            match s.pools.issue_code(&a, &sub, auth_time).await {
                Ok(to) => redirect(StatusCode::FOUND, &to, &[]),
                Err(_) => error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signing in is not possible right now. Please try again.",
                ),
            }
        }
        (None, Some("none")) => refusal(AuthorizeError::Redirect {
            redirect_uri: a.redirect_uri.clone(),
            state: a.state.clone(),
            error: "login_required",
            description: "The user is not signed in".into(),
        }),
        _ => login_page(&s, &pool_id, &a, &raw, None, StatusCode::OK),
    }
}

/// The sign-in form's POST: CSRF checked, the authorization request checked
/// again, the password checked; then the session cookie and a 303 to the
/// client with its code.
pub async fn login(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = std::str::from_utf8(&body).ok().and_then(params);
    let Some(form) = form.filter(|_| body.len() <= 16 * 1024) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&headers, &form) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Go back to the application and start signing in again.",
        );
    }
    let raw = form.get("authorize").cloned().unwrap_or_default();
    let Some(q) = params(&raw) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-in link is malformed.");
    };
    let a = match s.pools.check_authorize(&pool_id, &q).await {
        Ok(a) => a,
        Err(e) => return refusal(e),
    };
    let (username, password) = (
        form.get("username").map(String::as_str).unwrap_or(""),
        form.get("password").map(String::as_str).unwrap_or(""),
    );
    if username.is_empty() || password.is_empty() || username.len() > 256 {
        return login_page(
            &s,
            &pool_id,
            &a,
            &raw,
            Some("Enter your username and password."),
            StatusCode::BAD_REQUEST,
        );
    }
    match s
        .pools
        .hosted_sign_in(&pool_id, &a.client_id, username, password)
        .await
    {
        Ok(session) => match s
            .pools
            .issue_code(&a, &session.sub, session.auth_time)
            .await
        {
            Ok(to) => redirect(
                StatusCode::SEE_OTHER,
                &to,
                &[
                    set_cookie(
                        &s,
                        &pool_id,
                        SESSION_COOKIE,
                        &session.token,
                        crate::user_pools::authorize::LOGIN_SESSION_TTL,
                    ),
                    set_cookie(&s, &pool_id, CSRF_COOKIE, "", 0),
                ],
            ),
            Err(_) => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is not possible right now. Please try again.",
            ),
        },
        Err(e) => {
            use crate::error::ErrorKind::*;
            let (message, status) = match e.kind {
                UserNotConfirmed => (
                    "Your account is not confirmed yet. Enter the code we sent you in the application first.",
                    StatusCode::BAD_REQUEST,
                ),
                PasswordResetRequired => (
                    "You must choose a new password before you can sign in here.",
                    StatusCode::BAD_REQUEST,
                ),
                TooManyRequests | ServiceUnavailable => (
                    "Too many attempts. Wait a minute and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                Internal => (
                    "Signing in is not possible right now. Please try again.",
                    StatusCode::SERVICE_UNAVAILABLE,
                ),
                _ => ("Incorrect username or password.", StatusCode::UNAUTHORIZED),
            };
            login_page(&s, &pool_id, &a, &raw, Some(message), status)
        }
    }
}

/// OpenID Connect userInfo (`Authorization: Bearer <access token>`).
pub async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match s.pools.userinfo(token).await {
        Ok(claims) => {
            let mut r = axum::Json(claims).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "invalid_token",
                    "error_description": "The access token is invalid or expired"})),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            r
        }
    }
}

/// The client and logout URI of a logout request, both registered (the
/// URI matched exactly, no open redirect).
async fn logout_target(
    s: &AppState,
    pool_id: &str,
    q: &BTreeMap<String, String>,
) -> Result<(String, String), Response> {
    let bad = |m: &str| error_page(StatusCode::BAD_REQUEST, m);
    let client_id = q
        .get("client_id")
        .ok_or_else(|| bad("The application did not say who it is (client_id)."))?;
    let client = s
        .pools
        .store
        .get_client(pool_id, client_id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| bad("The application is not known here."))?;
    let uri = q
        .get("logout_uri")
        .ok_or_else(|| bad("The application did not say where to return (logout_uri)."))?;
    if !client.settings.logout_urls.iter().any(|u| u == uri) {
        return Err(bad(
            "The application asked to return to an address it has not registered.",
        ));
    }
    Ok((client.id.clone(), uri.clone()))
}

/// `GET /logout?client_id&logout_uri[&id_token_hint]`: with a valid ID
/// token of that client the session ends at once; otherwise the user
/// confirms on a page (A7).
pub async fn logout(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(q) = params(&raw.unwrap_or_default()) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-out link is malformed.");
    };
    let (client_id, uri) = match logout_target(&s, &pool_id, &q).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let hinted = match q.get("id_token_hint") {
        Some(t) => {
            let issuer = s.pools.issuer(&pool_id);
            s.pools
                .keys
                .verify::<serde_json::Value>(&pool_id, t, &issuer)
                .await
                .ok()
                .is_some_and(|c| c["aud"] == client_id.as_str() && c["token_use"] == "id")
        }
        None => false,
    };
    if hinted {
        return end_session(&s, &pool_id, &headers, &uri, StatusCode::FOUND).await;
    }
    let csrf = random::token();
    render(
        StatusCode::OK,
        minijinja::context! {
            title => "Sign out", form => "logout", action => format!("/{pool_id}/logout"),
            csrf => &csrf, client_id => client_id, logout_uri => uri,
        },
        &[set_cookie(&s, &pool_id, CSRF_COOKIE, &csrf, 3600)],
    )
}

/// The sign-out confirmation's POST.
pub async fn logout_confirmed(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = std::str::from_utf8(&body).ok().and_then(params) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&headers, &form) {
        return error_page(StatusCode::FORBIDDEN, "This form has expired.");
    }
    let (_, uri) = match logout_target(&s, &pool_id, &form).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    end_session(&s, &pool_id, &headers, &uri, StatusCode::SEE_OTHER).await
}

async fn end_session(
    s: &AppState,
    pool_id: &str,
    headers: &HeaderMap,
    to: &str,
    status: StatusCode,
) -> Response {
    if let Some(t) = cookie(headers, SESSION_COOKIE)
        && s.pools.end_login_session(&t).await.is_err()
    {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing out is not possible right now. Please try again.",
        );
    }
    redirect(
        status,
        to,
        &[
            set_cookie(s, pool_id, SESSION_COOKIE, "", 0),
            set_cookie(s, pool_id, CSRF_COOKIE, "", 0),
        ],
    )
}
