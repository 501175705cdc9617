"""Identity linking as Cognito does it (checklist I2), driven by boto3's own
``cognito-identity`` and ``s3`` clients: a user who never called GetId
names another user's identity (identity ids are S3 prefixes, not secrets)
with their own ID token. GetCredentialsForIdentity and GetOpenIdToken
refuse with NotAuthorizedException, nothing is linked, the attacker's
GetId gives the attacker's own identity, and the victim's object stays
unreadable and unchanged.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from test_cognito import identity_client
from test_cognito import s3_client as sdk_s3_client
from test_storage import (
    confirmed_user_id_token,
    owner_identity,
    read_body,
    s3_client,
    s3_error,
    user_pool_provider,
)


def refused(call, code: str, what: str) -> None:
    try:
        result = call()
    except ClientError as exc:
        got = exc.response.get("Error", {}).get("Code")
        assert got == code, f"{what}: expected {code}, got {got}: {exc.response.get('Error')}"
        return
    raise AssertionError(f"{what}: expected {code}, but the call succeeded: {result!r}")


def test_i2_boto3_cannot_take_over_another_users_identity(server, smtp_sink):
    node = server()
    victim = owner_identity(node, smtp_sink)
    key = f"{victim.prefix}diary.txt"
    s3_client(node, victim.creds).put_object(Bucket="photos", Key=key, Body=b"dear diary")

    # The attacker: a user of the same user pool and client, who never
    # called GetId.
    (provider,) = victim.logins.keys()
    pool_id = provider.rsplit("/", 1)[1]
    client_id = node.get(
        f"/v1/admin/identity-pools/{victim.identity_pool_id}", admin=True
    ).json()["providers"][0]["client_ids"][0]
    attacker_token = confirmed_user_id_token(node, smtp_sink, pool_id, client_id)
    attacker_logins = {user_pool_provider(pool_id): attacker_token}

    ci = identity_client(node)
    refused(
        lambda: ci.get_credentials_for_identity(IdentityId=victim.identity_id, Logins=attacker_logins),
        "NotAuthorizedException",
        "GetCredentialsForIdentity with the victim's identity and the attacker's token",
    )
    refused(
        lambda: ci.get_open_id_token(IdentityId=victim.identity_id, Logins=attacker_logins),
        "NotAuthorizedException",
        "GetOpenIdToken with the victim's identity and the attacker's token",
    )
    again = ci.get_id(IdentityPoolId=victim.identity_pool_id, Logins=victim.logins)["IdentityId"]
    assert again == victim.identity_id, "the victim's login still names the victim's identity"

    mine = ci.get_id(IdentityPoolId=victim.identity_pool_id, Logins=attacker_logins)["IdentityId"]
    assert mine != victim.identity_id
    creds = ci.get_credentials_for_identity(IdentityId=mine, Logins=attacker_logins)["Credentials"]
    attacker_s3 = sdk_s3_client(node, creds)
    s3_error(lambda: attacker_s3.get_object(Bucket="photos", Key=key), "AccessDenied", 403, "read the victim's object")
    s3_error(
        lambda: attacker_s3.put_object(Bucket="photos", Key=key, Body=b"overwritten"),
        "AccessDenied", 403, "overwrite the victim's object",
    )
    got = s3_client(node, victim.creds).get_object(Bucket="photos", Key=key)
    assert read_body(got) == b"dear diary"
