"""The Cognito wire protocol end to end, driven by the real AWS SDK (boto3).

Every test starts its own node (SQLite, mail through the SMTP sink) and sets
up its user pool, app client, role and identity pool with the native admin
API; everything an app does afterwards goes through ``cognito-idp`` and
``cognito-identity`` clients pointed at the node (AWS JSON 1.1, ``POST /``
with ``X-Amz-Target``):

- sign-up, confirmation (code by SMTP), password and refresh-token sign-in,
  GetUser, ChangePassword and GlobalSignOut, with ``x-amzn-RequestId``;
- failures raise the SDK's modelled exceptions (``client.exceptions.*``) that
  apps catch, and unimplemented operations are a clear 400, not a 500;
- app clients with a secret need ``SECRET_HASH``;
- forgotten passwords;
- GetId / GetCredentialsForIdentity / GetOpenIdToken, then S3 with the
  credentials;
- the raw protocol's answers to a body that is not JSON and to unknown targets.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import uuid
from typing import Any, Callable, Optional

import boto3
import jwt
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_support import (
    COMMON_LONG_PASSWORD,
    HTTP_TIMEOUT,
    PASSWORD,
    Node,
    create_client,
    create_pool,
    describe,
    email_for,
    expect,
    extract_code,
    jwks_uri_of,
    other_code,
    unique_username,
    verify_access_token,
    verify_id_token,
)

# The server's `server.region`: admin signatures must be scoped to it (A9).
REGION = "local-east-1"
NEW_PASSWORD = "another horse battery staple 43"
AMZ_JSON = "application/x-amz-json-1.1"
SUB = "${cognito-identity.amazonaws.com:sub}"

# The role of signed-in users: their own prefix of `photos`.
OWNER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::photos/{SUB}/*",
        }
    ],
}


# --------------------------------------------------------------------------- SDK clients

# No retries: every asserted answer (and any 500) is the server's first one.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=60)


def aws_client(node: Node, service: str, **extra: Any):
    return boto3.session.Session().client(
        service,
        endpoint_url=node.url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=NO_RETRIES,
        **extra,
    )


def idp_client(node: Node):
    return aws_client(node, "cognito-idp")


def identity_client(node: Node):
    return aws_client(node, "cognito-identity")


def s3_client(node: Node, creds: dict):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=node.s3_url,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def request_id(resp: dict) -> str:
    """The x-amzn-RequestId of an answer (boto3 puts it in ResponseMetadata)."""
    meta = resp.get("ResponseMetadata", {})
    rid = meta.get("RequestId")
    assert rid, f"no x-amzn-RequestId in the answer: {meta!r}"
    assert rid == meta.get("HTTPHeaders", {}).get("x-amzn-requestid"), meta
    return rid


def raises(client, name: str, call: Callable[[], Any], what: str) -> ClientError:
    """Assert the call raises the SDK's modelled exception `name` (HTTP 400)."""
    exc_type = getattr(client.exceptions, name)
    try:
        result = call()
    except exc_type as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert status == 400, f"{what}: {name} with HTTP {status}: {exc.response}"
        assert exc.response.get("Error", {}).get("Message"), f"{what}: {name} without a message: {exc.response}"
        assert exc.response.get("ResponseMetadata", {}).get("RequestId"), f"{what}: no request id: {exc.response}"
        return exc
    except ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise AssertionError(
            f"{what}: expected {name}, got {err.get('Code')} (HTTP {status}): {err.get('Message')!r}"
        ) from exc
    raise AssertionError(f"{what}: expected {name}, but the call succeeded: {result!r}")


def client_error(call: Callable[[], Any], code: str, what: str) -> ClientError:
    """Assert the call fails with this error code and HTTP 400."""
    try:
        result = call()
    except ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert (err.get("Code"), status) == (code, 400), (
            f"{what}: expected {code} (400), got {err.get('Code')} ({status}): {err.get('Message')!r}"
        )
        assert err.get("Message"), f"{what}: {code} without a message: {exc.response}"
        return exc
    raise AssertionError(f"{what}: expected {code}, but the call succeeded: {result!r}")


# --------------------------------------------------------------------------- flows


def secret_hash(secret: str, username: str, client_id: str) -> str:
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[0]}***@{domain[0]}***"


def sdk_sign_up(
    idp, client_id: str, username: str, email: str, password: str = PASSWORD, **extra: Any
) -> dict:
    out = idp.sign_up(
        ClientId=client_id,
        Username=username,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": email}],
        **extra,
    )
    request_id(out)
    assert out.get("UserConfirmed") is False, out
    assert uuid.UUID(out.get("UserSub", "")).version == 4, f"UserSub must be a UUID v4: {out!r}"
    assert out.get("CodeDeliveryDetails") == {
        "Destination": masked(email),
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }, out
    return out


def password_auth(idp, client_id: str, username: str, password: str, **params: str) -> dict:
    out = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password, **params},
    )
    request_id(out)
    return check_result(out, refresh_required=True)


def check_result(out: dict, *, refresh_required: bool) -> dict:
    assert "ChallengeName" not in out, f"unexpected challenge: {out!r}"
    result = out.get("AuthenticationResult")
    assert isinstance(result, dict), out
    for name in ("AccessToken", "IdToken"):
        assert isinstance(result.get(name), str) and result[name].count(".") == 2, result
    if refresh_required:
        assert isinstance(result.get("RefreshToken"), str) and result["RefreshToken"], result
    assert result.get("ExpiresIn") == 3600, result
    assert result.get("TokenType") == "Bearer", result
    return result


def user_attributes(out: dict) -> dict:
    attrs = out.get("UserAttributes")
    assert isinstance(attrs, list), out
    return {a["Name"]: a["Value"] for a in attrs}


def confirmed_user(node: Node, smtp_sink, idp, client_id: str, prefix: str = "cog") -> tuple[str, str]:
    """A user signed up and confirmed through cognito-idp: (username, email)."""
    username = unique_username(prefix)
    email = email_for(username)
    sdk_sign_up(idp, client_id, username, email)
    code = extract_code(smtp_sink.wait_for(email))
    idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)
    return username, email


def create_role(node: Node, name: str, policy: dict) -> dict:
    role = expect(node.post("/v1/admin/roles", {"name": name, "policy": policy}, admin=True), 201)
    assert role.get("name") == name, role
    return role


def create_identity_pool(node: Node, name: str, **settings: Any) -> str:
    pool = expect(node.post("/v1/admin/identity-pools", {"name": name, **settings}, admin=True), 201)
    assert pool.get("id") and pool.get("name") == name, pool
    return pool["id"]


def user_pool_provider(pool_id: str) -> str:
    return f"cognito-idp.local-east-1.amazonaws.com/{pool_id}"


def tampered(token: str) -> str:
    """The token with one character in the middle of its signature changed."""
    head, payload, sig = token.split(".")
    mid = len(sig) // 2
    sig = sig[:mid] + ("A" if sig[mid] != "A" else "B") + sig[mid + 1 :]
    return f"{head}.{payload}.{sig}"


def read_body(resp: dict) -> bytes:
    body = resp["Body"]
    try:
        return body.read()
    finally:
        body.close()


# --------------------------------------------------------------------------- tests


def test_sign_up_to_sign_out_through_cognito_idp(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "cognito-users")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    idp = idp_client(node)
    username = unique_username("cog")
    email = email_for(username)

    signed_up = sdk_sign_up(idp, client_id, username, email)
    code = extract_code(smtp_sink.wait_for(email))
    confirmed = idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)
    assert confirmed["ResponseMetadata"]["HTTPStatusCode"] == 200, confirmed
    request_id(confirmed)

    first = password_auth(idp, client_id, username, PASSWORD)
    issuer = node.issuer(pool_id)
    jwks_uri = jwks_uri_of(node, pool_id)
    id_claims = verify_id_token(first["IdToken"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id)
    assert id_claims["sub"] == signed_up["UserSub"], id_claims
    assert id_claims.get("email") == email, id_claims
    assert id_claims.get("cognito:username") == username, id_claims
    verify_access_token(first["AccessToken"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id)

    me = idp.get_user(AccessToken=first["AccessToken"])
    request_id(me)
    assert me.get("Username") == username, me
    attrs = user_attributes(me)
    assert attrs.get("email") == email, attrs
    assert attrs.get("email_verified") == "true", attrs
    assert attrs.get("sub") == signed_up["UserSub"], attrs

    refreshed = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )
    request_id(refreshed)
    renewed = check_result(refreshed, refresh_required=False)
    # A client created through the native API rotates refresh tokens by
    # default (one made with CreateUserPoolClient keeps Cognito's default,
    # no rotation and no new refresh token): a new one, and the old is spent.
    assert renewed.get("RefreshToken") and renewed["RefreshToken"] != first["RefreshToken"], renewed
    assert idp.get_user(AccessToken=renewed["AccessToken"])["Username"] == username

    changed = idp.change_password(
        AccessToken=renewed["AccessToken"], PreviousPassword=PASSWORD, ProposedPassword=NEW_PASSWORD
    )
    request_id(changed)
    raises(idp, "NotAuthorizedException", lambda: password_auth(idp, client_id, username, PASSWORD),
           "sign-in with the old password")
    second = password_auth(idp, client_id, username, NEW_PASSWORD)
    assert idp.get_user(AccessToken=second["AccessToken"])["Username"] == username

    out = idp.global_sign_out(AccessToken=second["AccessToken"])
    request_id(out)
    raises(idp, "NotAuthorizedException", lambda: idp.get_user(AccessToken=second["AccessToken"]),
           "GetUser after GlobalSignOut")
    # GlobalSignOut ends every session of the user: older access tokens and
    # the refresh tokens too.
    raises(idp, "NotAuthorizedException", lambda: idp.get_user(AccessToken=first["AccessToken"]),
           "GetUser with an access token from before GlobalSignOut")
    raises(
        idp,
        "NotAuthorizedException",
        lambda: idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": second["RefreshToken"]},
        ),
        "refresh after GlobalSignOut",
    )
    # Signing in again works.
    password_auth(idp, client_id, username, NEW_PASSWORD)


def test_errors_raise_the_sdk_exceptions(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "cognito-errors")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    idp = idp_client(node)
    username = unique_username("err")
    email = email_for(username)

    raises(idp, "InvalidPasswordException",
           lambda: idp.sign_up(ClientId=client_id, Username=username, Password="short",
                               UserAttributes=[{"Name": "email", "Value": email}]),
           "sign-up with a short password")
    raises(idp, "InvalidPasswordException",
           lambda: idp.sign_up(ClientId=client_id, Username=username, Password=COMMON_LONG_PASSWORD,
                               UserAttributes=[{"Name": "email", "Value": email}]),
           "sign-up with a common password")

    sdk_sign_up(idp, client_id, username, email)
    raises(idp, "UsernameExistsException",
           lambda: idp.sign_up(ClientId=client_id, Username=username, Password=PASSWORD,
                               UserAttributes=[{"Name": "email", "Value": email_for(username + "x")}]),
           "second sign-up of the same username")

    raises(idp, "UserNotConfirmedException",
           lambda: idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD}),
           "sign-in before confirming")

    code = extract_code(smtp_sink.wait_for(email))
    raises(idp, "CodeMismatchException",
           lambda: idp.confirm_sign_up(ClientId=client_id, Username=username,
                                       ConfirmationCode=other_code(code)),
           "confirmation with a wrong code")
    idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code)

    raises(idp, "NotAuthorizedException",
           lambda: idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD + "!"}),
           "sign-in with a wrong password")
    password_auth(idp, client_id, username, PASSWORD)

    unknown_client = "a" * 26
    raises(idp, "ResourceNotFoundException",
           lambda: idp.initiate_auth(ClientId=unknown_client, AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD}),
           "sign-in with an unknown ClientId")
    raises(idp, "ResourceNotFoundException",
           lambda: idp.sign_up(ClientId=unknown_client, Username=unique_username("err"), Password=PASSWORD),
           "sign-up with an unknown ClientId")

    # Operations this server does not implement: a clear 400, not a 500.
    client_error(lambda: idp.list_devices(AccessToken="x" * 40), "UnsupportedOperationException",
                 "ListDevices")
    client_error(
        lambda: idp.initiate_auth(ClientId=client_id, AuthFlow="CUSTOM_AUTH",
                                  AuthParameters={"USERNAME": username}),
        "UnsupportedOperationException",
        "InitiateAuth CUSTOM_AUTH",
    )
    # USER_SRP_AUTH is implemented (test_srp.py); a malformed SRP_A is a
    # parameter error, not a 500.
    client_error(
        lambda: idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH",
                                  AuthParameters={"USERNAME": username, "SRP_A": "not hex"}),
        "InvalidParameterException",
        "InitiateAuth USER_SRP_AUTH with a malformed SRP_A",
    )


def test_client_with_a_secret_needs_the_secret_hash(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "cognito-secret")["id"]
    client = expect(
        node.post(f"/v1/admin/pools/{pool_id}/clients", {"name": "backend", "generate_secret": True},
                  admin=True),
        201,
    )
    client_id, secret = client["client_id"], client.get("client_secret")
    assert isinstance(secret, str) and secret, f"no client_secret in the created client: {client!r}"
    idp = idp_client(node)
    username = unique_username("sec")
    email = email_for(username)
    good = secret_hash(secret, username, client_id)
    wrong = secret_hash(secret + "x", username, client_id)
    attrs = [{"Name": "email", "Value": email}]

    for what, extra in (("missing", {}), ("wrong", {"SecretHash": wrong})):
        exc = raises(idp, "NotAuthorizedException",
                     lambda: idp.sign_up(ClientId=client_id, Username=username, Password=PASSWORD,
                                         UserAttributes=attrs, **extra),
                     f"sign-up with a {what} SecretHash")
        assert "secret hash" in exc.response["Error"]["Message"].lower(), exc.response["Error"]
    sdk_sign_up(idp, client_id, username, email, SecretHash=good)

    code = extract_code(smtp_sink.wait_for(email))
    raises(idp, "NotAuthorizedException",
           lambda: idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code),
           "confirmation without SecretHash")
    idp.confirm_sign_up(ClientId=client_id, Username=username, ConfirmationCode=code, SecretHash=good)

    for what, params in (("missing", {}), ("wrong", {"SECRET_HASH": wrong})):
        exc = raises(idp, "NotAuthorizedException",
                     lambda: password_auth(idp, client_id, username, PASSWORD, **params),
                     f"sign-in with a {what} SECRET_HASH")
        assert "secret hash" in exc.response["Error"]["Message"].lower(), exc.response["Error"]
    # A hash of another username does not do either.
    raises(idp, "NotAuthorizedException",
           lambda: password_auth(idp, client_id, username, PASSWORD,
                                 SECRET_HASH=secret_hash(secret, username + "x", client_id)),
           "sign-in with the SECRET_HASH of another username")

    tokens = password_auth(idp, client_id, username, PASSWORD, SECRET_HASH=good)
    assert idp.get_user(AccessToken=tokens["AccessToken"])["Username"] == username

    refreshed = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"], "USERNAME": username, "SECRET_HASH": good},
    )
    check_result(refreshed, refresh_required=False)


def test_attributes_through_cognito_idp(server, smtp_sink):
    """UpdateUserAttributes (a new email waits for its code, the old one stays
    the sign-in address), VerifyUserAttribute, DeleteUserAttributes and
    GetUserAttributeVerificationCode."""
    node = server()
    pool_id = create_pool(node, "cognito-attrs")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    idp = idp_client(node)
    username, email = confirmed_user(node, smtp_sink, idp, client_id, "attr")
    at = password_auth(idp, client_id, username, PASSWORD)["AccessToken"]
    new_email = email_for(unique_username("moved"))
    out = idp.update_user_attributes(
        AccessToken=at,
        UserAttributes=[{"Name": "email", "Value": new_email}, {"Name": "given_name", "Value": "Ada"}],
    )
    deliveries = out.get("CodeDeliveryDetailsList") or []
    assert [d.get("AttributeName") for d in deliveries] == ["email"], out
    attrs = user_attributes(idp.get_user(AccessToken=at))
    assert attrs.get("email") == email and attrs.get("given_name") == "Ada", attrs
    code = extract_code(smtp_sink.wait_for(new_email))
    raises(
        idp,
        "CodeMismatchException",
        lambda: idp.verify_user_attribute(AccessToken=at, AttributeName="email", Code=other_code(code)),
        "a wrong verification code",
    )
    idp.verify_user_attribute(AccessToken=at, AttributeName="email", Code=code)
    attrs = user_attributes(idp.get_user(AccessToken=at))
    assert attrs.get("email") == new_email and attrs.get("email_verified") == "true", attrs
    idp.delete_user_attributes(AccessToken=at, UserAttributeNames=["given_name"])
    assert "given_name" not in user_attributes(idp.get_user(AccessToken=at))
    out = idp.get_user_attribute_verification_code(AccessToken=at, AttributeName="email")
    assert out["CodeDeliveryDetails"].get("DeliveryMedium") == "EMAIL", out


def test_forgot_password_through_cognito_idp(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "cognito-forgot")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    idp = idp_client(node)
    username, email = confirmed_user(node, smtp_sink, idp, client_id, "fgt")

    out = idp.forgot_password(ClientId=client_id, Username=username)
    request_id(out)
    assert out.get("CodeDeliveryDetails") == {
        "Destination": masked(email),
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }, out
    # Message 1 was the sign-up code.
    code = extract_code(smtp_sink.wait_for(email, n=2))

    raises(idp, "CodeMismatchException",
           lambda: idp.confirm_forgot_password(ClientId=client_id, Username=username,
                                               ConfirmationCode=other_code(code), Password=NEW_PASSWORD),
           "ConfirmForgotPassword with a wrong code")
    raises(idp, "InvalidPasswordException",
           lambda: idp.confirm_forgot_password(ClientId=client_id, Username=username,
                                               ConfirmationCode=code, Password="short"),
           "ConfirmForgotPassword with a weak password")
    done = idp.confirm_forgot_password(
        ClientId=client_id, Username=username, ConfirmationCode=code, Password=NEW_PASSWORD
    )
    request_id(done)

    tokens = password_auth(idp, client_id, username, NEW_PASSWORD)
    assert idp.get_user(AccessToken=tokens["AccessToken"])["Username"] == username
    raises(idp, "NotAuthorizedException", lambda: password_auth(idp, client_id, username, PASSWORD),
           "sign-in with the old password after the reset")
    # The code is used up.
    raises(idp, "CodeMismatchException",
           lambda: idp.confirm_forgot_password(ClientId=client_id, Username=username,
                                               ConfirmationCode=code, Password=PASSWORD),
           "ConfirmForgotPassword with a used code")


def test_cognito_identity_credentials_work_with_s3(server, smtp_sink):
    node = server()
    create_role(node, "owner", OWNER_POLICY)
    pool_id = create_pool(node, "cognito-s3")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    identity_pool_id = create_identity_pool(
        node,
        "cognito-photos",
        providers=[{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        authenticated_role="owner",
    )
    idp = idp_client(node)
    ci = identity_client(node)
    username, _ = confirmed_user(node, smtp_sink, idp, client_id, "s3c")
    id_token = password_auth(idp, client_id, username, PASSWORD)["IdToken"]
    logins = {user_pool_provider(pool_id): id_token}

    got = ci.get_id(IdentityPoolId=identity_pool_id, Logins=logins)
    request_id(got)
    identity_id = got.get("IdentityId")
    region, _, rest = str(identity_id).partition(":")
    assert region and uuid.UUID(rest), f"IdentityId format: {got!r}"
    assert ci.get_id(IdentityPoolId=identity_pool_id, Logins=logins)["IdentityId"] == identity_id

    out = ci.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)
    request_id(out)
    assert out.get("IdentityId") == identity_id, out
    creds = out.get("Credentials") or {}
    for member in ("AccessKeyId", "SecretKey", "SessionToken"):
        assert isinstance(creds.get(member), str) and creds[member], f"Credentials lack {member}: {out!r}"
    expiration = creds.get("Expiration")
    assert isinstance(expiration, datetime.datetime), f"Expiration is not a timestamp: {expiration!r}"
    left = (expiration - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 3600 - 120 <= left <= 3600 + 60, f"credentials expire in {left:.0f} s, not about an hour"

    s3 = s3_client(node, creds)
    key = f"{identity_id}/from-cognito.txt"
    body = b"uploaded with cognito-identity credentials"
    s3.put_object(Bucket="photos", Key=key, Body=body)
    assert read_body(s3.get_object(Bucket="photos", Key=key)) == body
    try:
        s3.put_object(Bucket="photos", Key="someone-else/x.txt", Body=b"x")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response["Error"]
    else:
        raise AssertionError("a put outside the identity's prefix succeeded")

    token_out = ci.get_open_id_token(IdentityId=identity_id, Logins=logins)
    request_id(token_out)
    assert token_out.get("IdentityId") == identity_id, token_out
    token = token_out.get("Token")
    assert isinstance(token, str) and token.count(".") == 2, token_out
    issuer = f"{node.public_url}/v1/identity-pools"
    key_client = jwt.PyJWKClient(f"{node.url}/v1/identity-pools/.well-known/jwks.json", cache_keys=False,
                                 timeout=int(HTTP_TIMEOUT))
    claims = jwt.decode(
        token,
        key_client.get_signing_key_from_jwt(token).key,
        algorithms=["ES256", "RS256"],
        audience=identity_pool_id,
        issuer=issuer,
        leeway=60,
        options={"require": ["exp", "iat", "iss", "sub", "aud"]},
    )
    assert claims["sub"] == identity_id, claims

    forged = {user_pool_provider(pool_id): tampered(id_token)}
    raises(ci, "NotAuthorizedException", lambda: ci.get_id(IdentityPoolId=identity_pool_id, Logins=forged),
           "GetId with a tampered IdToken")
    raises(ci, "NotAuthorizedException",
           lambda: ci.get_credentials_for_identity(IdentityId=identity_id, Logins=forged),
           "GetCredentialsForIdentity with a tampered IdToken")


def raw_post(node: Node, target: Optional[str], body: bytes) -> requests.Response:
    headers = {"Content-Type": AMZ_JSON}
    if target is not None:
        headers["X-Amz-Target"] = target
    return requests.post(node.url + "/", data=body, headers=headers, timeout=HTTP_TIMEOUT)


def check_fault(resp: requests.Response, kind: str) -> dict:
    assert resp.status_code == 400, f"expected 400 {kind}: {describe(resp)}"
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == AMZ_JSON, describe(resp)
    assert resp.headers.get("x-amzn-RequestId"), f"no x-amzn-RequestId: {dict(resp.headers)}"
    try:
        doc = resp.json()
    except ValueError as exc:
        raise AssertionError(f"the error is not JSON: {describe(resp)}") from exc
    # AWS may qualify the name (`com.amazon.coral.service#Name`); SDKs use what follows `#`.
    assert str(doc.get("__type", "")).rpartition("#")[2] == kind, f"expected {kind}: {describe(resp)}"
    assert isinstance(doc.get("message"), str) and doc["message"], f"no message: {describe(resp)}"
    return doc


def test_raw_protocol_errors(server):
    node = server()
    pool_id = create_pool(node, "cognito-raw")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]

    check_fault(raw_post(node, "AWSCognitoIdentityProviderService.SignUp", b"this is not json"),
                "SerializationException")
    check_fault(raw_post(node, "AWSCognitoIdentityProviderService.SignUp", b'["a", "list"]'),
                "SerializationException")
    check_fault(raw_post(node, "AWSCognitoIdentityService.GetId", b"{not json"), "SerializationException")

    check_fault(raw_post(node, "NoSuchService.SignUp", b"{}"), "UnknownOperationException")
    check_fault(raw_post(node, None, b"{}"), "UnknownOperationException")
    # An operation name neither service has.
    check_fault(raw_post(node, "AWSCognitoIdentityProviderService.NoSuchOperation", b"{}"),
                "UnknownOperationException")

    # The same endpoint answers a well-formed request.
    username = unique_username("raw")
    resp = raw_post(
        node,
        "AWSCognitoIdentityProviderService.SignUp",
        json.dumps({
            "ClientId": client_id,
            "Username": username,
            "Password": PASSWORD,
            "UserAttributes": [{"Name": "email", "Value": email_for(username)}],
        }).encode(),
    )
    doc = expect(resp, 200)
    assert doc.get("UserConfirmed") is False and doc.get("UserSub"), doc
    assert resp.headers.get("x-amzn-RequestId"), dict(resp.headers)


def admin_idp(node: Node, secret: Optional[str] = None):
    """cognito-idp signed with the admin credential: access key id
    `poolgate-admin`, an admin API key as the secret."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=node.url,
        region_name=REGION,
        aws_access_key_id="poolgate-admin",
        aws_secret_access_key=secret or node.admin_key,
        config=Config(retries={"max_attempts": 1}),
    )


def test_admin_operations_need_the_signed_admin_credential(server, smtp_sink):
    node = server()
    pool_id = expect(
        node.post("/v1/admin/pools", {"name": "admin-ops", "username_attributes": ["email"]}, admin=True), 201
    )["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    admin = admin_idp(node)
    email = email_for(unique_username("adm"))

    created = admin.admin_create_user(
        UserPoolId=pool_id, Username=email, TemporaryPassword="temporary passphrase 99",
        MessageAction="SUPPRESS", UserAttributes=[{"Name": "email", "Value": email}],
    )["User"]
    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD" and created["Enabled"], created
    got = admin.admin_get_user(UserPoolId=pool_id, Username=email)
    assert got["UserStatus"] == "FORCE_CHANGE_PASSWORD", got
    assert {a["Name"]: a["Value"] for a in got["UserAttributes"]}["email"] == email, got

    admin.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
    assert admin.admin_get_user(UserPoolId=pool_id, Username=email)["UserStatus"] == "CONFIRMED"
    idp = idp_client(node)
    tokens = password_auth(idp, client_id, email, PASSWORD)

    listed = admin.list_users(UserPoolId=pool_id, Filter=f'email = "{email}"')
    assert [u["Username"] for u in listed["Users"]] == [got["Username"]], listed

    expect(node.post(f"/v1/admin/pools/{pool_id}/groups", {"name": "staff"}, admin=True), 201)
    admin.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="staff")
    members = expect(node.get(f"/v1/admin/pools/{pool_id}/groups/staff/members", admin=True), 200)
    assert len(members.get("users", members.get("members", []))) == 1, members
    groups = admin.admin_list_groups_for_user(UserPoolId=pool_id, Username=email)["Groups"]
    assert [g["GroupName"] for g in groups] == ["staff"], groups
    admin.admin_remove_user_from_group(UserPoolId=pool_id, Username=email, GroupName="staff")
    assert admin.admin_list_groups_for_user(UserPoolId=pool_id, Username=email)["Groups"] == []

    admin.admin_update_user_attributes(UserPoolId=pool_id, Username=email,
                                       UserAttributes=[{"Name": "given_name", "Value": "Grace"}])
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=pool_id, Username=email)["UserAttributes"]}
    assert attrs.get("given_name") == "Grace", attrs
    admin.admin_delete_user_attributes(UserPoolId=pool_id, Username=email, UserAttributeNames=["given_name"])
    attrs = {a["Name"]: a["Value"] for a in admin.admin_get_user(UserPoolId=pool_id, Username=email)["UserAttributes"]}
    assert "given_name" not in attrs, attrs

    # GetTokensFromRefreshToken renews the session (public, unsigned).
    renewed = idp.get_tokens_from_refresh_token(RefreshToken=tokens["RefreshToken"], ClientId=client_id)
    assert renewed["AuthenticationResult"]["AccessToken"], renewed

    admin.admin_user_global_sign_out(UserPoolId=pool_id, Username=email)
    raises(idp, "NotAuthorizedException", lambda: idp.get_user(AccessToken=tokens["AccessToken"]),
           "GetUser after AdminUserGlobalSignOut")
    admin.admin_disable_user(UserPoolId=pool_id, Username=email)
    raises(idp, "NotAuthorizedException", lambda: password_auth(idp, client_id, email, PASSWORD),
           "sign-in of a disabled user")
    admin.admin_enable_user(UserPoolId=pool_id, Username=email)
    password_auth(idp, client_id, email, PASSWORD)
    admin.admin_reset_user_password(UserPoolId=pool_id, Username=email)
    assert admin.admin_get_user(UserPoolId=pool_id, Username=email)["UserStatus"] == "RESET_REQUIRED"
    raises(idp, "PasswordResetRequiredException", lambda: password_auth(idp, client_id, email, PASSWORD),
           "sign-in after AdminResetUserPassword")
    admin.admin_delete_user(UserPoolId=pool_id, Username=email)
    raises(admin, "UserNotFoundException", lambda: admin.admin_get_user(UserPoolId=pool_id, Username=email),
           "AdminGetUser after delete")

    # Unsigned, or signed with anything but an admin key: refused.
    unsigned = idp_client(node)
    client_error(lambda: unsigned.admin_get_user(UserPoolId=pool_id, Username=email),
                 "UnrecognizedClientException", "AdminGetUser with a non-admin access key")
    wrong = admin_idp(node, secret="not-the-admin-key-000000")
    client_error(lambda: wrong.admin_get_user(UserPoolId=pool_id, Username=email),
                 "InvalidSignatureException", "AdminGetUser with a wrong secret")


def test_identity_pool_control_plane_with_the_signed_admin_credential(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "idp-control")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    create_role(node, "owner", OWNER_POLICY)
    admin = boto3.client(
        "cognito-identity",
        endpoint_url=node.url,
        region_name=REGION,
        aws_access_key_id="poolgate-admin",
        aws_secret_access_key=node.admin_key,
        config=Config(retries={"max_attempts": 1}),
    )
    provider = user_pool_provider(pool_id)
    created = admin.create_identity_pool(
        IdentityPoolName="sdk-made",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}],
    )
    ipool = created["IdentityPoolId"]
    assert created["CognitoIdentityProviders"][0]["ClientId"] == client_id, created
    assert admin.describe_identity_pool(IdentityPoolId=ipool)["IdentityPoolName"] == "sdk-made"
    listed = admin.list_identity_pools(MaxResults=60)["IdentityPools"]
    assert any(p["IdentityPoolId"] == ipool for p in listed), listed
    role = "arn:aws:iam::000000000000:role/owner"
    admin.set_identity_pool_roles(IdentityPoolId=ipool, Roles={"authenticated": role})
    assert admin.get_identity_pool_roles(IdentityPoolId=ipool)["Roles"] == {"authenticated": role}

    # The pool made through the SDK issues credentials to a user-pool login.
    idp = idp_client(node)
    username, _ = confirmed_user(node, smtp_sink, idp, client_id, "ctl")
    id_token = password_auth(idp, client_id, username, PASSWORD)["IdToken"]
    ids = identity_client(node)
    identity = ids.get_id(IdentityPoolId=ipool, Logins={provider: id_token})["IdentityId"]
    creds = ids.get_credentials_for_identity(IdentityId=identity, Logins={provider: id_token})["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA"), creds

    # Providers these members cannot describe are refused clearly.
    client_error(
        lambda: admin.create_identity_pool(
            IdentityPoolName="oidc", AllowUnauthenticatedIdentities=False,
            OpenIdConnectProviderARNs=["arn:aws:iam::000000000000:oidc-provider/example.com"],
        ),
        "InvalidParameterException",
        "CreateIdentityPool with an OIDC provider ARN",
    )
    admin.delete_identity_pool(IdentityPoolId=ipool)
    client_error(lambda: admin.describe_identity_pool(IdentityPoolId=ipool),
                 "ResourceNotFoundException", "DescribeIdentityPool after delete")
    # Unsigned: refused.
    client_error(lambda: ids.list_identity_pools(MaxResults=10),
                 "UnrecognizedClientException", "ListIdentityPools with a non-admin key")


def test_revoke_token_and_delete_user_through_cognito_idp(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "cognito-revoke")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    idp = idp_client(node)
    username, _ = confirmed_user(node, smtp_sink, idp, client_id, "rev")
    first = password_auth(idp, client_id, username, PASSWORD)
    idp.revoke_token(Token=first["RefreshToken"], ClientId=client_id)
    raises(
        idp,
        "NotAuthorizedException",
        lambda: idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]}),
        "refresh with a revoked token",
    )
    second = password_auth(idp, client_id, username, PASSWORD)
    idp.delete_user(AccessToken=second["AccessToken"])
    raises(idp, "NotAuthorizedException", lambda: password_auth(idp, client_id, username, PASSWORD),
           "sign-in after DeleteUser")
