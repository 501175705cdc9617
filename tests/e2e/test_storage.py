"""The S3 gateway end to end: identity-pool credentials driven by real clients.

Every test starts its own node (SQLite, mail through the SMTP sink, buckets
``photos`` and ``public``), gets short-lived storage credentials the way an app
does (user-pool sign-in or an external OpenID Connect token, then GetId and
GetCredentialsForIdentity, or as a guest) and then talks to the gateway with
boto3, the AWS CLI or plain ``curl`` on a presigned URL:

- the ``owner`` role's per-identity prefix (``${cognito-identity.amazonaws.com:sub}/``)
  is readable, writable and listable, everything else is ``AccessDenied``;
- presigned URLs work until they expire;
- a 50 MiB multipart upload round-trips and the server streams bodies (its RSS
  grows by less than 100 MiB over the upload and download);
- forged, unknown and revoked credentials get S3's error codes;
- guests get the unauthenticated role, and external OIDC tokens are verified;
- a refused upload whose body the gateway did not read is answered with
  ``Connection: close`` when the gateway then drops the connection.

Expired credentials are covered by tests/api/storage.rs, which moves the
server's injected clock past the credentials' lifetime (``ExpiredToken``);
an end-to-end test would have to wait at least 15 minutes for that.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

import boto3
import pytest
import jwt
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from e2e_support import (
    Node,
    confirm_request,
    create_client,
    create_pool,
    describe,
    email_for,
    expect,
    expect_problem,
    extract_code,
    signin,
    signup,
    unique_username,
)

MiB = 1024 * 1024
# The server's `server.region`: gateway signatures must be scoped to it (A9).
REGION = "local-east-1"
SUB = "${cognito-identity.amazonaws.com:sub}"
VENV_BIN = os.path.expanduser("~/.cache/poolgate-ci-venv/bin")
CLI_TIMEOUT = 120  # seconds for one `aws` or `curl` command

# The role of signed-in users: their own prefix of `photos`, nothing else.
OWNER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": f"arn:aws:s3:::photos/{SUB}/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::photos",
            "Condition": {"StringLike": {"s3:prefix": f"{SUB}/*"}},
        },
    ],
}

# The role of guests: read `public`.
READER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*"}],
}


# --------------------------------------------------------------------------- identity pools


@dataclass
class Creds:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: Any


@dataclass
class Identity:
    """An identity with fresh storage credentials."""

    identity_pool_id: str
    identity_id: str
    logins: dict
    creds: Creds

    @property
    def prefix(self) -> str:
        return f"{self.identity_id}/"


def create_role(node: Node, name: str, policy: dict) -> dict:
    role = expect(node.post("/v1/admin/roles", {"name": name, "policy": policy}, admin=True), 201)
    assert role.get("name") == name, role
    return role


def create_identity_pool(node: Node, name: str, **settings: Any) -> str:
    pool = expect(
        node.post("/v1/admin/identity-pools", {"name": name, **settings}, admin=True), 201
    )
    assert pool.get("id") and pool.get("name") == name, pool
    return pool["id"]


def get_id_request(node: Node, identity_pool_id: str, logins: dict):
    return node.post(f"/v1/identity-pools/{identity_pool_id}/identity", {"logins": logins})


def get_id(node: Node, identity_pool_id: str, logins: dict) -> str:
    identity_id = expect(get_id_request(node, identity_pool_id, logins), 200).get("identity_id")
    region, _, rest = str(identity_id).partition(":")
    assert region and uuid.UUID(rest), f"identity id format: {identity_id!r}"
    return identity_id


def get_credentials(node: Node, identity_pool_id: str, identity_id: str, logins: dict) -> Creds:
    out = expect(
        node.post(
            f"/v1/identity-pools/{identity_pool_id}/credentials",
            {"identity_id": identity_id, "logins": logins},
        ),
        200,
    )
    assert out.get("identity_id") == identity_id, out
    c = out.get("credentials") or {}
    for member in ("access_key_id", "secret_access_key", "session_token", "expiration"):
        assert c.get(member), f"credentials lack `{member}`: {out!r}"
    return Creds(c["access_key_id"], c["secret_access_key"], c["session_token"], c["expiration"])


def user_pool_provider(pool_id: str) -> str:
    return f"cognito-idp.local-east-1.amazonaws.com/{pool_id}"


def confirmed_user_id_token(node: Node, smtp_sink, pool_id: str, client_id: str) -> str:
    """Sign up (code by SMTP), confirm, sign in: the user's ID token."""
    username = unique_username("s3user")
    email = email_for(username)
    signup(node, pool_id, client_id, username, email)
    code = extract_code(smtp_sink.wait_for(email))
    expect(confirm_request(node, pool_id, client_id, username, code), 200, body=False)
    return signin(node, pool_id, client_id, username)["id_token"]


def owner_identity(node: Node, smtp_sink) -> Identity:
    """The `owner` role, an identity pool trusting a user pool client, and a
    signed-in user's identity with credentials."""
    create_role(node, "owner", OWNER_POLICY)
    pool_id = create_pool(node, "s3-users")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    identity_pool_id = create_identity_pool(
        node,
        "photos-app",
        providers=[{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        authenticated_role="owner",
    )
    id_token = confirmed_user_id_token(node, smtp_sink, pool_id, client_id)
    logins = {user_pool_provider(pool_id): id_token}
    identity_id = get_id(node, identity_pool_id, logins)
    creds = get_credentials(node, identity_pool_id, identity_id, logins)
    return Identity(identity_pool_id, identity_id, logins, creds)


# --------------------------------------------------------------------------- S3 clients


def s3_client(
    node: Node,
    creds: Creds,
    *,
    access_key_id: Optional[str] = None,
    secret_access_key: Optional[str] = None,
    session_token: Optional[str] = None,
):
    """A path-style SigV4 boto3 client on the node's gateway.

    Retries are the SDK's standard mode (refusals such as AccessDenied or
    SignatureDoesNotMatch are never retried, so every asserted error code is
    the server's first answer). They matter:
    after refusing an upload the gateway drops the connection without saying
    so, and the next request on that pooled connection fails with
    ConnectionClosedError about one time in five unless it is retried (see
    test_refused_upload_announces_that_the_connection_closes)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=node.s3_url,
        region_name=REGION,
        aws_access_key_id=access_key_id or creds.access_key_id,
        aws_secret_access_key=secret_access_key or creds.secret_access_key,
        aws_session_token=session_token or creds.session_token,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def s3_error(call: Callable[[], Any], code: str, status: int, what: str) -> ClientError:
    """Assert the call fails with this S3 error code and HTTP status."""
    try:
        result = call()
    except ClientError as exc:
        got_code = exc.response.get("Error", {}).get("Code")
        got_status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert (got_code, got_status) == (code, status), (
            f"{what}: expected {code} ({status}), got {got_code} ({got_status}): "
            f"{exc.response.get('Error')}"
        )
        return exc
    raise AssertionError(f"{what}: expected {code} ({status}), but the call succeeded: {result!r}")


def read_body(resp: dict) -> bytes:
    body = resp["Body"]
    try:
        return body.read()
    finally:
        body.close()


# --------------------------------------------------------------------------- processes


def run(argv: list[str], *, env: Optional[dict] = None, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CLI_TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"{what}: `{' '.join(argv)}` exited with {proc.returncode}\n"
        f"stdout: {proc.stdout.decode('utf-8', 'replace')[-3000:]}\n"
        f"stderr: {proc.stderr.decode('utf-8', 'replace')[-3000:]}"
    )
    return proc


def curl(url: str) -> tuple[int, bytes]:
    """GET with plain curl: (status, body)."""
    exe = shutil.which("curl")
    assert exe, "`curl` is not on PATH"
    out = run([exe, "-sS", "-o", "-", "-w", "\n%{http_code}", url], what="curl")
    body, _, status = out.stdout.rpartition(b"\n")
    return int(status), body


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, KiB, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])  # "123456 kB"
    assert set(values) == {"VmRSS", "VmHWM"}, f"/proc/{pid}/status lacks VmRSS/VmHWM: {values}"
    return values


def signed_request_head(node: Node, creds: Creds, method: str, path: str, body: bytes, extra: dict) -> bytes:
    """The head of a SigV4-signed HTTP/1.1 request (header auth, signed payload hash)."""
    request = AWSRequest(
        method=method,
        url=node.s3_url + path,
        data=body,
        headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()},
    )
    signer_creds = Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
    S3SigV4Auth(signer_creds, "s3", REGION).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{node.s3_port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response with a Content-Length body: (status, headers lower-cased, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a complete response head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed inside the body: {head!r} {rest!r}"
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the peer closes the connection within `wait` seconds (nothing else arriving)."""
    sock.settimeout(wait)
    try:
        extra = sock.recv(65536)
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    assert not extra, f"unexpected bytes after the response: {extra[:500]!r}"
    return True


def write_random_file(path: str, size: int) -> str:
    """A file of random bytes; its sha256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(MiB, left))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- OIDC issuer


class OidcIssuer:
    """A local OpenID Connect issuer: an RSA key, discovery and JWKS on 127.0.0.1."""

    KID = "rsa-1"

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.KID, "alg": "RS256", "use": "sig"})
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    doc = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/jwks":
                    doc = {"keys": [jwk]}
                else:
                    self.send_error(404)
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "OidcIssuer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def token(self, sub: str, aud: str, *, ttl: int = 600, key: Optional[rsa.RSAPrivateKey] = None) -> str:
        """An RS256 ID token; signed with `key` instead of the issuer's own to forge one."""
        now = int(time.time())
        claims = {"iss": self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + ttl}
        return jwt.encode(claims, key or self._key, algorithm="RS256", headers={"kid": self.KID})


# --------------------------------------------------------------------------- tests


def test_boto3_owner_prefix_round_trip_and_isolation(server, smtp_sink):
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    key = f"{me.prefix}hello.txt"
    body = b"hello from boto3 \x00\xff" + os.urandom(64)

    put = s3.put_object(Bucket="photos", Key=key, Body=body, ContentType="text/plain")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200, put
    assert put.get("ETag"), put

    got = s3.get_object(Bucket="photos", Key=key)
    assert read_body(got) == body, "GetObject returned other bytes than were put"
    assert got["ContentLength"] == len(body), got
    assert got.get("ContentType") == "text/plain", got

    ranged = s3.get_object(Bucket="photos", Key=key, Range="bytes=6-9")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206, ranged["ResponseMetadata"]
    assert read_body(ranged) == body[6:10], "ranged GET returned the wrong slice"
    assert ranged.get("ContentRange") == f"bytes 6-9/{len(body)}", ranged.get("ContentRange")

    head = s3.head_object(Bucket="photos", Key=key)
    assert head["ContentLength"] == len(body), head
    assert head["ETag"] == put["ETag"], (head["ETag"], put["ETag"])

    listed = s3.list_objects_v2(Bucket="photos", Prefix=me.prefix)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert keys == [key], f"listing {me.prefix!r}: {keys}"

    # Someone else's prefix, and the whole bucket, are off limits.
    s3_error(
        lambda: s3.put_object(Bucket="photos", Key="someone-else/x.txt", Body=b"x"),
        "AccessDenied", 403, "put under another prefix",
    )
    s3_error(
        lambda: s3.get_object(Bucket="photos", Key="someone-else/x.txt"),
        "AccessDenied", 403, "get under another prefix",
    )
    s3_error(lambda: s3.list_objects_v2(Bucket="photos"), "AccessDenied", 403, "list without a prefix")
    s3_error(
        lambda: s3.list_objects_v2(Bucket="photos", Prefix="someone-else/"),
        "AccessDenied", 403, "list another prefix",
    )

    deleted = s3.delete_object(Bucket="photos", Key=key)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted["ResponseMetadata"]
    s3_error(lambda: s3.get_object(Bucket="photos", Key=key), "NoSuchKey", 404, "get after delete")
    listed = s3.list_objects_v2(Bucket="photos", Prefix=me.prefix)
    assert not listed.get("Contents"), f"deleted key still listed: {listed.get('Contents')}"


def test_presigned_get_works_with_curl_until_it_expires(server, smtp_sink):
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    key = f"{me.prefix}shared.bin"
    body = b"presigned " + os.urandom(32)
    s3.put_object(Bucket="photos", Key=key, Body=body)

    signed_at = time.time()
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "photos", "Key": key}, ExpiresIn=3
    )
    assert "X-Amz-Security-Token=" in url and "X-Amz-Expires=3" in url, url

    status, got = curl(url)
    assert status == 200, f"fresh presigned URL: HTTP {status}: {got[:500]!r}"
    assert got == body, "presigned GET returned other bytes than were put"

    # X-Amz-Date has whole seconds: wait until the URL is past its 3 s for sure.
    time.sleep(max(0.0, signed_at + 3 + 1.5 - time.time()))
    status, got = curl(url)
    assert status == 403, f"expired presigned URL: HTTP {status}: {got[:500]!r}"
    assert b"<Code>AccessDenied</Code>" in got, got[:500]


def test_multipart_upload_of_50_mib_streams(server, smtp_sink, tmp_path):
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    key = f"{me.prefix}big.bin"
    source = str(tmp_path / "big.bin")
    target = str(tmp_path / "big.copy")
    size = 50 * MiB
    digest = write_random_file(source, size)

    # Warm up (connections, buffers) before the baseline.
    s3.put_object(Bucket="photos", Key=f"{me.prefix}warm-up", Body=b"x")
    read_body(s3.get_object(Bucket="photos", Key=f"{me.prefix}warm-up"))
    before = memory_kib(node.proc.pid)

    transfer = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    s3.upload_file(source, "photos", key, Config=transfer)
    head = s3.head_object(Bucket="photos", Key=key)
    assert head["ContentLength"] == size, head
    # A multipart ETag is "<md5 of the part md5s>-<number of parts>".
    assert head["ETag"].strip('"').endswith("-7"), f"not a 7-part multipart object: {head['ETag']}"

    s3.download_file("photos", key, target, Config=transfer)
    after = memory_kib(node.proc.pid)
    assert os.path.getsize(target) == size, os.path.getsize(target)
    assert sha256_of(target) == digest, "the downloaded object differs from the uploaded file"

    rss_growth = (after["VmRSS"] - before["VmRSS"]) / 1024
    peak_growth = (after["VmHWM"] - before["VmHWM"]) / 1024
    report = (
        f"server RSS before {before['VmRSS'] / 1024:.1f} MiB, after {after['VmRSS'] / 1024:.1f} MiB "
        f"(growth {rss_growth:.1f} MiB); peak RSS before {before['VmHWM'] / 1024:.1f} MiB, "
        f"after {after['VmHWM'] / 1024:.1f} MiB (growth {peak_growth:.1f} MiB) "
        f"for a {size // MiB} MiB upload + download"
    )
    print(report)
    assert rss_growth < 100, f"the server's RSS grew by 100 MiB or more: {report}"
    assert peak_growth < 100, f"the server's peak RSS grew by 100 MiB or more: {report}"


def test_forged_unknown_and_revoked_credentials_are_refused(server, smtp_sink):
    node = server()
    me = owner_identity(node, smtp_sink)
    key = f"{me.prefix}secret.txt"
    good = s3_client(node, me.creds)
    good.put_object(Bucket="photos", Key=key, Body=b"mine")

    # One character in the middle of the session token changed (still valid
    # base64url, so it is the seal that fails): the server answers S3's
    # InvalidToken, 400.
    token = me.creds.session_token
    mid = len(token) // 2
    flipped = token[:mid] + ("A" if token[mid] != "A" else "B") + token[mid + 1 :]
    tampered = s3_client(node, me.creds, session_token=flipped)
    s3_error(
        lambda: tampered.get_object(Bucket="photos", Key=key),
        "InvalidToken", 400, "tampered session token",
    )

    # The right access key id with a wrong secret.
    wrong_secret = s3_client(node, me.creds, secret_access_key="x" * 40)
    s3_error(
        lambda: wrong_secret.get_object(Bucket="photos", Key=key),
        "SignatureDoesNotMatch", 403, "wrong secret access key",
    )

    # An access key id this server never minted.
    unknown = s3_client(
        node,
        me.creds,
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    s3_error(
        lambda: unknown.get_object(Bucket="photos", Key=key),
        "InvalidAccessKeyId", 403, "unknown access key id",
    )

    # The good credentials still work; once the identity is disabled they stop.
    assert read_body(good.get_object(Bucket="photos", Key=key)) == b"mine"
    expect(
        node.post(
            f"/v1/admin/identity-pools/{me.identity_pool_id}/identities/{me.identity_id}/disable",
            admin=True,
        ),
        204,
        body=False,
    )
    s3_error(lambda: good.get_object(Bucket="photos", Key=key), "AccessDenied", 403, "disabled identity: get")
    s3_error(
        lambda: good.put_object(Bucket="photos", Key=key, Body=b"again"),
        "AccessDenied", 403, "disabled identity: put",
    )
    # ...and it gets no new credentials either.
    expect_problem(
        node.post(
            f"/v1/identity-pools/{me.identity_pool_id}/credentials",
            {"identity_id": me.identity_id, "logins": me.logins},
        ),
        "NotAuthorized",
    )
    # Expired credentials: see the module docstring (tests/api/storage.rs).


def test_aws_cli_copies_and_lists_with_session_credentials(server, smtp_sink, tmp_path):
    node = server()
    me = owner_identity(node, smtp_sink)
    local = tmp_path / "cli-in.txt"
    local2 = tmp_path / "cli-out.txt"
    content = f"written by the aws cli {uuid.uuid4()}\n".encode()
    local.write_bytes(content)

    config_file = tmp_path / "aws-config"
    config_file.write_text(f"[default]\nregion = {REGION}\ns3 =\n  addressing_style = path\n")
    credentials_file = tmp_path / "aws-credentials"
    credentials_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AWS_ACCESS_KEY_ID": me.creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": me.creds.secret_access_key,
            "AWS_SESSION_TOKEN": me.creds.session_token,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials_file),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
    )
    aws = shutil.which("aws", path=env["PATH"])
    assert aws, f"`aws` not found on {env['PATH']}"
    endpoint = ["--endpoint-url", node.s3_url]
    remote = f"s3://photos/{me.prefix}cli.txt"

    run([aws, "s3", "cp", str(local), remote, *endpoint], env=env, what="aws s3 cp (upload)")
    listing = run([aws, "s3", "ls", f"s3://photos/{me.prefix}", *endpoint], env=env, what="aws s3 ls")
    lines = listing.stdout.decode().splitlines()
    assert any(line.split()[-1:] == ["cli.txt"] for line in lines), f"`aws s3 ls` output: {lines}"
    assert any(str(len(content)) in line.split() for line in lines), f"size not listed: {lines}"
    run([aws, "s3", "cp", remote, str(local2), *endpoint], env=env, what="aws s3 cp (download)")
    assert local2.read_bytes() == content, "the CLI round trip changed the content"

    # The CLI is refused outside the prefix like any client.
    proc = subprocess.run(
        [aws, "s3", "ls", "s3://photos/", *endpoint],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CLI_TIMEOUT,
    )
    assert proc.returncode != 0 and b"AccessDenied" in proc.stderr, (
        f"`aws s3 ls s3://photos/` should be AccessDenied: rc {proc.returncode}, "
        f"stdout {proc.stdout[-1000:]!r}, stderr {proc.stderr[-1000:]!r}"
    )


def test_refused_upload_announces_that_the_connection_closes(server, smtp_sink):
    """boto3 sends PutObject and UploadPart with `Expect: 100-continue`. When
    the gateway refuses such a request it answers at once, without reading the
    body, and then closes the connection. RFC 9110 section 10.1.1 says a server
    answering before it has read the content SHOULD say whether it will close
    the connection: without `Connection: close` a client puts the connection
    back in its pool, and its next request there fails (botocore without
    retries: ConnectionClosedError "Remote end closed connection without
    response", about one request in five after a refused PutObject)."""
    node = server()
    create_role(node, "reader", READER_POLICY)
    identity_pool_id = create_identity_pool(
        node, "guests", allow_unauthenticated=True, unauthenticated_role="reader"
    )
    identity_id = get_id(node, identity_pool_id, {})
    creds = get_credentials(node, identity_pool_id, identity_id, {})

    body = b"not allowed here"
    head = signed_request_head(
        node, creds, "PUT", "/public/welcome/graffiti.txt", body, {"Expect": "100-continue"}
    )
    with socket.create_connection(("127.0.0.1", node.s3_port), timeout=10) as sock:
        sock.sendall(head)
        status, headers, answer = read_response(sock)
        if status == 100:  # the server wants the body after all: send it, read the final answer
            sock.sendall(body)
            status, headers, answer = read_response(sock)
        assert status == 403 and b"<Code>AccessDenied</Code>" in answer, (status, headers, answer)
        closed = closed_by_peer(sock, wait=2.0)
    announced = "close" in headers.get("connection", "").lower()
    assert announced or not closed, (
        "the gateway refused a PUT (Expect: 100-continue, body not sent) and closed the "
        f"connection without `Connection: close` in its answer: HTTP {status}, headers {headers}"
    )


def test_guest_reads_public_but_cannot_write(server, smtp_sink):
    node = server()
    create_role(node, "reader", READER_POLICY)
    identity_pool_id = create_identity_pool(
        node, "guests", allow_unauthenticated=True, unauthenticated_role="reader"
    )
    identity_id = get_id(node, identity_pool_id, {})
    creds = get_credentials(node, identity_pool_id, identity_id, {})

    # Files under a bucket's directory (the layout of earlier versions, with s3s-fs's
    # metadata files in the storage root, or files an operator drops in) are imported
    # as objects when the gateway opens the bucket, i.e. at the next start.
    key = "welcome/hello.txt"
    body = b"hello, guest\n"
    root = os.path.join(node.workdir, "data", "s3")
    path = os.path.join(root, "public", *key.split("/"))
    node.stop()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(body)
    b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")  # noqa: E731
    legacy_key = "welcome/legacy.html"
    with open(os.path.join(root, "public", "welcome", "legacy.html"), "wb") as f:
        f.write(b"<p>old</p>")
    stem = os.path.join(root, f".bucket-{b64('public')}.object-{b64(legacy_key)}")
    with open(stem + ".metadata.json", "w") as f:
        json.dump({"content_type": "text/html", "user_metadata": {"era": "s3s-fs"}}, f)
    with open(stem + ".internal.json", "w") as f:
        json.dump({"e_tag": "0123456789abcdef0123456789abcdef"}, f)
    node.start()
    node.wait_ready()

    s3 = s3_client(node, creds)
    got = s3.get_object(Bucket="public", Key=key)
    assert read_body(got) == body, "the guest read other bytes than were dropped in"
    expected_etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert got.get("ETag") == expected_etag, (got.get("ETag"), expected_etag)
    legacy = s3.get_object(Bucket="public", Key=legacy_key)
    assert read_body(legacy) == b"<p>old</p>"
    assert legacy.get("ContentType") == "text/html", legacy
    assert legacy.get("Metadata") == {"era": "s3s-fs"}, legacy
    assert legacy.get("ETag") == '"0123456789abcdef0123456789abcdef"', legacy
    # Imported files moved into the bucket's data directory; the metadata files are gone.
    assert not os.path.exists(path) and not os.path.exists(stem + ".metadata.json")

    s3_error(
        lambda: s3.put_object(Bucket="public", Key="welcome/graffiti.txt", Body=b"x"),
        "AccessDenied", 403, "guest put into public",
    )
    s3_error(
        lambda: s3.put_object(Bucket="photos", Key=f"{identity_id}/x.txt", Body=b"x"),
        "AccessDenied", 403, "guest put into photos",
    )
    s3_error(lambda: s3.list_objects_v2(Bucket="public"), "AccessDenied", 403, "guest list")
    s3_error(
        lambda: s3.get_object(Bucket="public", Key="welcome/graffiti.txt"),
        "NoSuchKey", 404, "refused put left nothing",
    )


# --------------------------------------------------------------------------- I4: S3 keys


def test_i4_any_s3_key_round_trips_with_its_headers_and_lists_in_utf8_order(server, smtp_sink):
    """Keys of up to 1,024 bytes of UTF-8 (the `<identity id>/` prefix included), multi-byte
    characters and characters that mean something in URLs or paths store and read back
    with their content type and user metadata, and list in UTF-8 byte order (as S3)."""
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    p = me.prefix
    fill = 1024 - len(p.encode())
    longest = p + "\u00e9" * (fill // 2) + "x" * (fill % 2)
    assert len(longest.encode()) == 1024
    keys = [
        longest,
        p + "\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb.txt",
        p + "emoji \U0001f600 + plus %41 &amp; <tag>",
        p + "dots/../and/./slashes//x",
        p + "Z-upper",
        p + "a-lower",
        p + "\u00fc" * 200,  # 400 bytes in one "segment": longer than a file name may be
    ]
    for i, key in enumerate(keys):
        put = s3.put_object(
            Bucket="photos", Key=key, Body=f"body {i}".encode(),
            ContentType=f"application/x-test-{i}", Metadata={"index": str(i), "who": "i4"},
        )
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 200, put
    for i, key in enumerate(keys):
        got = s3.get_object(Bucket="photos", Key=key)
        assert read_body(got) == f"body {i}".encode(), key
        assert got["ContentType"] == f"application/x-test-{i}", (key, got["ContentType"])
        assert got["Metadata"] == {"index": str(i), "who": "i4"}, (key, got["Metadata"])
        head = s3.head_object(Bucket="photos", Key=key)
        assert head["ContentType"] == f"application/x-test-{i}" and head["ContentLength"] == len(f"body {i}")

    expected = sorted(keys, key=lambda k: k.encode())
    listed = s3.list_objects_v2(Bucket="photos", Prefix=p)
    assert [o["Key"] for o in listed["Contents"]] == expected, listed["Contents"]
    # Paginated (boto3 asks for encoding-type=url and decodes): same keys, same order.
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="photos", Prefix=p, PaginationConfig={"PageSize": 2})
    paged = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert paged == expected, paged
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket="photos", Prefix=p, PaginationConfig={"PageSize": 3}) for o in page.get("Contents", [])]
    assert v1 == expected, v1

    # One byte more is S3's KeyTooLongError, a 400, never a 500.
    s3_error(
        lambda: s3.put_object(Bucket="photos", Key=longest + "y", Body=b"x"),
        "KeyTooLongError", 400, "1,025-byte key",
    )
    # A copy to a long multi-byte key keeps the headers.
    s3.copy_object(Bucket="photos", Key=longest[:-1] + "z", CopySource={"Bucket": "photos", "Key": keys[1]})
    copied = s3.head_object(Bucket="photos", Key=longest[:-1] + "z")
    assert copied["ContentType"] == "application/x-test-1" and copied["Metadata"]["index"] == "1", copied


def test_i4_a_and_a_slash_b_coexist_in_both_orders(server, smtp_sink):
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    p = me.prefix
    # `a` first, then `a/b`; and `c/d` first, then `c`.
    for key in [p + "a", p + "a/b", p + "c/d", p + "c", p + "c/"]:
        s3.put_object(Bucket="photos", Key=key, Body=key.encode(), ContentType="text/plain")
    for key in [p + "a", p + "a/b", p + "c/d", p + "c", p + "c/"]:
        assert read_body(s3.get_object(Bucket="photos", Key=key)) == key.encode(), key

    flat = s3.list_objects_v2(Bucket="photos", Prefix=p)
    assert [o["Key"] for o in flat["Contents"]] == [p + "a", p + "a/b", p + "c", p + "c/", p + "c/d"]
    rolled = s3.list_objects_v2(Bucket="photos", Prefix=p, Delimiter="/")
    assert [o["Key"] for o in rolled["Contents"]] == [p + "a", p + "c"], rolled
    assert [c["Prefix"] for c in rolled["CommonPrefixes"]] == [p + "a/", p + "c/"], rolled
    # A page boundary on a common prefix does not list it twice.
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket="photos", Prefix=p, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    seen = []
    for page in pages:
        seen += [o["Key"] for o in page.get("Contents", [])] + [c["Prefix"] for c in page.get("CommonPrefixes", [])]
    assert seen == [p + "a", p + "a/", p + "c", p + "c/"], seen

    # Deleting one leaves the other.
    s3.delete_object(Bucket="photos", Key=p + "a")
    assert read_body(s3.get_object(Bucket="photos", Key=p + "a/b")) == (p + "a/b").encode()
    s3_error(lambda: s3.get_object(Bucket="photos", Key=p + "a"), "NoSuchKey", 404, "deleted a")
    s3.delete_object(Bucket="photos", Key=p + "c/d")
    assert read_body(s3.get_object(Bucket="photos", Key=p + "c")) == (p + "c").encode()


def test_i4_killed_mid_upload_leaves_no_partial_object_and_keeps_acknowledged_ones(server, smtp_sink):
    """SIGKILL while a PUT's body streams: after a restart the key does not exist (nor any
    leftover data file), and every PUT acknowledged before the kill reads back whole."""
    node = server()
    me = owner_identity(node, smtp_sink)
    s3 = s3_client(node, me.creds)
    done = me.prefix + "acknowledged.bin"
    done_body = os.urandom(3 * MiB)
    s3.put_object(Bucket="photos", Key=done, Body=done_body)

    partial = me.prefix + "partial.bin"
    body = os.urandom(8 * MiB)
    head = signed_request_head(node, me.creds, "PUT", f"/photos/{partial}", body, {})
    with socket.create_connection(("127.0.0.1", node.s3_port), timeout=10) as sock:
        sock.sendall(head)
        sock.sendall(body[: 4 * MiB])
        time.sleep(0.5)  # let the server write what it got (not a bound: the outcome is the same)
        node.proc.kill()
        node.proc.wait(timeout=30)
    node.stop()
    node.start()
    node.wait_ready()

    s3 = s3_client(node, me.creds)
    assert read_body(s3.get_object(Bucket="photos", Key=done)) == done_body
    s3_error(lambda: s3.head_object(Bucket="photos", Key=partial), "404", 404, "partial object")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="photos", Prefix=me.prefix)["Contents"]]
    assert listed == [done], listed
    store = os.path.join(node.workdir, "data", "s3", ".poolgate", "photos")
    deadline = time.monotonic() + 30
    while True:  # the bucket is swept when it opens (at start, in the background)
        leftovers = os.listdir(os.path.join(store, "tmp")) + os.listdir(os.path.join(store, "data"))
        if len(leftovers) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(leftovers) == 1, f"data files besides the acknowledged object's: {leftovers}"


def test_i4_a_multipart_upload_is_bound_to_its_identity_and_key(server, smtp_sink):
    """Another identity's upload id, or one's own on another key, is NoSuchUpload (and writes
    no part); a completed upload keeps its content type and metadata."""
    node = server()
    create_role(node, "owner", OWNER_POLICY)
    pool_id = create_pool(node, "s3-users")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    ipid = create_identity_pool(
        node, "photos-app",
        providers=[{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        authenticated_role="owner",
    )
    clients = []
    for _ in range(2):
        logins = {user_pool_provider(pool_id): confirmed_user_id_token(node, smtp_sink, pool_id, client_id)}
        identity = get_id(node, ipid, logins)
        clients.append((identity + "/", s3_client(node, get_credentials(node, ipid, identity, logins))))
    (pa, a), (pb, b) = clients

    key = pa + "\u00e9t\u00e9/video.bin"
    up = a.create_multipart_upload(Bucket="photos", Key=key, ContentType="video/mp4", Metadata={"by": "a"})
    uid = up["UploadId"]
    first = a.upload_part(Bucket="photos", Key=key, UploadId=uid, PartNumber=1, Body=b"x" * (5 * MiB))

    s3_error(lambda: b.upload_part(Bucket="photos", Key=pb + "mine.bin", UploadId=uid, PartNumber=2, Body=b"y"),
             "NoSuchUpload", 404, "another identity's upload id on its own key")
    s3_error(lambda: b.upload_part(Bucket="photos", Key=key, UploadId=uid, PartNumber=2, Body=b"y"),
             "AccessDenied", 403, "another identity's upload on the owner's key")
    s3_error(lambda: b.abort_multipart_upload(Bucket="photos", Key=pb + "mine.bin", UploadId=uid),
             "NoSuchUpload", 404, "another identity aborting")
    s3_error(lambda: a.complete_multipart_upload(Bucket="photos", Key=pa + "other.bin", UploadId=uid,
                                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]}]}),
             "NoSuchUpload", 404, "own upload id on another key")
    for bad in ("00000000-0000-4000-8000-000000000000", "../../etc/passwd"):
        s3_error(lambda: a.list_parts(Bucket="photos", Key=key, UploadId=bad), "NoSuchUpload", 404, f"upload id {bad!r}")
    # A wrong part ETag or a missing part is refused without consuming the upload.
    s3_error(lambda: a.complete_multipart_upload(Bucket="photos", Key=key, UploadId=uid,
                                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}),
             "InvalidPart", 400, "wrong part ETag")
    s3_error(lambda: a.complete_multipart_upload(Bucket="photos", Key=key, UploadId=uid,
                                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]},
                                                                            {"PartNumber": 2, "ETag": first["ETag"]}]}),
             "InvalidPart", 400, "missing part")
    parts = a.list_parts(Bucket="photos", Key=key, UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 5 * MiB, first["ETag"])], parts

    done = a.complete_multipart_upload(Bucket="photos", Key=key, UploadId=uid,
                                       MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]}]})
    head = a.head_object(Bucket="photos", Key=key)
    assert head["ETag"] == done["ETag"] and head["ETag"].endswith('-1"'), (head["ETag"], done["ETag"])
    assert head["ContentType"] == "video/mp4" and head["Metadata"] == {"by": "a"}, head
    assert head["ContentLength"] == 5 * MiB
    s3_error(lambda: a.list_parts(Bucket="photos", Key=key, UploadId=uid), "NoSuchUpload", 404, "completed upload")


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (needs root, as CI runs); skipped where mounting is refused."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {proc.stderr.decode().strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_i4_a_full_disk_is_a_clean_507_and_no_partial_object(server, smtp_sink, small_disk):
    node = server(extra_env={"POOLGATE_STORAGE__ROOT": small_disk})
    try:
        me = owner_identity(node, smtp_sink)
        s3 = s3_client(node, me.creds)
        kept = me.prefix + "kept.txt"
        s3.put_object(Bucket="photos", Key=kept, Body=b"kept", ContentType="text/plain")

        big = me.prefix + "too-big.bin"
        for attempt in range(2):
            exc = s3_error(
                lambda: s3.put_object(Bucket="photos", Key=big, Body=os.urandom(24 * MiB)),
                "InsufficientStorage", 507, f"PUT larger than the disk (attempt {attempt})",
            )
            assert "space" in exc.response["Error"]["Message"], exc.response
        s3_error(lambda: s3.head_object(Bucket="photos", Key=big), "404", 404, "partial object")
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="photos", Prefix=me.prefix)["Contents"]]
        assert listed == [kept], listed
        got = s3.get_object(Bucket="photos", Key=kept)
        assert read_body(got) == b"kept" and got["ContentType"] == "text/plain"

        # A multipart upload that cannot be joined fails the same way and keeps its parts.
        up = s3.create_multipart_upload(Bucket="photos", Key=big)
        parts = []
        for n in (1, 2):
            r = s3.upload_part(Bucket="photos", Key=big, UploadId=up["UploadId"], PartNumber=n, Body=os.urandom(5 * MiB))
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        s3_error(
            lambda: s3.complete_multipart_upload(
                Bucket="photos", Key=big, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
            ),
            "InsufficientStorage", 507, "joining parts on a full disk",
        )
        listed_parts = s3.list_parts(Bucket="photos", Key=big, UploadId=up["UploadId"])["Parts"]
        assert [q["PartNumber"] for q in listed_parts] == [1, 2], listed_parts
        s3.abort_multipart_upload(Bucket="photos", Key=big, UploadId=up["UploadId"])

        # Space freed: writes work again.
        s3.put_object(Bucket="photos", Key=me.prefix + "after.bin", Body=os.urandom(MiB))
        assert s3.head_object(Bucket="photos", Key=me.prefix + "after.bin")["ContentLength"] == MiB
    finally:
        node.stop()


def test_external_oidc_provider_tokens_get_credentials(server, smtp_sink):
    node = server()
    create_role(node, "owner", OWNER_POLICY)
    with OidcIssuer() as issuer:
        identity_pool_id = create_identity_pool(
            node,
            "oidc-app",
            providers=[{"type": "oidc", "name": "issuer.test", "issuer": issuer.url, "audiences": ["app-1"]}],
            authenticated_role="owner",
        )
        logins = {"issuer.test": issuer.token("ext-user-1", "app-1")}
        identity_id = get_id(node, identity_pool_id, logins)
        assert "/.well-known/openid-configuration" in issuer.requests, issuer.requests
        assert "/jwks" in issuer.requests, issuer.requests
        # A fresh token of the same subject maps to the same identity.
        again = {"issuer.test": issuer.token("ext-user-1", "app-1")}
        assert get_id(node, identity_pool_id, again) == identity_id

        creds = get_credentials(node, identity_pool_id, identity_id, logins)
        s3 = s3_client(node, creds)
        key = f"{identity_id}/from-oidc.txt"
        s3.put_object(Bucket="photos", Key=key, Body=b"federated")
        assert read_body(s3.get_object(Bucket="photos", Key=key)) == b"federated"
        s3_error(
            lambda: s3.put_object(Bucket="photos", Key="someone-else/x.txt", Body=b"x"),
            "AccessDenied", 403, "OIDC identity outside its prefix",
        )

        # A token for another audience is refused.
        wrong_aud = {"issuer.test": issuer.token("ext-user-1", "app-2")}
        resp = get_id_request(node, identity_pool_id, wrong_aud)
        expect_problem(resp, "NotAuthorized", status=401)
        # ...and so is a token signed by another key under the same kid.
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = {"issuer.test": issuer.token("ext-user-1", "app-1", key=other_key)}
        resp = get_id_request(node, identity_pool_id, forged)
        assert resp.status_code == 401, f"forged token: {describe(resp)}"
