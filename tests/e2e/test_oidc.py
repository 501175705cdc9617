"""The OpenID Provider end to end with openid-client (Node, a certified
relying party): discovery, the authorization-code flow with PKCE through
the hosted sign-in page, ID-token validation by the library, userinfo,
refresh and revocation; and the discovery document against the OpenID
Connect Discovery 1.0 required fields."""

from __future__ import annotations

import json
import os
import subprocess

import requests

from e2e_support import HTTP_TIMEOUT, PASSWORD, create_pool, email_for, expect, extract_code, unique_username

JS_DIR = os.path.join(os.path.dirname(__file__), "js")
CALLBACK = "http://localhost:3000/callback"

# OpenID Connect Discovery 1.0 section 3: REQUIRED provider metadata.
REQUIRED = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
]


def hosted_client(node, pool_id: str) -> str:
    client = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "web", "allowed_oauth_flows": ["code"],
        "allowed_oauth_scopes": ["openid", "email", "profile"],
        "callback_urls": [CALLBACK], "logout_urls": ["http://localhost:3000/"],
    }, admin=True), 201)
    return client["client_id"]


def confirmed(node, smtp_sink, pool_id: str, client_id: str) -> str:
    email = email_for(unique_username("oidc"))
    expect(node.post(f"/v1/pools/{pool_id}/signup",
                     {"client_id": client_id, "username": email, "password": PASSWORD,
                      "attributes": {"email": email}}), 200)
    code = extract_code(smtp_sink.wait_for(email))
    expect(node.post(f"/v1/pools/{pool_id}/signup/confirm",
                     {"client_id": client_id, "username": email, "code": code}), 200)
    return email


def test_discovery_has_the_required_fields(server):
    node = server()
    pool_id = create_pool(node, "oidc-discovery")["id"]
    doc = requests.get(f"{node.issuer(pool_id)}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
    missing = [k for k in REQUIRED if k not in doc]
    assert not missing, f"missing required discovery fields: {missing}"
    assert doc["issuer"] == node.issuer(pool_id)
    assert "code" in doc["response_types_supported"] and "token" not in doc["response_types_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint"):
        assert doc[k].startswith(doc["issuer"] + "/"), (k, doc[k])
    jwks = requests.get(doc["jwks_uri"], timeout=HTTP_TIMEOUT).json()
    assert jwks["keys"] and all(k["alg"] in doc["id_token_signing_alg_values_supported"] for k in jwks["keys"])


def test_openid_client_code_flow_with_pkce(server, smtp_sink):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "openid-client")), (
        "run `npm ci --prefix tests/e2e/js` (.ci/run does)"
    )
    node = server()
    pool_id = expect(node.post("/v1/admin/pools", {"name": "oidc", "username_attributes": ["email"]},
                               admin=True), 201)["id"]
    client_id = hosted_client(node, pool_id)
    email = confirmed(node, smtp_sink, pool_id, client_id)
    proc = subprocess.run(
        ["node", os.path.join(JS_DIR, "oidc_flow.mjs"), node.issuer(pool_id), client_id, CALLBACK, email, PASSWORD],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"openid-client failed:\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["issuer"] == node.issuer(pool_id), out
    assert out["loginStatus"] == 303 and out["callbackHasIss"] is True, out
    assert out["email"] == email and out["userinfoEmail"] == email and out["sub"], out
    assert out["hasRefresh"] and out["refreshed"], out
    assert out["revokedRefused"] == "invalid_grant", out
    assert out["replayRefused"] == "invalid_grant", out
