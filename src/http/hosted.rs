//! The hosted pages and the browser side of OAuth 2.0 / OpenID Connect
//! (Cognito's paths under the pool's issuer): `/oauth2/authorize`, the
//! sign-in page it shows (`POST /login`), `/oauth2/userInfo` and `/logout`.
//! Server-rendered HTML that works without JavaScript; every form carries a
//! CSRF token bound to a cookie; pages cannot be framed; redirects after a
//! credential POST are 303 (RFC 9700 section 4.12).

use crate::app::AppState;
use crate::crypto::{ct_eq, random};
use crate::user_pools::authorize::{Authorization, AuthorizeError, HostedSignIn, redirect_with};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    // Parse the page template now, at start, rather than at the first page.
    std::sync::LazyLock::force(&PAGES);
    Router::new()
        .route("/{pool_id}/oauth2/authorize", get(authorize))
        .route("/{pool_id}/login", axum::routing::post(login))
        .route("/{pool_id}/newPassword", axum::routing::post(new_password))
        .route("/{pool_id}/mfa", axum::routing::post(mfa))
        .route("/{pool_id}/passkeys", get(passkeys_page).post(passkeys))
        .route("/{pool_id}/signup", get(signup_page).post(signup))
        .route("/{pool_id}/confirm", axum::routing::post(confirm))
        .route("/{pool_id}/forgotPassword", get(forgot_page).post(forgot))
        .route(
            "/{pool_id}/confirmForgotPassword",
            axum::routing::post(confirm_forgot),
        )
        .route("/{pool_id}/oauth2/userInfo", get(userinfo).post(userinfo))
        .route(
            "/{pool_id}/oauth2/idpresponse",
            get(idp_response_get).post(idp_response_post),
        )
        .route("/{pool_id}/logout", get(logout).post(logout_confirmed))
        .layer(axum::middleware::from_fn(with_browser_session))
}

tokio::task_local! {
    /// The sign-in session cookie of the request being served, which the
    /// CSRF tokens of the pages it answers are bound to.
    static BROWSER_SESSION: Option<String>;
}

async fn with_browser_session(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let session = cookie(req.headers(), SESSION_COOKIE).filter(|c| !c.is_empty());
    BROWSER_SESSION.scope(session, next.run(req)).await
}

/// The pool of a hosted path; an unknown pool is the API's 404 problem
/// (these routes sit at the top level, beside every other path).
pub struct KnownPool(pub String);

impl axum::extract::FromRequestParts<AppState> for KnownPool {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let not_found = || {
            super::error::problem_response(
                crate::error::ErrorKind::NotFound,
                "No such endpoint",
                None,
            )
        };
        let Path(params): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, s)
            .await
            .map_err(|_| not_found())?;
        let id = params.get("pool_id").cloned().ok_or_else(not_found)?;
        if id.len() > 64 || s.pools.pool(&id).await.is_err() {
            return Err(not_found());
        }
        Ok(KnownPool(id))
    }
}

const SESSION_COOKIE: &str = "poolgate_session";
const CSRF_COOKIE: &str = "poolgate_csrf";
/// The CSRF cookie's name on https: the `__Host-` prefix makes browsers
/// refuse it unless Secure, for `Path=/` and without `Domain`, so a sibling
/// subdomain cannot plant one.
const HOST_CSRF_COOKIE: &str = "__Host-poolgate_csrf";
/// Binds a redirect to an identity provider to the browser that started it.
const FEDERATION_COOKIE: &str = "poolgate_fed";

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:{{ brand.background_color or "#f4f5f7" }};margin:0;color:{{ brand.text_color or "#1d2330" }}}
main{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:1rem 0 .3rem;font-weight:600}
input:not([type=hidden]){width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #9aa1ad;border-radius:4px}
button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:{{ brand.primary_color or "#1f5fd6" }};color:#fff;border:0;border-radius:4px;cursor:pointer}
button.secondary{margin-top:.6rem;background:#fff;color:{{ brand.primary_color or "#1f5fd6" }};border:1px solid {{ brand.primary_color or "#1f5fd6" }}}
.error{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:4px}
.info{background:#e8f1fd;color:#123a7a;padding:.6rem;border-radius:4px}
a{color:{{ brand.primary_color or "#1f5fd6" }}}
img.logo{display:block;max-width:100%;max-height:4rem;margin:0 auto 1rem}
a.idp{display:block;text-align:center;padding:.7rem;border:1px solid #1d2330;border-radius:4px;color:#1d2330;text-decoration:none;font-weight:600}
.or{text-align:center;color:#5b6270}
@media (max-width:30rem){main{margin:0;border-radius:0;min-height:100vh}}
</style>
{% if brand.custom_css %}<style>{{ brand.custom_css|safe }}</style>{% endif %}
</head>
<body><main>
{% if brand.logo_url %}<img class="logo" src="{{ brand.logo_url }}" alt="">{% endif %}
<h1>{{ title }}</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if info %}<p class="info" role="status">{{ info }}</p>{% endif %}
{% if message %}<p>{{ message }}</p>{% endif %}
{% if image %}<p><img class="qr" src="{{ image }}" alt="QR code of the authenticator key" width="200" height="200"></p>{% endif %}
{% for p in providers %}<p><a class="idp" href="{{ p.value }}">{{ p.label }}</a></p>
{% endfor %}{% if providers and form %}<p class="or">or</p>{% endif %}
{% if items %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>{% endif %}
{% if form %}
<form method="post" action="{{ form.action }}" id="main-form">
<input type="hidden" name="csrf" value="{{ csrf }}">
{% for h in form.hidden %}<input type="hidden" name="{{ h.name }}" value="{{ h.value }}">
{% endfor %}{% for f in form.fields %}<label for="{{ f.name }}">{{ f.label }}</label>
<input id="{{ f.name }}" name="{{ f.name }}" type="{{ f.kind }}" autocomplete="{{ f.autocomplete }}"{% if f.inputmode %} inputmode="{{ f.inputmode }}"{% endif %}{% if f.required %} required{% endif %} value="{{ f.value }}">
{% endfor %}<button type="submit" name="action" value="{{ form.submit_value }}">{{ form.submit }}</button>
{% for b in form.secondary %}<button type="submit" name="action" value="{{ b.value }}" class="secondary" formnovalidate>{{ b.label }}</button>
{% endfor %}</form>
{% endif %}
{% if webauthn %}<p id="webauthn-error" class="error" role="alert" hidden></p>
<noscript><p class="error">Passkeys need JavaScript, which is off in this browser.</p></noscript>
<div id="webauthn" data-mode="{{ webauthn.mode }}" data-options="{{ webauthn.options }}" hidden></div>
<script nonce="{{ nonce }}">{{ script|safe }}</script>{% endif %}
{% for l in links %}<p><a href="{{ l.href }}">{{ l.label }}</a></p>
{% endfor %}
</main></body></html>
"##;

/// One input of a hosted form.
#[derive(serde::Serialize)]
struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    required: bool,
    value: String,
    inputmode: &'static str,
}

fn field(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
) -> Field {
    Field {
        name,
        label,
        kind,
        autocomplete,
        required: true,
        value: String::new(),
        inputmode: "",
    }
}

#[derive(serde::Serialize)]
struct NameValue {
    name: &'static str,
    value: String,
}

#[derive(serde::Serialize)]
struct Button<V = &'static str, L = &'static str> {
    value: V,
    label: L,
}

#[derive(serde::Serialize)]
struct Form {
    action: String,
    hidden: Vec<NameValue>,
    fields: Vec<Field>,
    submit: &'static str,
    submit_value: &'static str,
    secondary: Vec<Button<String, String>>,
}

/// A passkey step on a page: `create` (add one) or `get` (sign in), with
/// the options for the browser.
#[derive(serde::Serialize)]
struct WebAuthnStep {
    mode: &'static str,
    options: String,
}

/// The passkey steps' script: it turns the options into what
/// `navigator.credentials` takes, asks the browser, and submits the
/// answer (as JSON, binary members base64url) in the form's `credential`.
const WEBAUTHN_JS: &str = r#"(function () {
  var el = document.getElementById('webauthn');
  var form = document.getElementById('main-form');
  var err = document.getElementById('webauthn-error');
  function bin(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function txt(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function fail(m) { err.textContent = m; err.hidden = false; }
  if (!window.PublicKeyCredential || !navigator.credentials) {
    fail('This browser cannot use passkeys.');
    return;
  }
  form.addEventListener('submit', function (ev) {
    var by = ev.submitter;
    if (by && by.value && by.value.indexOf('delete:') === 0) return;
    if (form.elements.credential.value) return;
    ev.preventDefault();
    var o = JSON.parse(el.dataset.options);
    o.challenge = bin(o.challenge);
    var ask;
    if (el.dataset.mode === 'create') {
      o.user.id = bin(o.user.id);
      (o.excludeCredentials || []).forEach(function (c) { c.id = bin(c.id); });
      ask = navigator.credentials.create({ publicKey: o });
    } else {
      (o.allowCredentials || []).forEach(function (c) { c.id = bin(c.id); });
      ask = navigator.credentials.get({ publicKey: o });
    }
    ask.then(function (c) {
      var r = c.response, out = {
        id: c.id, rawId: txt(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || null,
        clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
        response: { clientDataJSON: txt(r.clientDataJSON) }
      };
      if (r.attestationObject) {
        out.response.attestationObject = txt(r.attestationObject);
        out.response.transports = r.getTransports ? r.getTransports() : [];
      } else {
        out.response.authenticatorData = txt(r.authenticatorData);
        out.response.signature = txt(r.signature);
        out.response.userHandle = r.userHandle ? txt(r.userHandle) : null;
      }
      form.elements.credential.value = JSON.stringify(out);
      if (by && by.name) {
        var h = document.createElement('input');
        h.type = 'hidden'; h.name = by.name; h.value = by.value;
        form.appendChild(h);
      }
      form.submit();
    }, function (e) {
      fail('The passkey step did not finish (' + e.name + '). Try again.');
    });
  });
})();"#;

#[derive(serde::Serialize)]
struct Link {
    href: String,
    label: &'static str,
}

/// A hosted page: a title, an optional form (with its CSRF token and
/// cookie), messages, links.
#[derive(serde::Serialize, Default)]
struct Page {
    title: &'static str,
    error: Option<String>,
    info: Option<String>,
    message: Option<String>,
    form: Option<Form>,
    links: Vec<Link>,
    /// An image (a data: URL), e.g. the QR code of a TOTP key.
    image: Option<String>,
    /// Sign-in buttons of external identity providers (`value`: the link).
    providers: Vec<Button<String, String>>,
    csrf: String,
    /// Lines of a list (e.g. the user's passkeys).
    items: Vec<String>,
    /// A passkey step (the page then carries its script).
    webauthn: Option<WebAuthnStep>,
    script: &'static str,
    nonce: String,
    /// The client whose branding applies (else the form's authorization
    /// request names it).
    #[serde(skip)]
    client_id: Option<String>,
    brand: crate::model::Branding,
}

impl Form {
    /// The client a form acts for: its `client_id`, or the one its
    /// authorization request names.
    fn client_id(&self) -> Option<String> {
        self.hidden.iter().find_map(|h| match h.name {
            "client_id" => Some(h.value.clone()),
            "authorize" => params(&h.value).and_then(|q| q.get("client_id").cloned()),
            _ => None,
        })
    }
}

impl Page {
    async fn show(mut self, s: &AppState, pool_id: &str, status: StatusCode) -> Response {
        let client = self
            .client_id
            .clone()
            .or_else(|| self.form.as_ref().and_then(Form::client_id));
        self.brand = s.pools.branding(pool_id, client.as_deref()).await;
        let mut cookies = vec![];
        if self.form.is_some() {
            let session = BROWSER_SESSION.try_with(Clone::clone).ok().flatten();
            self.csrf = s.pools.csrf_token(pool_id, session.as_deref());
            cookies.push(csrf_cookie(s, pool_id, &self.csrf, 3600));
        }
        if self.webauthn.is_none() {
            return render(status, &self, &cookies);
        }
        // The one script this page runs, by its nonce.
        self.script = WEBAUTHN_JS;
        self.nonce = random::token();
        let mut r = render(status, &self, &cookies);
        if let Ok(v) = HeaderValue::from_str(&format!(
            "default-src 'none'; script-src 'nonce-{}'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'",
            self.nonce
        )) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        r
    }
}

/// The page template, parsed once (`router` forces it at start), HTML-escaped.
static PAGES: std::sync::LazyLock<minijinja::Environment<'static>> =
    std::sync::LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("page.html", PAGE)
            .expect("the hosted page template parses");
        env
    });

fn render<C: serde::Serialize>(status: StatusCode, ctx: C, cookies: &[String]) -> Response {
    let html = PAGES
        .get_template("page.html")
        .and_then(|page| page.render(minijinja::value::Serde(ctx)))
        .unwrap_or_else(|_| {
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

/// A7: never framed, never cached. (No `form-action`: Chromium applies it
/// to the 303 after the sign-in POST, which goes to the client's origin.)
fn page_headers(h: &mut HeaderMap) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// What axum refuses before a handler runs (another method, a form over the
/// size limit, a malformed path), as the pages' error page.
pub async fn rejections(resp: Response) -> Response {
    use crate::error::ErrorKind;
    match super::error::framework_rejection(&resp) {
        Some(r) => {
            let message = match r.kind {
                ErrorKind::MethodNotAllowed => "This page cannot be used that way.",
                ErrorKind::PayloadTooLarge => "The form is too large.",
                ErrorKind::NotFound => "There is no such page.",
                _ => "The address or the form of this page is malformed.",
            };
            r.finish(error_page(r.status, message))
        }
        None => resp,
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        &Page {
            title: "Sign-in problem",
            message: Some(message.to_owned()),
            ..Page::default()
        },
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

fn https(s: &AppState, pool_id: &str) -> bool {
    s.pools.issuer(pool_id).starts_with("https://")
}

/// The CSRF cookie: `__Host-` prefixed (so `Path=/`) on https, scoped to the
/// pool's paths otherwise.
fn csrf_cookie(s: &AppState, pool_id: &str, value: &str, max_age: i64) -> String {
    if https(s, pool_id) {
        format!(
            "{HOST_CSRF_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax; Secure"
        )
    } else {
        set_cookie(s, pool_id, CSRF_COOKIE, value, max_age)
    }
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
/// HttpOnly, SameSite=Lax, `__Host-` on https) and was issued for this pool
/// and for the browser's current sign-in session.
fn csrf_ok(
    s: &AppState,
    pool_id: &str,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> bool {
    let name = if https(s, pool_id) {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    };
    let session = cookie(headers, SESSION_COOKIE).filter(|c| !c.is_empty());
    match (cookie(headers, name), form.get("csrf")) {
        (Some(c), Some(f)) => {
            !c.is_empty()
                && ct_eq(c.as_bytes(), f.as_bytes())
                && s.pools.csrf_valid(pool_id, session.as_deref(), f)
        }
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

async fn login_page(
    s: &AppState,
    pool_id: &str,
    a: &Authorization,
    raw_query: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    login_page_with(s, pool_id, a, raw_query, error, None, status).await
}

async fn login_page_with(
    s: &AppState,
    pool_id: &str,
    a: &Authorization,
    raw_query: &str,
    error: Option<&str>,
    info: Option<&str>,
    status: StatusCode,
) -> Response {
    let mut user = field("username", "Username or email", "text", "username");
    user.value = a.login_hint.clone().unwrap_or_default();
    let providers = s
        .pools
        .client_providers(pool_id, &a.client_id)
        .await
        .into_iter()
        .map(|name| {
            let href = format!(
                "/{pool_id}/oauth2/authorize?{raw_query}&{}",
                serde_urlencoded::to_string([("identity_provider", &name)]).unwrap_or_default()
            );
            Button {
                label: format!("Continue with {name}"),
                value: href,
            }
        })
        .collect();
    let passkey_button = match s.pools.pool(pool_id).await {
        Ok(p) if crate::user_pools::passkeys::offers_passkey_sign_in(&p) => vec![Button {
            value: "passkey".into(),
            label: "Sign in with a passkey".into(),
        }],
        _ => vec![],
    };
    if !s.pools.client_offers_password(pool_id, &a.client_id).await {
        return Page {
            title: "Sign in",
            error: error.map(str::to_owned),
            info: info.map(str::to_owned),
            providers,
            ..Page::default()
        }
        .show(s, pool_id, status)
        .await;
    }
    Page {
        title: "Sign in",
        error: error.map(str::to_owned),
        info: info.map(str::to_owned),
        providers,
        form: Some(Form {
            action: format!("/{pool_id}/login"),
            hidden: vec![NameValue {
                name: "authorize",
                value: raw_query.to_owned(),
            }],
            fields: vec![
                user,
                field("password", "Password", "password", "current-password"),
            ],
            submit: "Sign in",
            submit_value: "signin",
            secondary: passkey_button,
        }),
        links: vec![
            Link {
                href: format!("/{pool_id}/forgotPassword?{raw_query}"),
                label: "Forgot your password?",
            },
            Link {
                href: format!("/{pool_id}/signup?{raw_query}"),
                label: "Create an account",
            },
        ],
        ..Page::default()
    }
    .show(s, pool_id, status)
    .await
}

/// `GET /oauth2/authorize`: a code at once for a signed-in browser (single
/// sign-on), else the sign-in page.
pub async fn authorize(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
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
    if a.identity_provider.is_some() && a.prompt.as_deref() != Some("none") {
        return federate(&s, &pool_id, &a).await;
    }
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
        _ => login_page(&s, &pool_id, &a, &raw, None, StatusCode::OK).await,
    }
}

/// Sends the browser to the external identity provider the authorization
/// request named, with the cookie its answer must come back with.
async fn federate(s: &AppState, pool_id: &str, a: &Authorization) -> Response {
    match s.pools.start_federation(a).await {
        Ok(start) => {
            // Sign in with Apple answers with a cross-site form POST, which
            // a SameSite=Lax cookie would not accompany.
            let mut c = set_cookie(
                s,
                pool_id,
                FEDERATION_COOKIE,
                &start.binding,
                crate::user_pools::federation::FEDERATION_TTL,
            );
            if c.ends_with("; Secure") {
                c = c.replace("SameSite=Lax", "SameSite=None");
            }
            redirect(StatusCode::FOUND, &start.location, &[c])
        }
        Err(_) => refusal(AuthorizeError::Redirect {
            redirect_uri: a.redirect_uri.clone(),
            state: a.state.clone(),
            error: "temporarily_unavailable",
            description: "The identity provider cannot be reached".into(),
        }),
    }
}

/// `/oauth2/idpresponse`: the identity provider's answer, by redirect
/// (query) ...
pub async fn idp_response_get(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    idp_response(&s, &pool_id, raw.as_deref().unwrap_or(""), &headers).await
}

/// ... or by form POST (`response_mode=form_post`, Sign in with Apple).
/// No CSRF token here: the single-use `state` and its browser-bound
/// cookie stand for it.
pub async fn idp_response_post(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match std::str::from_utf8(&body) {
        Ok(raw) => idp_response(&s, &pool_id, raw, &headers).await,
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The sign-in answer is malformed."),
    }
}

async fn idp_response(s: &AppState, pool_id: &str, raw: &str, headers: &HeaderMap) -> Response {
    let Some(answer) = params(raw).filter(|_| raw.len() <= 16 * 1024) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-in answer is malformed.");
    };
    let binding = cookie(headers, FEDERATION_COOKIE);
    let clear = set_cookie(s, pool_id, FEDERATION_COOKIE, "", 0);
    use crate::user_pools::federation::FederationError;
    match s
        .pools
        .finish_federation(pool_id, &answer, binding.as_deref())
        .await
    {
        Ok((a, session)) => {
            let mut r = signed_in(s, pool_id, &a, session).await;
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(FederationError::Page(m)) => error_page(StatusCode::BAD_REQUEST, &m),
        Err(FederationError::Redirect {
            authorization,
            error,
            description,
        }) => {
            let mut r = refusal(AuthorizeError::Redirect {
                redirect_uri: authorization.redirect_uri,
                state: authorization.state,
                error,
                description,
            });
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
    }
}

/// The sign-in form's POST: CSRF checked, the authorization request checked
/// again, the password checked; then the session cookie and a 303 to the
/// client with its code.
pub async fn login(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw) = match hosted_form(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !s.pools.client_offers_password(&pool_id, &a.client_id).await {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This application signs you in with another service.",
        );
    }
    let (username, password) = (
        form.get("username").map(String::as_str).unwrap_or(""),
        form.get("password").map(String::as_str).unwrap_or(""),
    );
    if form.get("action").map(String::as_str) == Some("passkey") {
        if username.is_empty() || username.len() > 256 {
            return login_page(
                &s,
                &pool_id,
                &a,
                &raw,
                Some("Enter your username, then choose to sign in with a passkey."),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        return match s
            .pools
            .hosted_passkey_start(&pool_id, &a.client_id, username)
            .await
        {
            Ok(c) => challenge_page(&s, &pool_id, &raw, username, c, None).await,
            Err(e) => {
                login_page(
                    &s,
                    &pool_id,
                    &a,
                    &raw,
                    Some(&say(&e)),
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
        };
    }
    if username.is_empty() || password.is_empty() || username.len() > 256 {
        return login_page(
            &s,
            &pool_id,
            &a,
            &raw,
            Some("Enter your username and password."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match s
        .pools
        .hosted_sign_in(&pool_id, &a.client_id, username, password)
        .await
    {
        Ok(HostedSignIn::Session(session)) => signed_in(&s, &pool_id, &a, session).await,
        Ok(HostedSignIn::Challenge(c)) => {
            challenge_page(&s, &pool_id, &raw, username, c, None).await
        }
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
            login_page(&s, &pool_id, &a, &raw, Some(message), status).await
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
        .clients
        .fresh_client(pool_id, client_id)
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
/// token of that client and of the session's user the session ends at
/// once; otherwise (another user's token, say) the user confirms on a page
/// (A7).
pub async fn logout(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
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
            let session = cookie(&headers, SESSION_COOKIE).filter(|c| !c.is_empty());
            s.pools
                .logout_hint_ends_session(&pool_id, &client_id, t, session.as_deref())
                .await
        }
        None => false,
    };
    if hinted {
        return end_session(&s, &pool_id, &headers, &uri, StatusCode::FOUND).await;
    }
    Page {
        title: "Sign out",
        message: Some("Do you want to sign out?".into()),
        form: Some(Form {
            action: format!("/{pool_id}/logout"),
            hidden: vec![
                NameValue {
                    name: "client_id",
                    value: client_id,
                },
                NameValue {
                    name: "logout_uri",
                    value: uri,
                },
            ],
            fields: vec![],
            submit: "Sign out",
            submit_value: "signout",
            secondary: vec![],
        }),
        ..Page::default()
    }
    .show(&s, &pool_id, StatusCode::OK)
    .await
}

/// The sign-out confirmation's POST.
pub async fn logout_confirmed(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = std::str::from_utf8(&body).ok().and_then(params) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    if !csrf_ok(&s, &pool_id, &headers, &form) {
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
            csrf_cookie(s, pool_id, "", 0),
        ],
    )
}

/// Signed in: the session cookie, and a 303 to the client with its code.
async fn signed_in(
    s: &AppState,
    pool_id: &str,
    a: &Authorization,
    session: crate::user_pools::authorize::HostedSession,
) -> Response {
    match s.pools.issue_code(a, &session.sub, session.auth_time).await {
        Ok(to) => redirect(
            StatusCode::SEE_OTHER,
            &to,
            &[
                set_cookie(
                    s,
                    pool_id,
                    SESSION_COOKIE,
                    &session.token,
                    crate::user_pools::authorize::LOGIN_SESSION_TTL,
                ),
                csrf_cookie(s, pool_id, "", 0),
            ],
        ),
        Err(_) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing in is not possible right now. Please try again.",
        ),
    }
}

/// A domain error in words for the person at the page.
fn say(e: &crate::error::Error) -> String {
    use crate::error::ErrorKind::*;
    match e.kind {
        UsernameExists => "An account with this name already exists.",
        AliasExists => "An account with this email already exists.",
        InvalidPassword | InvalidParameter => return e.message.clone(),
        CodeMismatch => "That code is not right. Check it and try again.",
        ExpiredCode => "That code has expired. Ask for a new one.",
        TooManyFailedAttempts => "Too many wrong codes. Ask for a new one.",
        LimitExceeded | TooManyRequests | ServiceUnavailable => {
            "Too many attempts. Wait a minute and try again."
        }
        CodeDeliveryFailure => "We could not send you a code just now. Try again in a moment.",
        NotAuthorized | UserNotFound | ResourceNotFound => {
            "That did not work. Check what you entered and try again."
        }
        _ => "Something went wrong on our side. Please try again.",
    }
    .to_owned()
}

/// The client's secret, which the hosted pages use on its behalf (the
/// authorization request already named the client).
fn secret_of(s: &AppState, client: &crate::model::AppClient) -> Option<String> {
    client
        .secret_sealed
        .as_ref()
        .and_then(|sealed| s.pools.clients.open_client_secret(&client.id, sealed).ok())
}

/// A hosted form's POST: parsed, CSRF checked, its authorization request
/// checked again; (form, request, raw request, client secret).
type HostedPost = (
    BTreeMap<String, String>,
    Authorization,
    String,
    Option<String>,
);

async fn hosted_post(
    s: &AppState,
    pool_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<HostedPost, Response> {
    let (form, a, raw) = hosted_form(s, pool_id, headers, body).await?;
    let client = s
        .pools
        .clients
        .fresh_client(pool_id, &a.client_id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            error_page(
                StatusCode::BAD_REQUEST,
                "The application is not known here.",
            )
        })?;
    let secret = secret_of(s, &client);
    Ok((form, a, raw, secret))
}

/// A hosted form's POST without the client secret: (form, request, raw
/// request). The sign-in form needs no more.
async fn hosted_form(
    s: &AppState,
    pool_id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(BTreeMap<String, String>, Authorization, String), Response> {
    let form = std::str::from_utf8(body)
        .ok()
        .and_then(params)
        .filter(|_| body.len() <= 16 * 1024)
        .ok_or_else(|| error_page(StatusCode::BAD_REQUEST, "The form could not be read."))?;
    if !csrf_ok(s, pool_id, headers, &form) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired. Go back to the application and start again.",
        ));
    }
    let raw = form.get("authorize").cloned().unwrap_or_default();
    let q = params(&raw)
        .ok_or_else(|| error_page(StatusCode::BAD_REQUEST, "The sign-in link is malformed."))?;
    let a = s
        .pools
        .check_authorize(pool_id, &q)
        .await
        .map_err(refusal)?;
    Ok((form, a, raw))
}

/// A GET of a hosted page: its authorization request checked.
async fn hosted_get(s: &AppState, pool_id: &str, raw: Option<String>) -> Result<String, Response> {
    let raw = raw.unwrap_or_default();
    let q = params(&raw)
        .ok_or_else(|| error_page(StatusCode::BAD_REQUEST, "The sign-in link is malformed."))?;
    s.pools
        .check_authorize(pool_id, &q)
        .await
        .map_err(refusal)?;
    Ok(raw)
}

fn hidden(name: &'static str, value: &str) -> NameValue {
    NameValue {
        name,
        value: value.to_owned(),
    }
}

fn form_page(
    title: &'static str,
    action: String,
    hidden: Vec<NameValue>,
    fields: Vec<Field>,
    submit: (&'static str, &'static str),
) -> Page {
    Page {
        title,
        form: Some(Form {
            action,
            hidden,
            fields,
            submit: submit.0,
            submit_value: submit.1,
            secondary: vec![],
        }),
        ..Page::default()
    }
}

async fn new_password_page(
    s: &AppState,
    pool_id: &str,
    raw: &str,
    username: &str,
    challenge: &str,
    error: Option<String>,
) -> Response {
    Page {
        error,
        info: Some(
            "Your password was set by an administrator. Choose your own to continue.".into(),
        ),
        ..form_page(
            "Choose a new password",
            format!("/{pool_id}/newPassword"),
            vec![
                hidden("authorize", raw),
                hidden("username", username),
                hidden("challenge", challenge),
            ],
            vec![field(
                "new_password",
                "New password",
                "password",
                "new-password",
            )],
            ("Set password and sign in", "set"),
        )
    }
    .show(s, pool_id, StatusCode::OK)
    .await
}

/// The new-password form: the challenge answered, then a sign-in with the
/// new password.
pub async fn new_password(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The answer goes through the service on the client's behalf: no
    // client secret is needed here.
    let (form, a, raw) = match hosted_form(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (username, challenge, password) = (get("username"), get("challenge"), get("new_password"));
    let mut responses = BTreeMap::new();
    responses.insert("NEW_PASSWORD".to_owned(), password);
    answered(
        &s,
        &pool_id,
        &a,
        &raw,
        &username,
        &challenge,
        "NEW_PASSWORD_REQUIRED",
        &responses,
    )
    .await
}

/// After a challenge answer on the hosted pages: signed in, the next
/// step, or the same step again with what went wrong.
#[allow(clippy::too_many_arguments)]
async fn answered(
    s: &AppState,
    pool_id: &str,
    a: &Authorization,
    raw: &str,
    username: &str,
    session: &str,
    challenge_name: &str,
    responses: &BTreeMap<String, String>,
) -> Response {
    match s
        .pools
        .hosted_answer(pool_id, &a.client_id, session, challenge_name, responses)
        .await
    {
        Ok(HostedSignIn::Session(session)) => signed_in(s, pool_id, a, session).await,
        Ok(HostedSignIn::Challenge(c)) => challenge_page(s, pool_id, raw, username, c, None).await,
        Err(e) if e.kind == crate::error::ErrorKind::CodeMismatch => {
            // The session takes a few wrong codes; then sign in again.
            let again = crate::user_pools::auth::Challenge {
                name: challenge_name.to_owned(),
                session: session.to_owned(),
                parameters: BTreeMap::new(),
            };
            let still = s
                .pools
                .challenge_alive(pool_id, &a.client_id, session)
                .await;
            if still {
                challenge_page(s, pool_id, raw, username, again, Some(say(&e))).await
            } else {
                login_page(
                    s,
                    pool_id,
                    a,
                    raw,
                    Some("Too many wrong codes. Sign in again."),
                    StatusCode::UNAUTHORIZED,
                )
                .await
            }
        }
        Err(e)
            if challenge_name == "NEW_PASSWORD_REQUIRED"
                && e.kind == crate::error::ErrorKind::InvalidPassword =>
        {
            new_password_page(s, pool_id, raw, username, session, Some(say(&e))).await
        }
        Err(e) => login_page(s, pool_id, a, raw, Some(&say(&e)), StatusCode::UNAUTHORIZED).await,
    }
}

/// The page of a sign-in step.
async fn challenge_page(
    s: &AppState,
    pool_id: &str,
    raw: &str,
    username: &str,
    c: crate::user_pools::auth::Challenge,
    error: Option<String>,
) -> Response {
    let hidden_fields = |name: &str| {
        vec![
            hidden("authorize", raw),
            hidden("username", username),
            hidden("challenge", &c.session),
            NameValue {
                name: "challenge_name",
                value: name.to_owned(),
            },
        ]
    };
    let mut code = field("code", "Code", "text", "one-time-code");
    code.inputmode = "numeric";
    match c.name.as_str() {
        "NEW_PASSWORD_REQUIRED" => {
            new_password_page(s, pool_id, raw, username, &c.session, error).await
        }
        "SOFTWARE_TOKEN_MFA" | "EMAIL_OTP" | "SMS_MFA" => {
            let sent = if c.name == "SMS_MFA" {
                "texted"
            } else {
                "emailed"
            };
            let info = if c.name != "SOFTWARE_TOKEN_MFA" {
                match c.parameters.get("CODE_DELIVERY_DESTINATION") {
                    Some(d) => format!("We {sent} a sign-in code to {d}. Enter it here."),
                    None => format!("Enter the sign-in code we {sent} you."),
                }
            } else {
                "Enter the 6-digit code from your authenticator app.".to_owned()
            };
            Page {
                error,
                info: Some(info),
                ..form_page(
                    "Enter your code",
                    format!("/{pool_id}/mfa"),
                    hidden_fields(&c.name),
                    vec![code],
                    ("Verify", "verify"),
                )
            }
            .show(s, pool_id, StatusCode::OK)
            .await
        }
        "WEB_AUTHN" => {
            let options = c
                .parameters
                .get("CREDENTIAL_REQUEST_OPTIONS")
                .cloned()
                .unwrap_or_default();
            let mut hidden = hidden_fields("WEB_AUTHN");
            hidden.push(NameValue {
                name: "credential",
                value: String::new(),
            });
            Page {
                error,
                info: Some(
                    "Use your passkey: your device will ask you to confirm it is you.".into(),
                ),
                webauthn: Some(WebAuthnStep {
                    mode: "get",
                    options,
                }),
                ..form_page(
                    "Sign in with your passkey",
                    format!("/{pool_id}/mfa"),
                    hidden,
                    vec![],
                    ("Use my passkey", "verify"),
                )
            }
            .show(s, pool_id, StatusCode::OK)
            .await
        }
        "MFA_SETUP" => {
            let client = params(raw)
                .and_then(|q| q.get("client_id").cloned())
                .unwrap_or_default();
            let secret = match s.pools.client(pool_id, &client).await {
                Ok(cl) => secret_of(s, &cl),
                Err(_) => None,
            };
            let assoc = match s
                .pools
                .associate_totp_in_session(
                    pool_id,
                    &client,
                    &secret.clone().into(),
                    &c.session,
                    true,
                )
                .await
            {
                Ok(x) => x,
                Err(e) => return error_page(StatusCode::BAD_REQUEST, &say(&e)),
            };
            let qr = qrcode::QrCode::new(assoc.otpauth_uri.as_bytes())
                .ok()
                .map(|q| {
                    let svg = q
                        .render::<qrcode::render::svg::Color>()
                        .min_dimensions(200, 200)
                        .build();
                    use base64::Engine;
                    format!(
                        "data:image/svg+xml;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(svg)
                    )
                });
            let mut device = field("device_name", "Device name (optional)", "text", "off");
            device.required = false;
            Page {
                error,
                info: Some(
                    "This account needs a second sign-in step. Scan the QR code with an authenticator app, or enter the key below, then enter the 6-digit code it shows.".into(),
                ),
                message: Some(format!("Key: {}", assoc.secret_code)),
                image: qr,
                ..form_page(
                    "Set up two-step sign-in",
                    format!("/{pool_id}/mfa"),
                    hidden_fields("MFA_SETUP"),
                    vec![code, device],
                    ("Verify and sign in", "verify"),
                )
            }
            .show(s, pool_id, StatusCode::OK)
            .await
        }
        _ => error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in step is not available here.",
        ),
    }
}

/// The code of a second factor (or of its setup).
pub async fn mfa(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw) = match hosted_form(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (username, session, name) = (get("username"), get("challenge"), get("challenge_name"));
    let key = match name.as_str() {
        "EMAIL_OTP" => "EMAIL_OTP_CODE",
        "SMS_MFA" => "SMS_MFA_CODE",
        "SOFTWARE_TOKEN_MFA" | "MFA_SETUP" => "SOFTWARE_TOKEN_MFA_CODE",
        "WEB_AUTHN" => "CREDENTIAL",
        _ => return error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
    };
    let mut responses = BTreeMap::new();
    let value = if key == "CREDENTIAL" {
        get("credential")
    } else {
        get("code")
    };
    responses.insert(key.to_owned(), value);
    if name == "MFA_SETUP" && !get("device_name").is_empty() {
        responses.insert("DEVICE_NAME".to_owned(), get("device_name"));
    }
    answered(
        &s, &pool_id, &a, &raw, &username, &session, &name, &responses,
    )
    .await
}

/// The passkeys page of a signed-in browser (`/passkeys?<authorization
/// request>`): the user's passkeys, a button to add one (after a sign-in
/// in the last 15 minutes), one to remove each, and the way back to the
/// application.
pub async fn passkeys_page(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = match hosted_get(&s, &pool_id, raw).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    passkeys_view(&s, &pool_id, &raw, &headers, None, None).await
}

async fn passkeys_view(
    s: &AppState,
    pool_id: &str,
    raw: &str,
    headers: &HeaderMap,
    info: Option<String>,
    error: Option<String>,
) -> Response {
    let back = Link {
        href: format!("/{pool_id}/oauth2/authorize?{raw}"),
        label: "Continue to the application",
    };
    let token = cookie(headers, SESSION_COOKIE).unwrap_or_default();
    let Some((pool, user, auth_time)) = s.pools.hosted_session_user(pool_id, &token).await else {
        return Page {
            title: "Your passkeys",
            message: Some("Sign in first, then come back to this page.".into()),
            links: vec![Link {
                href: back.href,
                label: "Sign in",
            }],
            ..Page::default()
        }
        .show(s, pool_id, StatusCode::UNAUTHORIZED)
        .await;
    };
    let client_id = params(raw)
        .and_then(|q| q.get("client_id").cloned())
        .unwrap_or_default();
    let list = s.pools.passkeys_of(&pool, &user).await.unwrap_or_default();
    let items: Vec<String> = list
        .iter()
        .map(|p| {
            format!(
                "{} — added {}",
                p.name.clone().unwrap_or_else(|| "Passkey".into()),
                day(p.created_at)
            )
        })
        .collect();
    let remove: Vec<Button<String, String>> = list
        .iter()
        .map(|p| Button {
            value: format!("delete:{}", p.credential_id),
            label: format!(
                "Remove {}",
                p.name.clone().unwrap_or_else(|| "passkey".into())
            ),
        })
        .collect();
    let mut page = Page {
        title: "Your passkeys",
        info,
        error,
        items,
        message: list
            .is_empty()
            .then(|| "You have no passkeys yet.".to_owned()),
        links: vec![back],
        client_id: Some(client_id.clone()),
        ..Page::default()
    };
    let recent = s.pools.recent_enough(auth_time);
    let options = if recent {
        s.pools
            .start_passkey_registration_for(&pool, &user, &client_id)
            .await
            .map(Some)
    } else {
        Ok(None)
    };
    match options {
        Ok(options) => {
            let mut name = field("name", "Name for a new passkey (optional)", "text", "off");
            name.required = false;
            page.form = Some(Form {
                action: format!("/{pool_id}/passkeys"),
                hidden: vec![hidden("authorize", raw), hidden("credential", "")],
                fields: if options.is_some() {
                    vec![name]
                } else {
                    vec![]
                },
                submit: if options.is_some() {
                    "Add a passkey"
                } else {
                    "Refresh"
                },
                submit_value: if options.is_some() { "add" } else { "refresh" },
                secondary: remove,
            });
            match options {
                Some(o) => {
                    page.webauthn = Some(WebAuthnStep {
                        mode: "create",
                        options: o.to_string(),
                    })
                }
                None => {
                    page.message = Some(
                        "To add a passkey, sign in again first (your sign-in is more than 15 minutes old)."
                            .into(),
                    )
                }
            }
        }
        Err(e) => page.error = Some(say(&e)),
    }
    page.show(s, pool_id, StatusCode::OK).await
}

/// A date for people (UTC), from epoch seconds.
fn day(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// The passkeys page's form: add the passkey the browser created, or
/// remove one.
pub async fn passkeys(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, _a, raw) = match hosted_form(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let token = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let Some((pool, user, auth_time)) = s.pools.hosted_session_user(&pool_id, &token).await else {
        return passkeys_view(&s, &pool_id, &raw, &headers, None, None).await;
    };
    let action = form.get("action").cloned().unwrap_or_default();
    let (info, error) = if let Some(id) = action.strip_prefix("delete:") {
        match s.pools.delete_passkey_of(&pool, &user, id).await {
            Ok(()) => (Some("The passkey was removed.".to_owned()), None),
            Err(e) => (None, Some(say(&e))),
        }
    } else if action == "add" {
        let credential = form
            .get("credential")
            .and_then(|c| serde_json::from_str(c).ok());
        match credential {
            _ if !s.pools.recent_enough(auth_time) => (
                None,
                Some("Sign in again before adding a passkey.".to_owned()),
            ),
            None => (
                None,
                Some("Your browser did not create a passkey. Try again.".to_owned()),
            ),
            Some(credential) => {
                let req = crate::user_pools::passkeys::CompletePasskey {
                    credential,
                    name: form.get("name").cloned(),
                };
                match s
                    .pools
                    .complete_passkey_registration_for(&pool, &user, &req)
                    .await
                {
                    Ok(_) => (Some("Your passkey was added.".to_owned()), None),
                    Err(e) if e.kind == crate::error::ErrorKind::NotAuthorized => (
                        None,
                        Some("The passkey could not be added. Try again.".to_owned()),
                    ),
                    Err(e) => (None, Some(say(&e))),
                }
            }
        }
    } else {
        (None, None)
    };
    passkeys_view(&s, &pool_id, &raw, &headers, info, error).await
}

async fn signup_form(s: &AppState, pool_id: &str, raw: &str, error: Option<String>) -> Response {
    Page {
        error,
        links: vec![Link {
            href: format!("/{pool_id}/oauth2/authorize?{raw}"),
            label: "Already have an account? Sign in",
        }],
        ..form_page(
            "Create an account",
            format!("/{pool_id}/signup"),
            vec![hidden("authorize", raw)],
            vec![
                field("email", "Email", "email", "email"),
                field("password", "Password", "password", "new-password"),
            ],
            ("Create account", "signup"),
        )
    }
    .show(s, pool_id, StatusCode::OK)
    .await
}

async fn confirm_form(
    s: &AppState,
    pool_id: &str,
    raw: &str,
    username: &str,
    error: Option<String>,
    info: Option<String>,
) -> Response {
    let mut page = form_page(
        "Confirm your account",
        format!("/{pool_id}/confirm"),
        vec![hidden("authorize", raw), hidden("username", username)],
        vec![field("code", "Confirmation code", "text", "one-time-code")],
        ("Confirm", "confirm"),
    );
    if let Some(f) = &mut page.form {
        f.secondary.push(Button {
            value: "resend".into(),
            label: "Send a new code".into(),
        });
    }
    Page {
        error,
        info,
        ..page
    }
    .show(s, pool_id, StatusCode::OK)
    .await
}

/// `GET /signup?{authorization request}`.
pub async fn signup_page(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    RawQuery(raw): RawQuery,
) -> Response {
    match hosted_get(&s, &pool_id, raw).await {
        Ok(raw) => signup_form(&s, &pool_id, &raw, None).await,
        Err(r) => r,
    }
}

/// The sign-up form: the account is created (unconfirmed) with the email
/// as its name, and a code sent.
pub async fn signup(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw, secret) = match hosted_post(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = form.get("email").cloned().unwrap_or_default();
    let mut attributes = crate::model::Attributes::new();
    attributes.insert("email".into(), email.clone());
    match s
        .pools
        .sign_up(
            &pool_id,
            crate::user_pools::signup::SignUp {
                client_id: a.client_id.clone(),
                client_secret: secret.into(),
                username: email.clone(),
                password: form.get("password").cloned().unwrap_or_default(),
                attributes,
            },
        )
        .await
    {
        Ok(r) => {
            let info = r
                .code_delivery
                .map(|d| format!("We sent a code to {}.", d.destination));
            confirm_form(&s, &pool_id, &raw, &email, None, info).await
        }
        Err(e) => signup_form(&s, &pool_id, &raw, Some(say(&e))).await,
    }
}

/// The confirmation form: confirm with the code, or send a new one.
pub async fn confirm(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw, secret) = match hosted_post(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let username = form.get("username").cloned().unwrap_or_default();
    if form.get("action").map(String::as_str) == Some("resend") {
        let r = s
            .pools
            .resend_code(
                &pool_id,
                crate::user_pools::signup::ResendCode {
                    client_id: a.client_id.clone(),
                    client_secret: secret.into(),
                    username: username.clone(),
                },
            )
            .await;
        let (error, info) = match r {
            Ok(_) => (None, Some("We sent you a new code.".to_owned())),
            Err(e) => (Some(say(&e)), None),
        };
        return confirm_form(&s, &pool_id, &raw, &username, error, info).await;
    }
    match s
        .pools
        .confirm_sign_up(
            &pool_id,
            crate::user_pools::signup::ConfirmSignUp {
                client_id: a.client_id.clone(),
                client_secret: secret.into(),
                username: username.clone(),
                code: form.get("code").cloned().unwrap_or_default(),
            },
        )
        .await
    {
        Ok(()) => {
            login_page_with(
                &s,
                &pool_id,
                &Authorization {
                    login_hint: Some(username),
                    ..a
                },
                &raw,
                None,
                Some("Your account is confirmed. Sign in."),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => confirm_form(&s, &pool_id, &raw, &username, Some(say(&e)), None).await,
    }
}

async fn forgot_form(s: &AppState, pool_id: &str, raw: &str, error: Option<String>) -> Response {
    Page {
        error,
        ..form_page(
            "Reset your password",
            format!("/{pool_id}/forgotPassword"),
            vec![hidden("authorize", raw)],
            vec![field("username", "Username or email", "text", "username")],
            ("Send a code", "send"),
        )
    }
    .show(s, pool_id, StatusCode::OK)
    .await
}

async fn reset_form(
    s: &AppState,
    pool_id: &str,
    raw: &str,
    username: &str,
    error: Option<String>,
    info: Option<String>,
) -> Response {
    Page {
        error,
        info,
        ..form_page(
            "Choose a new password",
            format!("/{pool_id}/confirmForgotPassword"),
            vec![hidden("authorize", raw), hidden("username", username)],
            vec![
                field("code", "Code", "text", "one-time-code"),
                field("password", "New password", "password", "new-password"),
            ],
            ("Set password", "reset"),
        )
    }
    .show(s, pool_id, StatusCode::OK)
    .await
}

/// `GET /forgotPassword?{authorization request}`.
pub async fn forgot_page(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    RawQuery(raw): RawQuery,
) -> Response {
    match hosted_get(&s, &pool_id, raw).await {
        Ok(raw) => forgot_form(&s, &pool_id, &raw, None).await,
        Err(r) => r,
    }
}

/// The forgotten-password form: a code is sent (unknown names get the same
/// answer when the pool prevents user-existence errors).
pub async fn forgot(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw, secret) = match hosted_post(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let username = form.get("username").cloned().unwrap_or_default();
    match s
        .pools
        .forgot_password(
            &pool_id,
            crate::user_pools::account::ForgotPassword {
                client_id: a.client_id.clone(),
                client_secret: secret.into(),
                username: username.clone(),
            },
        )
        .await
    {
        Ok(d) => {
            let info = format!(
                "If the account exists, we sent a code to {}.",
                d.destination
            );
            reset_form(&s, &pool_id, &raw, &username, None, Some(info)).await
        }
        Err(e) => forgot_form(&s, &pool_id, &raw, Some(say(&e))).await,
    }
}

/// The reset form: the code and the new password.
pub async fn confirm_forgot(
    State(s): State<AppState>,
    KnownPool(pool_id): KnownPool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, a, raw, secret) = match hosted_post(&s, &pool_id, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let username = get("username");
    match s
        .pools
        .reset_password(
            &pool_id,
            crate::user_pools::account::ResetPassword {
                client_id: a.client_id.clone(),
                client_secret: secret.into(),
                username: username.clone(),
                code: get("code"),
                password: get("password"),
            },
        )
        .await
    {
        Ok(()) => {
            login_page_with(
                &s,
                &pool_id,
                &Authorization {
                    login_hint: Some(username),
                    ..a
                },
                &raw,
                None,
                Some("Your password is changed. Sign in with it."),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => reset_form(&s, &pool_id, &raw, &username, Some(say(&e)), None).await,
    }
}
