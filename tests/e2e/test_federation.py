"""Federation ("Sign in with <corporate OIDC>") against a real external OpenID
Provider: oidc-provider (npm, panva's certified OP) run by js/idp_server.mjs
through the ``oidc_idp`` fixture.

The first test checks the harness itself, with no poolgate involved: a
relying party written here with ``requests`` and PyJWT runs the
authorization-code flow (state, nonce, PKCE S256) against the IdP, signs in
through the IdP's sign-in form with ``idp_login``, and verifies what it gets."""

from __future__ import annotations

import base64
import html
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from e2e_support import HTTP_TIMEOUT, PASSWORD, IdpLoginError, expect, free_port, idp_login

ALICE = {
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice Example",
    "given_name": "Alice",
    "family_name": "Example",
}


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def test_oidc_provider_harness_issues_verifiable_id_tokens(oidc_idp):
    client_id = "poolgate-rp"
    client_secret = secrets.token_urlsafe(32)
    redirect_uri = f"http://127.0.0.1:{free_port()}/cb"
    idp = oidc_idp(
        [
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "client_secret_basic",
            }
        ],
        {"alice": ALICE},
    )

    meta = idp.discovery()
    assert meta["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}", meta
    assert "S256" in meta["code_challenge_methods_supported"], meta
    assert {"openid", "email", "profile"} <= set(meta["scopes_supported"]), meta
    assert "RS256" in meta["id_token_signing_alg_values_supported"], meta

    def authorize(session: requests.Session, state: str, nonce: str, challenge: str) -> requests.Response:
        """The browser arriving at the IdP: ends on its sign-in page."""
        resp = session.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            timeout=HTTP_TIMEOUT,
        )
        assert resp.status_code == 200, f"{resp.url} -> {resp.status_code}: {resp.text[:2000]}"
        return resp

    # A login the IdP does not know is refused on its sign-in page.
    with requests.Session() as stranger:
        page = authorize(stranger, secrets.token_urlsafe(16), secrets.token_urlsafe(16), pkce_pair()[1])
        with pytest.raises(IdpLoginError, match="401"):
            idp_login(stranger, page, "mallory")

    # Alice signs in.
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    with requests.Session() as browser:
        page = authorize(browser, state, nonce, challenge)
        back = idp_login(browser, page, "alice")

    assert back.startswith(redirect_uri + "?"), back
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert "error" not in params, params
    assert params.get("state") == state, params
    assert params.get("iss") == idp.issuer, params  # RFC 9207
    code = params["code"]

    tokens = expect(
        requests.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            auth=(client_id, client_secret),
            timeout=HTTP_TIMEOUT,
        ),
        200,
    )
    assert tokens.get("token_type") == "Bearer", tokens
    id_token = tokens["id_token"]

    header = jwt.get_unverified_header(id_token)
    assert header.get("alg") == "RS256" and header.get("kid"), header
    signing_key = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        signing_key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=idp.issuer,
        options={"require": ["iss", "aud", "sub", "exp", "iat", "nonce"]},
    )
    assert claims["nonce"] == nonce, claims
    assert claims["sub"] == "alice", claims
    assert claims["aud"] == client_id, claims
    # idp_server.mjs puts the scope claims in the ID token too.
    assert claims.get("email") == "alice@example.com", claims
    assert claims.get("email_verified") is True, claims
    assert claims.get("name") == "Alice Example", claims

    # The signature check bites: a token with another signature is refused.
    head, body, sig = id_token.split(".")
    forged = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["RS256"], audience=client_id, issuer=idp.issuer)

    userinfo = expect(
        requests.get(
            meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=HTTP_TIMEOUT,
        ),
        200,
    )
    assert userinfo.get("sub") == "alice", userinfo
    assert userinfo.get("email") == "alice@example.com", userinfo
    assert userinfo.get("email_verified") is True, userinfo
    assert userinfo.get("name") == "Alice Example", userinfo
    assert userinfo.get("given_name") == "Alice", userinfo
    assert userinfo.get("family_name") == "Example", userinfo

    # Codes are single-use.
    again = requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, client_secret),
        timeout=HTTP_TIMEOUT,
    )
    assert expect(again, 400).get("error") == "invalid_grant", again.text


# --------------------------------------------------------------------------- poolgate as the relying party

CALLBACK = "http://localhost:3000/callback"


def federated_setup(node, oidc_idp, accounts: dict[str, dict], *, port: int = 0):
    """A pool whose hosted client offers its own form and the IdP "Corp";
    the IdP registered with the pool's /oauth2/idpresponse."""
    pool_id = expect(node.post("/v1/admin/pools", {"name": "federated"}, admin=True), 201)["id"]
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "web", "allowed_oauth_flows": ["code"],
        "allowed_oauth_scopes": ["openid", "email", "profile"],
        "callback_urls": [CALLBACK], "supported_identity_providers": ["COGNITO", "Corp"],
    }, admin=True), 201)["client_id"]
    idp_secret = secrets.token_urlsafe(32)
    idp_client = {
        "client_id": "poolgate-" + pool_id,
        "client_secret": idp_secret,
        "redirect_uris": [f"{node.issuer(pool_id)}/oauth2/idpresponse"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    idp = oidc_idp([idp_client], accounts, port=port)
    provider = expect(node.post(f"/v1/admin/pools/{pool_id}/identity-providers", {
        "name": "Corp", "provider_type": "OIDC", "client_secret": idp_secret,
        "settings": {"client_id": idp_client["client_id"], "issuer": idp.issuer,
                     "attribute_mapping": {"email": "email", "email_verified": "email_verified",
                                           "name": "name"}},
    }, admin=True), 201)
    assert provider["client_secret_set"] is True and "client_secret" not in provider, provider
    return pool_id, client_id, idp, idp_client


def authorize_url(node, pool_id: str, client_id: str, state: str, challenge: str, **extra: str) -> str:
    from urllib.parse import urlencode
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
         "scope": "openid email profile", "state": state, "nonce": secrets.token_urlsafe(12),
         "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{node.issuer(pool_id)}/oauth2/authorize?{urlencode(q)}"


def to_provider(browser: requests.Session, node, pool_id: str, client_id: str, state: str,
                challenge: str) -> requests.Response:
    """The hosted sign-in page, its "Continue with Corp" button, and the
    redirect into the IdP: ends on the IdP's sign-in page."""
    import re
    page = browser.get(authorize_url(node, pool_id, client_id, state, challenge), timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    buttons = re.findall(r'<a class="idp" href="([^"]+)">Continue with Corp</a>', page.text)
    assert len(buttons) == 1, page.text
    href = html.unescape(buttons[0])
    to_idp = browser.get(node.url + href, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert to_idp.status_code == 302, to_idp.text
    assert "poolgate_fed" in to_idp.headers.get("set-cookie", ""), to_idp.headers
    return browser.get(to_idp.headers["location"], timeout=HTTP_TIMEOUT)


def back_to_client(browser: requests.Session, idp_answer: str) -> dict:
    """Delivers the IdP's answer to poolgate; returns the client's callback query."""
    assert "/oauth2/idpresponse?" in idp_answer, idp_answer
    r = browser.get(idp_answer, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 303, f"{r.status_code}: {r.text[:2000]}"
    loc = r.headers["location"]
    assert loc.startswith(CALLBACK + "?"), loc
    return {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}


def exchange(node, pool_id: str, client_id: str, code: str, verifier: str) -> dict:
    tokens = expect(requests.post(f"{node.issuer(pool_id)}/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "client_id": client_id, "code_verifier": verifier,
    }, timeout=HTTP_TIMEOUT), 200)
    jwks_uri = f"{node.issuer(pool_id)}/.well-known/jwks.json"
    key = jwt.PyJWKClient(jwks_uri, cache_keys=False).get_signing_key_from_jwt(tokens["id_token"])
    tokens["claims"] = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256", "ES256"],
                                  audience=client_id, issuer=node.issuer(pool_id))
    return tokens


def federated_sign_in(node, pool_id: str, client_id: str, login: str) -> dict:
    state = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    with requests.Session() as browser:
        page = to_provider(browser, node, pool_id, client_id, state, challenge)
        back = back_to_client(browser, idp_login(browser, page, login))
    assert back.get("state") == state and "code" in back, back
    return exchange(node, pool_id, client_id, back["code"], verifier)


def test_federated_sign_in_creates_refreshes_and_links_users(server, oidc_idp):
    node = server()
    accounts = {"alice": dict(ALICE), "bob": {"email": "bob@example.com", "email_verified": True,
                                              "name": "Bob Native"}}
    pool_id, client_id, idp, idp_client = federated_setup(node, oidc_idp, accounts)

    # First sign-in: a new EXTERNAL_PROVIDER user <Provider>_<subject>.
    first = federated_sign_in(node, pool_id, client_id, "alice")["claims"]
    assert first["cognito:username"] == "corp_alice", first
    assert first["email"] == "alice@example.com" and first["email_verified"] is True, first
    assert first["name"] == "Alice Example", first
    ident = first["identities"]
    assert isinstance(ident, list) and len(ident) == 1, first
    assert ident[0]["providerName"] == "Corp" and ident[0]["userId"] == "alice", ident
    assert ident[0]["providerType"] == "OIDC", ident
    user = expect(node.get(f"/v1/admin/pools/{pool_id}/users/corp_alice", admin=True), 200)
    assert user["status"] == "EXTERNAL_PROVIDER", user

    # The provider's attributes are read again at each sign-in (the IdP
    # restarts on its port with a new name for alice, and a new signing key).
    port = idp.port
    idp.stop()
    renamed = dict(accounts, alice=dict(ALICE, name="Alice Renamed"))
    oidc_idp([idp_client], renamed, port=port)
    again = federated_sign_in(node, pool_id, client_id, "alice")["claims"]
    assert again["sub"] == first["sub"] and again["name"] == "Alice Renamed", again
    listed = expect(node.get(f"/v1/admin/pools/{pool_id}/users", admin=True), 200)["users"]
    assert [u["username"] for u in listed] == ["corp_alice"], listed

    # An admin links the provider's "bob" to a native user: both sign-ins
    # reach one account.
    expect(node.post(f"/v1/admin/pools/{pool_id}/users", {
        "username": "bob", "temporary_password": PASSWORD, "attributes": {"email": "bob@example.com"},
        "suppress_invitation": True}, admin=True), 201)
    expect(node.post(f"/v1/admin/pools/{pool_id}/users/bob/password", {"password": PASSWORD}, admin=True), 200,
           body=False)
    bob = expect(node.post(f"/v1/admin/pools/{pool_id}/users/bob/identities",
                           {"provider": "Corp", "subject": "bob"}, admin=True), 200)
    linked = federated_sign_in(node, pool_id, client_id, "bob")["claims"]
    assert linked["sub"] == bob["sub"] and linked["cognito:username"] == "bob", linked
    assert linked["identities"][0]["userId"] == "bob", linked
    # A subject with a user of its own is not merged into another.
    r = node.post(f"/v1/admin/pools/{pool_id}/users/bob/identities",
                  {"provider": "Corp", "subject": "alice"}, admin=True)
    assert r.status_code == 409, r.text
    # Unlinked, "bob" at the provider becomes a user of its own.
    r = node.request("DELETE", f"/v1/admin/pools/{pool_id}/identities/Corp/bob", admin=True)
    assert r.status_code == 204, r.text
    separate = federated_sign_in(node, pool_id, client_id, "bob")["claims"]
    assert separate["sub"] != bob["sub"] and separate["cognito:username"] == "corp_bob", separate


def test_federation_refuses_replayed_foreign_and_unknown_answers(server, oidc_idp):
    node = server()
    pool_id, client_id, idp, _ = federated_setup(node, oidc_idp, {"alice": dict(ALICE)})
    verifier, challenge = pkce_pair()

    # An answer delivered in another browser (no binding cookie): refused on
    # a page, no redirect to the client (login CSRF).
    with requests.Session() as victim_flow:
        page = to_provider(victim_flow, node, pool_id, client_id, "s1", challenge)
        answer = idp_login(victim_flow, page, "alice")
    with requests.Session() as other:
        r = other.get(answer, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert r.status_code == 400 and "location" not in r.headers, r.text
        assert "another browser" in r.text, r.text

    # The same answer twice: the first signs in, the second is refused.
    with requests.Session() as browser:
        page = to_provider(browser, node, pool_id, client_id, "s2", challenge)
        answer = idp_login(browser, page, "alice")
        assert "code" in back_to_client(browser, answer)
        replay = browser.get(answer, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert replay.status_code == 400 and "location" not in replay.headers, replay.text

        # A state that poolgate never sent.
        forged = answer.split("?")[0] + "?code=abc&state=" + secrets.token_urlsafe(16)
        r = browser.get(forged, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert r.status_code == 400 and "location" not in r.headers, r.text

    # An identity provider the client does not offer: an OAuth error at
    # the (registered) redirect URI.
    r = requests.get(authorize_url(node, pool_id, client_id, "s3", challenge, identity_provider="Other"),
                     allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 302, r.text
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_request"] and q["state"] == ["s3"], q

    # identity_provider=Corp skips the hosted page and goes to the IdP.
    r = requests.get(authorize_url(node, pool_id, client_id, "s4", challenge, identity_provider="Corp"),
                     allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 302 and r.headers["location"].startswith(idp.issuer + "/"), r.headers
    sent = parse_qs(urlsplit(r.headers["location"]).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["nonce"][0] and sent["state"][0] != "s4", sent
    assert sent["redirect_uri"] == [f"{node.issuer(pool_id)}/oauth2/idpresponse"], sent


def test_identity_providers_through_the_cognito_protocol(server, oidc_idp):
    """CreateIdentityProvider and friends with boto3 (signed admin
    credential), then a federated sign-in and an AdminLinkProviderForUser."""
    from test_cognito import admin_idp

    node = server()
    admin = admin_idp(node)
    pool_id = admin.create_user_pool(PoolName="fed-cognito")["UserPool"]["Id"]
    client_id = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[CALLBACK],
        SupportedIdentityProviders=["COGNITO", "Corp"])["UserPoolClient"]["ClientId"]
    secret = secrets.token_urlsafe(32)
    idp_client = {"client_id": "rp-" + pool_id, "client_secret": secret,
                  "redirect_uris": [f"{node.issuer(pool_id)}/oauth2/idpresponse"],
                  "token_endpoint_auth_method": "client_secret_basic"}
    idp = oidc_idp([idp_client], {"alice": dict(ALICE), "bob": {"email": "bob@example.com", "name": "Bob"}})
    details = {"client_id": idp_client["client_id"], "client_secret": secret, "oidc_issuer": idp.issuer,
               "authorize_scopes": "openid email profile", "attributes_request_method": "GET"}
    created = admin.create_identity_provider(
        UserPoolId=pool_id, ProviderName="Corp", ProviderType="OIDC", ProviderDetails=details,
        AttributeMapping={"username": "sub", "email": "email", "email_verified": "email_verified",
                          "name": "name"})["IdentityProvider"]
    assert created["ProviderType"] == "OIDC" and "client_secret" not in created["ProviderDetails"], created
    with pytest.raises(admin.exceptions.DuplicateProviderException):
        admin.create_identity_provider(UserPoolId=pool_id, ProviderName="Corp", ProviderType="OIDC",
                                       ProviderDetails=details)
    listed = admin.list_identity_providers(UserPoolId=pool_id, MaxResults=10)["Providers"]
    assert [p["ProviderName"] for p in listed] == ["Corp"], listed
    assert admin.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"][
        "SupportedIdentityProviders"] == ["COGNITO", "Corp"]

    claims = federated_sign_in(node, pool_id, client_id, "alice")["claims"]
    assert claims["cognito:username"] == "corp_alice" and claims["name"] == "Alice Example", claims

    # AdminLinkProviderForUser: the provider's "bob" reaches the native bob.
    admin.admin_create_user(UserPoolId=pool_id, Username="bob", MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "email", "Value": "bob@example.com"}])
    admin.admin_set_user_password(UserPoolId=pool_id, Username="bob", Password=PASSWORD, Permanent=True)
    admin.admin_link_provider_for_user(
        UserPoolId=pool_id,
        DestinationUser={"ProviderName": "Cognito", "ProviderAttributeValue": "bob"},
        SourceUser={"ProviderName": "Corp", "ProviderAttributeName": "Cognito_Subject",
                    "ProviderAttributeValue": "bob"})
    bob = federated_sign_in(node, pool_id, client_id, "bob")["claims"]
    assert bob["cognito:username"] == "bob", bob
    admin.admin_disable_provider_for_user(
        UserPoolId=pool_id, User={"ProviderName": "Corp", "ProviderAttributeName": "Cognito_Subject",
                                  "ProviderAttributeValue": "bob"})
    assert federated_sign_in(node, pool_id, client_id, "bob")["claims"]["cognito:username"] == "corp_bob"

    updated = admin.update_identity_provider(UserPoolId=pool_id, ProviderName="Corp",
                                             AttributeMapping={"email": "email"})["IdentityProvider"]
    assert updated["AttributeMapping"] == {"username": "sub", "email": "email"}, updated
    admin.delete_identity_provider(UserPoolId=pool_id, ProviderName="Corp")
    with pytest.raises(admin.exceptions.ResourceNotFoundException):
        admin.describe_identity_provider(UserPoolId=pool_id, ProviderName="Corp")
