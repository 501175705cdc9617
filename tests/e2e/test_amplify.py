"""aws-amplify v6 (Node) against poolgate, configured the documented way
for a custom endpoint: `Auth.Cognito.userPoolEndpoint` and
`identityPoolEndpoint`. Amplify signs up, confirms with the code from the
SMTP sink, signs in with SRP (its default flow), reads the current user,
fetches the session (tokens, then identity-pool credentials through GetId
and GetCredentialsForIdentity), forces a refresh and signs out. The
credentials it got then write to the S3 gateway with boto3."""

from __future__ import annotations

import json
import os
import subprocess
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_support import (
    PASSWORD,
    Node,
    email_for,
    expect,
    extract_code,
    jwks_uri_of,
    unique_username,
    verify_id_token,
)

JS_DIR = os.path.join(os.path.dirname(__file__), "js")
SUB = "${cognito-identity.amazonaws.com:sub}"
OWNER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                   "Resource": f"arn:aws:s3:::photos/{SUB}/*"}],
}


def setup(node: Node) -> tuple[str, str, str]:
    pool_id = expect(node.post("/v1/admin/pools", {"name": "amplify", "username_attributes": ["email"]},
                               admin=True), 201)["id"]
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {"name": "web"}, admin=True),
                       201)["client_id"]
    expect(node.post("/v1/admin/roles", {"name": "owner", "policy": OWNER_POLICY}, admin=True), 201)
    identity_pool = expect(node.post("/v1/admin/identity-pools", {
        "name": "amplify",
        "providers": [{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        "authenticated_role": "owner",
    }, admin=True), 201)["id"]
    return pool_id, client_id, identity_pool


def test_amplify_v6_signs_up_signs_in_and_fetches_credentials(server, smtp_sink):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "aws-amplify")), (
        "run `npm ci --prefix tests/e2e/js` (.ci/run does)"
    )
    node = server()
    pool_id, client_id, identity_pool = setup(node)
    email = email_for(unique_username("amp"))
    proc = subprocess.Popen(
        ["node", os.path.join(JS_DIR, "amplify_flow.mjs"), node.url + "/", pool_id, client_id, identity_pool,
         email, PASSWORD],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first, f"amplify exited early: {proc.stderr.read()}"
        step = json.loads(first)
        assert step["nextStep"] == "CONFIRM_SIGN_UP" and step["userId"], step
        code = extract_code(smtp_sink.wait_for(email))
        proc.stdin.write(code + "\n")
        proc.stdin.flush()
        signed_in = proc.stdout.readline()
        assert signed_in, f"amplify exited early: {proc.stderr.read()}"
        signed_in = json.loads(signed_in)
        assert signed_in["step"] == "signed_in", signed_in
        # The credentials Amplify fetched work on the gateway, in the identity's prefix.
        creds = signed_in["credentials"]
        assert creds and creds["accessKeyId"].startswith("ASIA") and creds["sessionToken"], signed_in
        s3 = boto3.client(
            "s3", endpoint_url=node.s3_url, region_name="local-east-1",
            aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=creds["secretAccessKey"],
            aws_session_token=creds["sessionToken"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        key = f"{signed_in['identityId']}/hello.txt"
        s3.put_object(Bucket="photos", Key=key, Body=b"from amplify")
        assert s3.get_object(Bucket="photos", Key=key)["Body"].read() == b"from amplify"
        out_text, err = proc.communicate("\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"amplify failed:\n{out_text}\n{err}"
    out = json.loads(out_text.strip().splitlines()[-1])
    assert out["confirmed"] is True and out["signedIn"] is True and out["signInStep"] == "DONE", out
    claims = verify_id_token(out["idToken"], jwks_uri=jwks_uri_of(node, pool_id),
                             issuer=node.issuer(pool_id), client_id=client_id)
    assert claims["email"] == email and claims["sub"] == out["userId"] == out["accessTokenSub"], claims
    assert out["identityId"] and out["identityId"].startswith("local-east-1:"), out
    creds = out["credentials"]
    assert creds and creds["accessKeyId"].startswith("ASIA") and creds["sessionToken"], out
    assert out["refreshedAccessTokenDiffers"] is True, out
    assert out["tokensAfterSignOut"] == "absent", out

    # Amplify's signOut revokes the sign-in's refresh token: the credentials
    # minted from that sign-in stop at the gateway too (checklist I3), within
    # the revocation caches' second (polled for at most 5 s; no timing asserted).
    deadline = time.monotonic() + 5
    while True:
        try:
            s3.get_object(Bucket="photos", Key=key)["Body"].read()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
            break
        assert time.monotonic() < deadline, "the credentials still work 5 s after signOut"
        time.sleep(0.1)
