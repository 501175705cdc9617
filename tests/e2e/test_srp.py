"""SRP sign-in (USER_SRP_AUTH → PASSWORD_VERIFIER) through the Cognito
facade, with clients that compute Cognito's SRP themselves: pycognito's
AWSSRP (on boto3) and amazon-cognito-identity-js (Node)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import boto3
import pytest
from botocore.config import Config
from pycognito.aws_srp import AWSSRP

from e2e_support import (
    PASSWORD,
    create_client,
    email_for,
    expect,
    extract_code,
    unique_username,
)

JS_DIR = os.path.join(os.path.dirname(__file__), "js")


def idp(node):
    return boto3.client(
        "cognito-idp",
        endpoint_url=node.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def pool_and_user(node, smtp_sink, *, email_as_username: bool):
    """A pool, a client and a confirmed user signed up through cognito-idp:
    (pool id, client id, sign-in name)."""
    body = {"name": "srp", **({"username_attributes": ["email"]} if email_as_username else {})}
    pool_id = expect(node.post("/v1/admin/pools", body, admin=True), 201)["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    c = idp(node)
    username = unique_username("srp")
    email = email_for(username)
    name = email if email_as_username else username
    c.sign_up(ClientId=client_id, Username=name, Password=PASSWORD,
              UserAttributes=[{"Name": "email", "Value": email}])
    code = extract_code(smtp_sink.wait_for(email))
    c.confirm_sign_up(ClientId=client_id, Username=name, ConfirmationCode=code)
    return pool_id, client_id, name


@pytest.mark.parametrize("email_as_username", [False, True])
def test_pycognito_signs_in_with_srp(server, smtp_sink, email_as_username):
    node = server()
    pool_id, client_id, name = pool_and_user(node, smtp_sink, email_as_username=email_as_username)
    c = idp(node)
    tokens = AWSSRP(username=name, password=PASSWORD, pool_id=pool_id, client_id=client_id,
                    client=c).authenticate_user()
    result = tokens["AuthenticationResult"]
    me = c.get_user(AccessToken=result["AccessToken"])
    assert me["Username"] in (name, next(a["Value"] for a in me["UserAttributes"] if a["Name"] == "sub")), me
    # A wrong password fails like one: NotAuthorizedException.
    with pytest.raises(c.exceptions.NotAuthorizedException):
        AWSSRP(username=name, password=PASSWORD + "x", pool_id=pool_id, client_id=client_id,
               client=c).authenticate_user()
    # An unknown user gets a challenge too (no enumeration), then the same refusal.
    with pytest.raises(c.exceptions.NotAuthorizedException):
        AWSSRP(username="nobody-" + name, password=PASSWORD, pool_id=pool_id, client_id=client_id,
               client=c).authenticate_user()


def test_a_secret_block_answers_once(server, smtp_sink):
    node = server()
    pool_id, client_id, name = pool_and_user(node, smtp_sink, email_as_username=False)
    c = idp(node)
    srp = AWSSRP(username=name, password=PASSWORD, pool_id=pool_id, client_id=client_id, client=c)
    challenge = c.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH",
                                AuthParameters=srp.get_auth_params())
    assert challenge["ChallengeName"] == "PASSWORD_VERIFIER", challenge
    responses = srp.process_challenge(challenge["ChallengeParameters"], srp.get_auth_params())
    first = c.respond_to_auth_challenge(ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
                                        ChallengeResponses=responses)
    assert "AuthenticationResult" in first, first
    with pytest.raises(c.exceptions.NotAuthorizedException):
        c.respond_to_auth_challenge(ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
                                    ChallengeResponses=responses)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_amazon_cognito_identity_js_srp_session_refresh_and_password_change(server, smtp_sink):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "amazon-cognito-identity-js")), (
        "run `npm install --prefix tests/e2e/js` (.ci/run does)"
    )
    node = server()
    pool_id, client_id, name = pool_and_user(node, smtp_sink, email_as_username=True)
    new_password = "a different long passphrase 7"
    proc = subprocess.run(
        ["node", os.path.join(JS_DIR, "srp_session.js"), node.url + "/", pool_id, client_id, name,
         PASSWORD, new_password],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"node failed: {proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["authFlow"] == "USER_SRP_AUTH", out
    assert out["valid"] and out["getSession"] and out["refreshed"], out
    assert out["changed"] and out["newPasswordWorks"], out
    assert out["oldPasswordRefused"] == "NotAuthorizedException", out
