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

JS_DIR = os.path.join(os.path.dirname(__file__), "js")
ARTIFACTS = os.environ.get("POOLGATE_E2E_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts"))


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
        "callback_urls": [callback]}, admin=True), 201)["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = f"{node.issuer(pool_id)}/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "openid email",
        "state": "browser-state", "nonce": "browser-nonce", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "hosted-sign-in.png")
    email = email_for(unique_username("web"))
    proc = subprocess.Popen(
        ["node", os.path.join(JS_DIR, "browser_flow.mjs"), url, callback, email, PASSWORD, shot],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CHROMIUM": chromium},
    )
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
