//! Identity providers on the admin API (validation, write-only secrets,
//! links) and the authorization endpoint's `identity_provider`. The whole
//! federated sign-in against a real OpenID Provider (npm oidc-provider) is
//! in tests/e2e/test_federation.py.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn identity_providers_are_validated_and_their_secrets_never_shown() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/identity-providers", app.pool_id);
    let corp = json!({"name": "Corp", "provider_type": "OIDC", "client_secret": "idp-secret-value",
        "settings": {"client_id": "rp", "issuer": "https://idp.example.com",
            "attribute_mapping": {"email": "email", "name": "name"}}});
    let (st, p) = app.admin("POST", &base, Some(corp.clone())).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["client_secret_set"], true);
    assert!(!p.to_string().contains("idp-secret-value"), "{p}");
    let (st, b) = app.admin("POST", &base, Some(corp)).await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")), "{b}");
    // Sealed at rest under the master key.
    let stored = app
        .store
        .get_identity_provider(&app.pool_id, "Corp")
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.secret_sealed.unwrap();
    assert!(!sealed.windows(16).any(|w| w == b"idp-secret-value"));

    for bad in [
        json!({"name": "COGNITO", "provider_type": "OIDC", "settings": {"client_id": "a", "issuer": "https://i.example"}}),
        json!({"name": "has space", "provider_type": "OIDC", "settings": {"client_id": "a", "issuer": "https://i.example"}}),
        json!({"name": "NoIssuer", "provider_type": "OIDC", "settings": {"client_id": "a"}}),
        json!({"name": "NoClient", "provider_type": "Google", "settings": {}}),
        json!({"name": "Plain", "provider_type": "OIDC", "settings": {"client_id": "a", "issuer": "http://idp.example.com"}}),
        json!({"name": "Odd", "provider_type": "SAML", "settings": {"client_id": "a"}}),
        json!({"name": "Map", "provider_type": "OIDC", "settings": {"client_id": "a", "issuer": "https://i.example",
            "attribute_mapping": {"custom:nope": "x"}}}),
        json!({"name": "Auth", "provider_type": "OIDC", "settings": {"client_id": "a", "issuer": "https://i.example",
            "token_endpoint_auth_method": "private_key_jwt"}}),
        json!({"name": "Apple", "provider_type": "SignInWithApple", "settings": {"client_id": "a"}}),
        json!({"name": "Apple", "provider_type": "SignInWithApple", "client_secret": "not a key",
            "settings": {"client_id": "a", "apple_team_id": "T", "apple_key_id": "K"}}),
        json!({"name": "Extra", "provider_type": "OIDC", "surprise": 1, "settings": {"client_id": "a", "issuer": "https://i.example"}}),
    ] {
        let (st, b) = app.admin("POST", &base, Some(bad.clone())).await;
        assert_eq!(st, 400, "{bad} -> {b}");
        assert!(b["code"].is_string(), "{b}");
    }

    // Presets need only the client: Google's issuer, Facebook's endpoints.
    for (name, t) in [("Google", "Google"), ("Facebook", "Facebook")] {
        let (st, b) = app
            .admin(
                "POST",
                &base,
                Some(
                    json!({"name": name, "provider_type": t, "client_secret": "s",
                    "settings": {"client_id": "cid"}}),
                ),
            )
            .await;
        assert_eq!(st, 201, "{b}");
    }
    let (st, list) = app.admin("GET", &base, None).await;
    assert_eq!(st, 200);
    let names: Vec<&str> = list["identity_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Corp", "Facebook", "Google"]);

    // An update without a secret keeps the stored one; the type is fixed.
    let one = format!("{base}/Corp");
    let (st, b) = app
        .admin(
            "PUT",
            &one,
            Some(json!({"settings": {"client_id": "rp2", "issuer": "https://idp.example.com"}})),
        )
        .await;
    assert_eq!(
        (
            st,
            b["client_secret_set"].as_bool(),
            b["settings"]["client_id"].as_str()
        ),
        (200, Some(true), Some("rp2")),
        "{b}"
    );
    let (st, b) = app
        .admin(
            "PUT",
            &one,
            Some(json!({"provider_type": "Google", "settings": {"client_id": "rp2"}})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, _) = app.admin("DELETE", &one, None).await;
    assert_eq!(st, 204);
    let (st, b) = app.admin("GET", &one, None).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (404, Some("ResourceNotFound")),
        "{b}"
    );
}

#[tokio::test]
async fn clients_name_their_providers_and_authorize_offers_only_those() {
    let app = spawn_app().await;
    let client = format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id);
    let (st, b) = app
        .admin(
            "PATCH",
            &client,
            Some(json!({"supported_identity_providers": ["COGNITO", "bad name"]})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = app
        .admin(
            "PATCH",
            &client,
            Some(
                json!({"allowed_oauth_flows": ["code"], "allowed_oauth_scopes": ["openid"],
                "callback_urls": ["https://app.example.com/cb"],
                "supported_identity_providers": ["COGNITO", "Corp"]}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |idp: &str| {
        format!(
            "{}/{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
             &scope=openid&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&identity_provider={idp}",
            app.base, app.pool_id, app.client_id
        )
    };
    // Named by the client but not (yet) a provider of the pool: refused at
    // the client's redirect URI, never sent anywhere else.
    for idp in ["Corp", "Elsewhere"] {
        let r = no_redirects.get(authorize(idp)).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            loc.starts_with("https://app.example.com/cb?error=invalid_request"),
            "{loc}"
        );
        assert!(loc.contains("state=s1"), "{loc}");
    }
    // A provider that cannot be reached: temporarily_unavailable.
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/identity-providers", app.pool_id),
            Some(json!({"name": "Corp", "provider_type": "OIDC",
                "settings": {"client_id": "rp", "issuer": "http://127.0.0.1:9"}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let r = no_redirects.get(authorize("Corp")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("error=temporarily_unavailable"), "{loc}");

    // The hosted page shows the provider's button beside the form.
    let page = no_redirects
        .get(authorize("COGNITO"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Continue with Corp"), "{page}");
    assert!(page.contains("name=\"password\""), "{page}");
    // Without COGNITO the page has only the buttons, and the password form
    // is refused.
    let (st, _) = app
        .admin(
            "PATCH",
            &client,
            Some(json!({"supported_identity_providers": ["Corp"]})),
        )
        .await;
    assert_eq!(st, 200);
    let page = no_redirects
        .get(authorize("COGNITO"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Continue with Corp") && !page.contains("name=\"password\""));
}

#[tokio::test]
async fn idp_response_without_a_pending_sign_in_is_refused_on_a_page() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/{}/oauth2/idpresponse", app.base, app.pool_id);
    for q in [
        "",
        "?code=x",
        "?code=x&state=unknown",
        "?state=a&state=b",
        "?error=access_denied&state=zz",
    ] {
        let r = no_redirects.get(format!("{url}{q}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        assert!(r.headers().get("location").is_none(), "{q}");
    }
    let r = no_redirects
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Linking needs an existing provider and user.
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/users/nobody/identities", app.pool_id),
            Some(json!({"provider": "Corp", "subject": "1"})),
        )
        .await;
    assert_eq!(st, 404, "{b}");
}
