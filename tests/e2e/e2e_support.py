"""Support code for the poolgate end-to-end tests.

Everything here talks to a *built* poolgate binary over HTTP and SMTP; nothing
imports the Rust code. conftest.py turns these pieces into fixtures:

- ``SmtpSink``: an aiosmtpd server on 127.0.0.1 that keeps every message;
- ``Node``: one ``poolgate serve`` process with its own port and working dir;
- small API helpers (``create_pool``, ``signup``, ``expect``, ``expect_problem``,
  ``verify_token``, ...) that assert the documented JSON contract;
- ``OidcIdp`` / ``start_idp`` / ``idp_login``: an external OpenID Provider
  (the npm package oidc-provider, ``js/idp_server.mjs``) for federation tests.
"""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Callable, Optional
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from aiosmtpd.controller import Controller

# Passes the default policy (min length 15) and is not a common password.
PASSWORD = "correct horse battery staple 42"
# On the built-in common-password list and 16 characters long, so only the
# common-password check can refuse it.
COMMON_LONG_PASSWORD = "1qaz2wsx3edc4rfv"

READY_TIMEOUT = 60.0  # seconds for /health/ready to answer 200
MAIL_TIMEOUT = 30.0  # seconds for a message to reach the SMTP sink
HTTP_TIMEOUT = 30.0  # seconds for any single HTTP request
STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL
EMAIL_DOMAIN = "e2e.poolgate.test"
CODE_RE = re.compile(r"\b(\d{6})\b")
POOL_ID_RE = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)*-\d+_[A-Za-z0-9]{9}")
CLIENT_ID_RE = re.compile(r"[a-z0-9]{26}")


# --------------------------------------------------------------------------- utilities


# Ports this process has handed out: a port is free only until the process it
# was meant for binds it, and two nodes started together (neither listening
# yet) must not be given the same one.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago and that this
    process has not handed out before."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port that was not handed out already")


def free_ports(n: int) -> list[int]:
    """n distinct free ports."""
    return [free_port() for _ in range(n)]


def random_alnum(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def unique_username(prefix: str = "user") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def email_for(username: str) -> str:
    return f"{username}@{EMAIL_DOMAIN}"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll predicate until it returns a truthy value; return it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# --------------------------------------------------------------------------- SMTP sink


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    to: str
    subject: str
    body: str  # text/plain part, or the text of the HTML part when there is none
    html: Optional[str]
    raw: bytes

    def addressed_to(self, addr: str) -> bool:
        addr = addr.lower()
        if any(r.lower() == addr for r in self.rcpt_tos):
            return True
        return addr in self.to.lower()


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", markup))


def _parse_mail(mail_from: str, rcpt_tos: list[str], raw: bytes) -> Mail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = html = None
    try:
        part = msg.get_body(preferencelist=("plain",))
        if part is not None:
            text = part.get_content()
        part = msg.get_body(preferencelist=("html",))
        if part is not None:
            html = part.get_content()
    except (KeyError, LookupError, UnicodeError):
        pass
    if text is None and html is not None:
        text = _html_to_text(html)
    if text is None:
        payload = msg.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload or "")
    return Mail(
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        to=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
        body=text,
        html=html,
        raw=raw,
    )


class _SinkHandler:
    def __init__(self, sink: "SmtpSink"):
        self._sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self._sink._add(_parse_mail(envelope.mail_from, envelope.rcpt_tos, raw))
        return "250 OK"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts everything and keeps it."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = free_port()
        self._messages: list[Mail] = []
        self._cond = threading.Condition()
        self._controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            ready_timeout=10.0,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def _add(self, mail: Mail) -> None:
        with self._cond:
            self._messages.append(mail)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Mail]:
        with self._cond:
            return list(self._messages)

    def messages_to(self, addr: str) -> list[Mail]:
        return [m for m in self.messages if m.addressed_to(addr)]

    def wait_for(self, addr: str, n: int = 1, timeout: float = MAIL_TIMEOUT) -> Mail:
        """Wait until at least n messages went to addr; return the n-th."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self._messages if m.addressed_to(addr)]
                if len(got) >= n:
                    return got[n - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.rcpt_tos, m.subject) for m in self._messages]
                    raise AssertionError(
                        f"no message #{n} to {addr} within {timeout:.0f}s; sink has {seen!r}"
                    )
                self._cond.wait(min(left, 0.5))


def extract_code(mail: Mail) -> str:
    """The 6-digit code in a message (text body first, then the HTML text)."""
    for text in (mail.body, _html_to_text(mail.html) if mail.html else ""):
        m = CODE_RE.search(text or "")
        if m:
            return m.group(1)
    raise AssertionError(f"no 6-digit code in message {mail.subject!r} to {mail.rcpt_tos}:\n{mail.body}")


def other_code(code: str) -> str:
    """A 6-digit code that is certainly not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --------------------------------------------------------------------------- server nodes


def process_log_tail(name: str, proc: Any, stderr_path: Optional[str], stdout_path: Optional[str],
                     max_bytes: int = 30_000) -> str:
    """The end of a child process's stderr and stdout files, and its exit code if it ended."""
    parts = []
    for label, path in (("stderr", stderr_path), ("stdout", stdout_path)):
        if not path or not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", "replace")
        if data.strip():
            cut = " (tail)" if size > max_bytes else ""
            parts.append(f"----- {name} {label}{cut} -----\n{data}")
    exit_note = ""
    if proc is not None and proc.poll() is not None:
        exit_note = f"----- {name} exit code: {proc.returncode} -----\n"
    return exit_note + ("\n".join(parts) if parts else f"({name} wrote no output)")


@dataclass
class ClusterSecrets:
    """Secrets shared by every node of one test."""

    admin_key: str
    master_key: str

    @classmethod
    def generate(cls) -> "ClusterSecrets":
        return cls(admin_key=random_alnum(40), master_key=secrets.token_hex(32))


@dataclass
class Node:
    """One `poolgate serve` process."""

    name: str
    binary: str
    workdir: str
    port: int
    s3_port: int
    public_url: str
    db_url: str
    env: dict[str, str]
    admin_key: str
    proc: Optional[subprocess.Popen] = None
    stdout_path: str = ""
    stderr_path: str = ""
    needed_kill: bool = False
    _files: list = field(default_factory=list)
    _http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def s3_url(self) -> str:
        """The S3 gateway's endpoint."""
        return f"http://127.0.0.1:{self.s3_port}"

    def issuer(self, pool_id: str) -> str:
        return f"{self.public_url}/{pool_id}"

    # -- process ----------------------------------------------------------------------

    def start(self) -> None:
        self.stdout_path = os.path.join(self.workdir, "poolgate.stdout.log")
        self.stderr_path = os.path.join(self.workdir, "poolgate.stderr.log")
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(
            [self.binary, "serve"],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        assert self.proc is not None, "node not started"
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(
                    f"poolgate {self.name} exited with {code} before it was ready\n{self.log_tail()}"
                )
            try:
                r = self._http.get(self.url + "/health/ready", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:500]}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"poolgate {self.name} not ready on {self.url} after {timeout:.0f}s "
                    f"(last: {last})\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        self._http.close()
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.needed_kill = True
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    warnings.warn(
                        f"poolgate {self.name} did not exit within {STOP_TIMEOUT:.0f}s of "
                        "SIGTERM and was killed (graceful shutdown hangs?)",
                        stacklevel=2,
                    )
        finally:
            for f in self._files:
                f.close()
            self._files = []

    def log_tail(self, max_bytes: int = 30_000) -> str:
        return process_log_tail(f"poolgate {self.name}", self.proc, self.stderr_path, self.stdout_path, max_bytes)

    # -- HTTP -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: Optional[str] = None,
        admin: bool = False,
        headers: Optional[dict] = None,
        **kwargs: Any,
    ) -> requests.Response:
        h = {"Accept": "application/json, application/problem+json"}
        if admin:
            h["Authorization"] = f"Bearer {self.admin_key}"
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._http.request(method, self.url + path, json=json, headers=h, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)


# --------------------------------------------------------------------------- assertions


def describe(resp: requests.Response) -> str:
    return (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} "
        f"[{resp.headers.get('Content-Type')}] {resp.text[:2000]}"
    )


def expect(resp: requests.Response, status: int, *, body: bool = True) -> Any:
    """Assert the status; return the parsed JSON body (or None with body=False)."""
    assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    if not body:
        return None
    try:
        return resp.json()
    except ValueError as exc:
        raise AssertionError(f"expected a JSON body: {describe(resp)}") from exc


def expect_problem(
    resp: requests.Response, code: Optional[str] = None, *, status: Optional[int] = None
) -> dict:
    """Assert an RFC 9457 problem document (4xx unless `status` says otherwise)."""
    if status is None:
        assert 400 <= resp.status_code < 500, f"expected a 4xx problem: {describe(resp)}"
    else:
        assert resp.status_code == status, f"expected {status}: {describe(resp)}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/problem+json", (
        f"expected application/problem+json: {describe(resp)}"
    )
    doc = resp.json()
    for member in ("type", "title", "status", "detail", "code"):
        assert member in doc, f"problem lacks `{member}`: {describe(resp)}"
    assert doc["status"] == resp.status_code, f"problem status differs: {describe(resp)}"
    if code is not None:
        assert doc["code"] == code, f"expected code {code}: {describe(resp)}"
    return doc


# --------------------------------------------------------------------------- API flows


def create_pool(node: Node, name: str = "e2e") -> dict:
    pool = expect(node.post("/v1/admin/pools", {"name": name}, admin=True), 201)
    assert POOL_ID_RE.fullmatch(str(pool.get("id"))), f"pool id format: {pool!r}"
    assert pool.get("name") == name, pool
    return pool


def create_client(node: Node, pool_id: str, name: str = "web") -> dict:
    client = expect(
        node.post(
            f"/v1/admin/pools/{pool_id}/clients",
            {"name": name, "generate_secret": False},
            admin=True,
        ),
        201,
    )
    assert CLIENT_ID_RE.fullmatch(str(client.get("client_id"))), f"client id format: {client!r}"
    assert client.get("client_secret") is None, client
    return client


def signup_request(
    node: Node, pool_id: str, client_id: str, username: str, password: str, email_addr: str
) -> requests.Response:
    return node.post(
        f"/v1/pools/{pool_id}/signup",
        {
            "client_id": client_id,
            "username": username,
            "password": password,
            "attributes": {"email": email_addr},
        },
    )


def signup(
    node: Node, pool_id: str, client_id: str, username: str, email_addr: str, password: str = PASSWORD
) -> dict:
    out = expect(signup_request(node, pool_id, client_id, username, password, email_addr), 200)
    assert out.get("user_confirmed") is False, out
    sub = out.get("user_sub")
    assert uuid.UUID(str(sub)).version == 4, f"user_sub must be a UUID v4: {out!r}"
    local, _, domain = email_addr.partition("@")
    assert out.get("code_delivery") == {
        "destination": f"{local[0]}***@{domain[0]}***",
        "medium": "EMAIL",
        "attribute": "email",
    }, out
    return out


def confirm_request(node: Node, pool_id: str, client_id: str, username: str, code: str):
    return node.post(
        f"/v1/pools/{pool_id}/signup/confirm",
        {"client_id": client_id, "username": username, "code": code},
    )


def signin_request(node: Node, pool_id: str, client_id: str, username: str, password: str):
    return node.post(
        f"/v1/pools/{pool_id}/signin",
        {"client_id": client_id, "username": username, "password": password},
    )


def check_token_set(tokens: Any, *, refresh_required: bool) -> dict:
    assert isinstance(tokens, dict), tokens
    for name in ("id_token", "access_token"):
        assert isinstance(tokens.get(name), str) and tokens[name].count(".") == 2, tokens
    if refresh_required:
        assert isinstance(tokens.get("refresh_token"), str) and tokens["refresh_token"], tokens
    assert tokens.get("token_type") == "Bearer", tokens
    assert tokens.get("expires_in") == 3600, tokens
    return tokens


def signin(node: Node, pool_id: str, client_id: str, username: str, password: str = PASSWORD) -> dict:
    out = expect(signin_request(node, pool_id, client_id, username, password), 200)
    return check_token_set(out.get("tokens"), refresh_required=True)


def refresh(node: Node, pool_id: str, client_id: str, refresh_token: str) -> dict:
    out = expect(
        node.post(
            f"/v1/pools/{pool_id}/token/refresh",
            {"client_id": client_id, "refresh_token": refresh_token},
        ),
        200,
    )
    # refresh_token is only present when the client rotates refresh tokens.
    return check_token_set(out.get("tokens"), refresh_required=False)


def me(node: Node, access_token: str) -> dict:
    return expect(node.get("/v1/me", token=access_token), 200)


def discovery(node: Node, pool_id: str) -> dict:
    doc = expect(node.get(f"/{pool_id}/.well-known/openid-configuration"), 200)
    assert doc.get("issuer") == node.issuer(pool_id), doc
    assert doc.get("jwks_uri"), doc
    return doc


def jwks(node: Node, pool_id: str) -> dict:
    """The JWKS as served by this node (whatever PUBLIC_URL says)."""
    doc = expect(node.get(f"/{pool_id}/.well-known/jwks.json"), 200)
    keys = doc.get("keys")
    assert isinstance(keys, list) and keys, f"empty JWKS: {doc!r}"
    for k in keys:
        assert k.get("kid") and k.get("kty"), f"JWK without kid/kty: {k!r}"
        assert "d" not in k and "p" not in k, "JWKS must not publish private key material"
    return doc


def jwks_uri_of(node: Node, pool_id: str) -> str:
    return f"{node.url}/{pool_id}/.well-known/jwks.json"


def verify_token(
    token: str,
    *,
    jwks_uri: str,
    issuer: str,
    token_use: str,
    audience: Optional[str] = None,
) -> dict:
    """Verify an RS256 JWT against a JWKS URL; return its claims."""
    header = jwt.get_unverified_header(token)
    assert header.get("alg") == "RS256", header
    assert header.get("kid"), f"JWT header without kid: {header!r}"
    jwks_client = jwt.PyJWKClient(jwks_uri, cache_keys=False, timeout=int(HTTP_TIMEOUT))
    key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=issuer,
        audience=audience,
        leeway=60,
        options={
            "verify_aud": audience is not None,
            "require": ["exp", "iat", "iss", "sub", "token_use"],
        },
    )
    assert claims["token_use"] == token_use, claims
    assert claims["exp"] > claims["iat"], claims
    return claims


def verify_id_token(token: str, *, jwks_uri: str, issuer: str, client_id: str) -> dict:
    claims = verify_token(token, jwks_uri=jwks_uri, issuer=issuer, token_use="id", audience=client_id)
    assert claims["aud"] == client_id, claims
    return claims


def verify_access_token(token: str, *, jwks_uri: str, issuer: str, client_id: str) -> dict:
    claims = verify_token(token, jwks_uri=jwks_uri, issuer=issuer, token_use="access")
    assert claims.get("client_id") == client_id, claims
    return claims


# --------------------------------------------------------------------------- external OpenID Provider

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
IDP_SCRIPT = os.path.join(JS_DIR, "idp_server.mjs")
IDP_READY_TIMEOUT = 30.0  # seconds for idp_server.mjs to print its ready line
IDP_STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
IDP_MAX_REDIRECTS = 10  # redirects idp_login follows inside the IdP


@dataclass
class OidcIdp:
    """One external OpenID Provider: oidc-provider (npm) run by ``js/idp_server.mjs``.

    Plain HTTP on 127.0.0.1, issuer ``http://127.0.0.1:<port>``; see the script's
    header for the configuration. Get a running one from ``start_idp`` (or the
    ``oidc_idp`` fixture); it is a context manager that stops the process on exit.
    """

    workdir: str
    config: dict
    proc: Optional[subprocess.Popen] = None
    issuer: str = ""
    port: int = 0
    config_path: str = ""
    stdout_path: str = ""
    stderr_path: str = ""
    needed_kill: bool = False
    _files: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"oidc-idp:{self.port}" if self.port else "oidc-idp"

    def start(self, timeout: float = IDP_READY_TIMEOUT) -> None:
        """Spawn the IdP and wait for its ready line (sets ``issuer`` and ``port``)."""
        node = shutil.which("node")
        if not node:
            raise AssertionError("`node` is not on PATH: the external IdP needs Node.js (20+)")
        if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "oidc-provider")):
            raise AssertionError(f"oidc-provider is not installed: run `npm ci --prefix {JS_DIR}`")
        self.config_path = os.path.join(self.workdir, "idp.json")
        self.stdout_path = os.path.join(self.workdir, "idp.stdout.log")
        self.stderr_path = os.path.join(self.workdir, "idp.stderr.log")
        with open(self.config_path, "w", encoding="utf-8") as f:
            # exit_with_stdin: the IdP exits when this process (holding the pipe) dies.
            json.dump({**self.config, "exit_with_stdin": True}, f, indent=2)
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(
            [node, IDP_SCRIPT, self.config_path],
            cwd=self.workdir,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None, "IdP not started"
        deadline = time.monotonic() + timeout
        while True:
            with open(self.stdout_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            if "\n" in text:
                line = text.split("\n", 1)[0]
                try:
                    ready = json.loads(line)
                    self.issuer = str(ready["issuer"])
                    self.port = int(ready["port"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise AssertionError(
                        f"IdP printed {line!r} instead of its ready line\n{self.log_tail()}"
                    ) from exc
                assert self.issuer == f"http://127.0.0.1:{self.port}", ready
                return
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(f"IdP exited with {code} before it was ready\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"IdP not ready after {timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after IDP_STOP_TIMEOUT); safe to call twice."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=IDP_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.needed_kill = True
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            if self.proc is not None and self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
            for f in self._files:
                f.close()
            self._files = []

    def __enter__(self) -> "OidcIdp":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def log_tail(self, max_bytes: int = 30_000) -> str:
        """The end of the IdP's stderr (access log, errors) and stdout."""
        return process_log_tail(self.name, self.proc, self.stderr_path, self.stdout_path, max_bytes)

    def discovery(self) -> dict:
        """The IdP's OpenID Provider metadata (issuer checked)."""
        resp = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        doc = expect(resp, 200)
        assert doc.get("issuer") == self.issuer, doc
        return doc


def start_idp(
    tmp_path: Any,
    clients: list[dict],
    accounts: dict[str, dict],
    *,
    port: int = 0,
    pkce_required: bool = True,
    conform_id_token_claims: bool = False,
    scopes: Optional[dict[str, list[str]]] = None,
    timeout: float = IDP_READY_TIMEOUT,
) -> OidcIdp:
    """Start an external OpenID Provider and wait until it listens.

    ``clients``: oidc-provider client metadata, e.g. ``{"client_id", "client_secret",
    "redirect_uris": [...], "token_endpoint_auth_method": "client_secret_basic"}``
    (grant types default to authorization_code + refresh_token, response type code).
    ``accounts``: login -> claims (``sub`` is the login; e.g. email, email_verified,
    name, given_name, family_name). Any password is accepted for these logins, other
    logins are refused, consent is implicit. ``scopes`` adds scope -> claims
    mappings; ``pkce_required=False`` makes PKCE optional; ``conform_id_token_claims``
    keeps scope claims out of the ID token (userinfo only). The config and logs go
    to a fresh directory under ``tmp_path``.
    """
    os.makedirs(str(tmp_path), exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="oidc-idp-", dir=str(tmp_path))
    config: dict[str, Any] = {
        "port": port,
        "clients": clients,
        "accounts": accounts,
        "pkce_required": pkce_required,
        "conform_id_token_claims": conform_id_token_claims,
    }
    if scopes:
        config["scopes"] = scopes
    idp = OidcIdp(workdir=workdir, config=config)
    try:
        idp.start(timeout)
    except BaseException:
        idp.stop()
        raise
    return idp


class IdpLoginError(AssertionError):
    """The IdP did not send the browser back to the relying party after the login form."""


class _FormParser(HTMLParser):
    """Collects every <form>: its action, method and successful input fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._current: Optional[dict[str, Any]] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "action": a.get("action", ""),
                "method": (a.get("method") or "get").lower(),
                "fields": [],
            }
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._current["fields"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def idp_login(
    session: requests.Session,
    resp: requests.Response,
    login: str,
    password: str = "any password will do",
) -> str:
    """Sign in at the external IdP; return the URL it sends the browser back to.

    ``resp`` is the response of following the relying party's redirect into the
    IdP: normally its sign-in page (what ``session.get(..., allow_redirects=True)``
    ends on), or the redirect into the IdP itself (then it is followed first).
    Submits the page's login form (hidden fields included) with ``login`` and
    ``password`` through ``session``, follows the IdP's redirects while they stay
    on its origin, and returns the first ``Location`` that leaves it (absolute):
    the relying party's redirect_uri with ``code`` and ``state`` (or ``error``).
    Raises IdpLoginError when the IdP answers with a page instead, e.g. 401 with
    the form again for an unknown login.
    """
    if resp.is_redirect:
        origin = _origin(urljoin(resp.url, resp.headers["Location"]))
    else:
        origin = _origin(resp.url)

    hops = 0
    while resp.is_redirect:
        target = urljoin(resp.url, resp.headers["Location"])
        if _origin(target) != origin:
            raise IdpLoginError(
                f"the IdP redirected to {target} without showing its sign-in page "
                "(an IdP session exists already?)"
            )
        hops += 1
        if hops > IDP_MAX_REDIRECTS:
            raise IdpLoginError(f"more than {IDP_MAX_REDIRECTS} redirects before the sign-in page")
        resp = session.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)

    if resp.status_code != 200:
        raise IdpLoginError(f"expected the IdP's sign-in page: {describe(resp)}")
    parser = _FormParser()
    parser.feed(resp.text)
    parser.close()
    forms = [f for f in parser.forms if any(name == "login" for name, _ in f["fields"])]
    if len(forms) != 1:
        raise IdpLoginError(f"expected one login form on the IdP's page: {describe(resp)}")
    form = forms[0]
    assert form["method"] == "post", f"the IdP's login form is not POST: {form!r}"
    action = urljoin(resp.url, form["action"] or resp.url)
    assert _origin(action) == origin, f"the IdP's login form posts elsewhere: {action}"
    fields = [(name, value) for name, value in form["fields"] if name not in ("login", "password")]
    fields += [("login", login), ("password", password)]

    resp = session.post(action, data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT)
    hops = 0
    while resp.is_redirect:
        target = urljoin(resp.url, resp.headers["Location"])
        if _origin(target) != origin:
            return target
        hops += 1
        if hops > IDP_MAX_REDIRECTS:
            raise IdpLoginError(f"more than {IDP_MAX_REDIRECTS} redirects after the sign-in form")
        resp = session.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)
    raise IdpLoginError(f"the IdP did not redirect back after signing in {login!r}: {describe(resp)}")
