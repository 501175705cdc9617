"""Headless Chromium on the hosted pages: sign up, confirm with the code
from the SMTP sink, sign in, land on the client's redirect URI with a code,
which then exchanges for tokens; the TOTP and passkey steps (the latter with a
Chrome DevTools virtual authenticator). Screenshots of the pages are saved
as test artifacts (POOLGATE_E2E_ARTIFACTS, default tests/e2e/artifacts)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import secrets
import shutil
import subprocess
import threading
import urllib.parse

import requests

from e2e_support import (HTTP_TIMEOUT, PASSWORD, email_for, expect, extract_code, free_port, jwks_uri_of,
                          unique_username, verify_id_token)

# A 1x1 PNG: the client's logo, inline (the page's CSP allows https: and data: images).
LOGO = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
        "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
JS_DIR = os.path.join(os.path.dirname(__file__), "js")
ARTIFACTS = os.environ.get("POOLGATE_E2E_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts"))


def artifact(name: str) -> str:
    """The path of a test artifact (the folder is made)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, name)


def browser_script(script: str, chromium: str, *args: str) -> subprocess.Popen:
    """Starts a js/ browser script; it talks JSON lines on stdin/stdout."""
    return subprocess.Popen(
        ["node", os.path.join(JS_DIR, script), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CHROMIUM": chromium},
    )


class _Callback(http.server.BaseHTTPRequestHandler):
    """The client's redirect URI: a page that says it was reached."""

    def do_GET(self):  # noqa: N802
        body = b"callback reached"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass



def code_client_and_user(node, smtp_sink, pool_id: str, callback: str, prefix: str) -> tuple[str, str]:
    """A code-flow client of the pool and a confirmed user: (client id, email)."""
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "web", "allowed_oauth_flows": ["code"], "allowed_oauth_scopes": ["openid", "email"],
        "callback_urls": [callback]}, admin=True), 201)["client_id"]
    email = email_for(unique_username(prefix))
    expect(node.post(f"/v1/pools/{pool_id}/signup", {"client_id": client_id, "username": email,
                                                     "password": PASSWORD, "attributes": {"email": email}}), 200)
    code = extract_code(smtp_sink.wait_for(email))
    expect(node.post(f"/v1/pools/{pool_id}/signup/confirm",
                     {"client_id": client_id, "username": email, "code": code}), 200)
    return client_id, email

def test_chromium_signs_up_confirms_and_signs_in(server, smtp_sink):
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert chromium, "Debian's `chromium` is required (.ci/run installs it)"
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "playwright-core")), "run `npm ci --prefix tests/e2e/js`"
    callback_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    threading.Thread(target=callback_server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{callback_server.server_address[1]}/callback"
    node = server()
    pool_id = expect(node.post("/v1/admin/pools", {"name": "browser", "username_attributes": ["email"]},
                               admin=True), 201)["id"]
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "web", "allowed_oauth_flows": ["code"], "allowed_oauth_scopes": ["openid", "email"],
        "callback_urls": [callback],
        "branding": {"primary_color": "#aa3300", "logo_url": LOGO}}, admin=True), 201)["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = f"{node.issuer(pool_id)}/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "openid email",
        "state": "browser-state", "nonce": "browser-nonce", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    shot = artifact("hosted-sign-in.png")
    email = email_for(unique_username("web"))
    proc = browser_script("browser_flow.mjs", chromium, url, callback, email, PASSWORD, shot)
    try:
        first = proc.stdout.readline()
        assert first, f"the browser stopped early: {proc.stderr.read()}"
        assert json.loads(first) == {"step": "confirm"}, first
        code = extract_code(smtp_sink.wait_for(email))
        out_text, err = proc.communicate(code + "\n", timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    callback_server.shutdown()
    assert proc.returncode == 0, f"browser flow failed:\n{out_text}\n{err}"
    out = json.loads(out_text.strip().splitlines()[-1])
    assert out["signInTitle"] == "Sign in" and out["confirmTitle"] == "Confirm your account", out
    assert out["buttonColor"] == "rgb(170, 51, 0)" and out["logoShown"] is True, out
    assert "confirmed" in out["afterConfirm"] and out["usernamePrefilled"] == email, out
    assert out["sessionCookie"] == {"httpOnly": True, "sameSite": "Lax"}, out
    assert os.path.getsize(shot) > 1000, "the sign-in page screenshot was saved"

    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out["callback"]).query))
    assert params["state"] == "browser-state" and params["iss"] == node.issuer(pool_id), params
    tokens = requests.post(f"{node.issuer(pool_id)}/oauth2/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": params["code"],
        "redirect_uri": callback, "code_verifier": verifier}, timeout=HTTP_TIMEOUT)
    assert tokens.status_code == 200, tokens.text
    claims = verify_id_token(tokens.json()["id_token"], jwks_uri=jwks_uri_of(node, pool_id),
                             issuer=node.issuer(pool_id), client_id=client_id)
    assert claims["email"] == email and claims["nonce"] == "browser-nonce", claims


def test_hosted_totp_setup_and_code_in_chromium(server, smtp_sink):
    """MFA ON: the set-up page (QR code, key) and the code page, with codes
    from pyotp."""
    import pyotp
    import time

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (.ci/run installs it)"
    callback_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    threading.Thread(target=callback_server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{callback_server.server_address[1]}/callback"
    node = server()
    pool_id = expect(node.post("/v1/admin/pools", {"name": "browser-mfa", "username_attributes": ["email"],
                                                   "mfa": {"mode": "ON", "factors": ["SOFTWARE_TOKEN"]}},
                               admin=True), 201)["id"]
    client_id, email = code_client_and_user(node, smtp_sink, pool_id, callback, "mfa")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    url = f"{node.issuer(pool_id)}/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "openid email",
        "state": "mfa-state", "code_challenge": challenge, "code_challenge_method": "S256"})
    shot = artifact("hosted-mfa-setup.png")
    proc = browser_script("browser_mfa.mjs", chromium, url, callback, email, PASSWORD, shot)
    try:
        first = proc.stdout.readline()
        assert first, f"the browser stopped early: {proc.stderr.read()}"
        setup = json.loads(first)
        assert setup["step"] == "setup", setup
        totp = pyotp.TOTP(setup["key"])
        used = totp.now()
        proc.stdin.write(used + "\n")
        proc.stdin.flush()
        second = proc.stdout.readline()
        assert second, f"the browser stopped: {proc.stderr.read()}"
        assert json.loads(second) == {"step": "code"}, second
        # Each step's code works once: wait for the next step if needed.
        while totp.now() == used:
            time.sleep(1)
        out_text, err = proc.communicate(totp.now() + "\n", timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    callback_server.shutdown()
    assert proc.returncode == 0, f"browser flow failed:\n{out_text}\n{err}"
    out = json.loads(out_text.strip().splitlines()[-1])
    assert out["setupTitle"] == "Set up two-step sign-in" and out["qrShown"] is True, out
    assert "code" in out["setupError"].lower() and out["setupKeyKept"] is True, out
    assert out["codeTitle"] == "Enter your code", out
    assert "code" in out["wrongCode"].lower(), out
    for k in ("firstCallback", "secondCallback"):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out[k]).query))
        assert params.get("state") == "mfa-state" and params.get("code"), (k, out[k])


def test_hosted_passkey_registration_and_sign_in_in_chromium(server, smtp_sink):
    """Passkeys on the hosted pages, with a Chrome DevTools virtual
    authenticator: added on the passkeys page after a password sign-in, then
    the first factor ("Sign in with a passkey"); without the credential the
    step fails on the page; then, with MFA ON, the second factor after the
    password. WebAuthn refuses IP addresses: the pages load from localhost."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert chromium, "Debian's `chromium` is required (.ci/run installs it)"
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "playwright-core")), "run `npm ci --prefix tests/e2e/js`"
    callback_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    threading.Thread(target=callback_server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{callback_server.server_address[1]}/callback"
    port = free_port()
    origin = f"http://localhost:{port}"
    node = server(port=port, public_url=origin)
    pool_id = expect(node.post("/v1/admin/pools", {
        "name": "browser-passkey", "username_attributes": ["email"],
        "first_auth_factors": ["PASSWORD", "WEB_AUTHN"],
        "webauthn": {"relying_party_id": "localhost", "origins": [origin]}}, admin=True), 201)["id"]
    issuer = node.issuer(pool_id)
    assert issuer == f"{origin}/{pool_id}", issuer
    client_id, email = code_client_and_user(node, smtp_sink, pool_id, callback, "passkey")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = f"{issuer}/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "openid email",
        "state": "passkey-state", "code_challenge": challenge, "code_challenge_method": "S256"})

    def callback_code(reached: str) -> str:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(reached).query))
        assert reached.startswith(callback), reached
        assert params.get("state") == "passkey-state" and params.get("code"), reached
        return params["code"]

    def id_token_email(code: str) -> str:
        tokens = requests.post(f"{issuer}/oauth2/token", data={
            "grant_type": "authorization_code", "client_id": client_id, "code": code,
            "redirect_uri": callback, "code_verifier": verifier}, timeout=HTTP_TIMEOUT)
        assert tokens.status_code == 200, tokens.text
        claims = verify_id_token(tokens.json()["id_token"], jwks_uri=jwks_uri_of(node, pool_id),
                                 issuer=issuer, client_id=client_id)
        return claims["email"]

    shot = artifact("hosted-passkeys.png")
    proc = browser_script("browser_passkey.mjs", chromium, url, callback, email, PASSWORD, shot)
    try:
        first = proc.stdout.readline()
        assert first, f"the browser stopped early: {proc.stderr.read()}"
        step = json.loads(first)
        assert step["step"] == "passkey", step
        # The code of the passkey sign-in exchanges for the user's tokens.
        assert id_token_email(callback_code(step["callback"])) == email
        # MFA ON, the passkey as second factor; passkeys no longer a first factor.
        expect(node.request("PATCH", f"/v1/admin/pools/{pool_id}", json={
            "first_auth_factors": ["PASSWORD"], "mfa": {"mode": "ON", "factors": ["WEB_AUTHN"]}},
            admin=True), 200)
        out_text, err = proc.communicate("go\n", timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    callback_server.shutdown()
    assert proc.returncode == 0, f"browser flow failed:\n{out_text}\n{err}"
    out = json.loads(out_text.strip().splitlines()[-1])
    # The sign-in page offers passkeys; a password sign-in reaches the application.
    assert out["signInTitle"] == "Sign in" and out["passkeyButtonOffered"] is True, out
    callback_code(out["passwordCallback"])
    # The passkeys page: its one script runs by nonce; a passkey is added.
    assert out["passkeysStatus"] == 200 and out["passkeysTitle"] == "Your passkeys", out
    assert out["noPasskeysYet"] is True and out["continueLink"] == 1, out
    for k in ("passkeysCsp", "passkeyPageCsp", "mfaPageCsp"):
        assert out[k] and "script-src 'nonce-" in out[k], (k, out[k])
    assert out["addStatus"] == 200 and out["addedInfo"] == "Your passkey was added.", out
    assert len(out["passkeysAfter"]) == 1 and out["passkeysAfter"][0].startswith("laptop — added "), out
    assert out["removeButtons"] == ["Remove laptop"], out
    assert os.path.getsize(shot) > 1000, "the passkeys page screenshot was saved"
    # The virtual authenticator holds the one credential, for localhost (user
    # verification required; discoverable, as the options prefer).
    assert out["createRp"]["id"] == "localhost", out
    assert out["createSelection"]["userVerification"] == "required", out
    assert out["createSelection"]["residentKey"] == "preferred", out
    assert [(c["rpId"], c["isResidentCredential"]) for c in out["authenticator"]] == [("localhost", True)], out
    # The passkey as first factor.
    assert out["passkeyPageStatus"] == 200 and out["passkeyTitle"] == "Sign in with your passkey", out
    # Without the credential: an error on the page, not the application.
    assert out["heldAfterClear"] == 0, out
    assert not out["missingUrl"].startswith(callback), out
    assert ("The passkey step did not finish" in out["missingError"]
            or out["missingTitle"] == "Sign in"), out
    # MFA ON: the password, then the passkey; the code is the user's.
    assert out["mfaPasskeyButtonOffered"] is False, out
    assert out["mfaTitle"] == "Sign in with your passkey", out
    assert id_token_email(callback_code(out["mfaCallback"])) == email
    # No script error or CSP violation on any page.
    assert not [m for m in out["console"] if m.startswith(("error", "pageerror"))], out["console"]
