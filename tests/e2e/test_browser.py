"""Headless Chromium on the hosted pages: sign up, confirm with the code
from the SMTP sink, sign in, land on the client's redirect URI with a code,
which then exchanges for tokens. A screenshot of the sign-in page is saved
as a test artifact (POOLGATE_E2E_ARTIFACTS, default tests/e2e/artifacts)."""

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

from e2e_support import HTTP_TIMEOUT, PASSWORD, email_for, expect, extract_code, jwks_uri_of, unique_username, verify_id_token

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
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "web", "allowed_oauth_flows": ["code"], "allowed_oauth_scopes": ["openid", "email"],
        "callback_urls": [callback]}, admin=True), 201)["client_id"]
    email = email_for(unique_username("mfa"))
    expect(node.post(f"/v1/pools/{pool_id}/signup", {"client_id": client_id, "username": email,
                                                     "password": PASSWORD, "attributes": {"email": email}}), 200)
    code = extract_code(smtp_sink.wait_for(email))
    expect(node.post(f"/v1/pools/{pool_id}/signup/confirm",
                     {"client_id": client_id, "username": email, "code": code}), 200)
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
