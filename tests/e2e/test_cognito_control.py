"""The Cognito control plane and back-end operations end to end: pools, app
clients, groups, resource servers, AdminInitiateAuth and the identity
operations, driven by boto3 and the AWS CLI signed with the admin
credential (access key id ``poolgate-admin``, an admin API key as the
secret). Only IAM roles come from the native admin API (Cognito has no operation
for them either: they are IAM's). A team that scripts
Cognito with boto3 or ``aws cognito-idp`` can script poolgate the same way.
"""

from __future__ import annotations

import base64
import json
import re
import os
import shutil
import subprocess

import boto3
import jwt
import requests
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding

from e2e_support import PASSWORD, Node, email_for, expect, extract_code, unique_username
from test_cognito import (
    OWNER_POLICY,
    REGION,
    client_error,
    create_role,
    identity_client,
    idp_client,
    raises,
    request_id,
    user_pool_provider,
)

VENV_BIN = os.path.expanduser("~/.cache/poolgate-ci-venv/bin")
CLI_TIMEOUT = 120
TEMPORARY = "temporary passphrase 99"


def signed(node: Node, service: str):
    return boto3.client(
        service,
        endpoint_url=node.url,
        region_name=REGION,
        aws_access_key_id="poolgate-admin",
        aws_secret_access_key=node.admin_key,
        config=Config(retries={"max_attempts": 1}),
    )


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_user_pool_control_plane_through_boto3(server, smtp_sink):
    node = server()
    admin = signed(node, "cognito-idp")

    # A pool as a Cognito script makes it: policy, verified email, schema,
    # a custom verification message.
    created = admin.create_user_pool(
        PoolName="sdk-pool",
        Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireNumbers": True,
                                     "TemporaryPasswordValidityDays": 3}},
        AutoVerifiedAttributes=["email"],
        UsernameAttributes=["email"],
        Schema=[
            {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
            {"Name": "tier", "AttributeDataType": "String", "Mutable": True,
             "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "10"}},
        ],
        VerificationMessageTemplate={"EmailSubject": "Welcome to sdk-pool",
                                     "EmailMessage": "Your sdk-pool code is {####}."},
        MfaConfiguration="OFF",
        UserPoolTags={"team": "e2e"},
    )
    request_id(created)
    pool = created["UserPool"]
    pool_id = pool["Id"]
    assert re.fullmatch(r"[a-z0-9-]+_[0-9A-Za-z]+", pool_id), pool
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12, pool
    assert pool["UsernameAttributes"] == ["email"] and pool["AutoVerifiedAttributes"] == ["email"], pool
    schema = {a["Name"]: a for a in pool["SchemaAttributes"]}
    assert schema["email"]["Required"] is True and "custom:tier" in schema, schema
    assert schema["custom:tier"]["StringAttributeConstraints"]["MaxLength"] == "10", schema["custom:tier"]

    described = admin.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Name"] == "sdk-pool" and described["EstimatedNumberOfUsers"] == 0, described
    listed = admin.list_user_pools(MaxResults=60)["UserPools"]
    assert any(p["Id"] == pool_id and p["Name"] == "sdk-pool" for p in listed), listed

    admin.update_user_pool(UserPoolId=pool_id, Policies={"PasswordPolicy": {"MinimumLength": 14}})
    policy = admin.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 14 and policy["RequireNumbers"] is True, policy
    admin.add_custom_attributes(UserPoolId=pool_id, CustomAttributes=[
        {"Name": "plan", "AttributeDataType": "String", "Mutable": True}])
    schema = {a["Name"] for a in admin.describe_user_pool(UserPoolId=pool_id)["UserPool"]["SchemaAttributes"]}
    assert {"custom:tier", "custom:plan"} <= schema, schema

    # GetSigningCertificate: an X.509 certificate of the key that signs the
    # pool's tokens (the same public key the JWKS publishes).
    cert_b64 = admin.get_signing_certificate(UserPoolId=pool_id)["Certificate"]
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    jwk = requests.get(f"{node.url}/{pool_id}/.well-known/jwks.json", timeout=30).json()["keys"][0]
    numbers = cert.public_key().public_numbers()
    as_int = lambda b64: int.from_bytes(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)), "big")  # noqa: E731
    assert (numbers.n, numbers.e) == (as_int(jwk["n"]), as_int(jwk["e"])), "the certificate holds the JWKS key"
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                             cert.signature_hash_algorithm)
    assert admin.get_signing_certificate(UserPoolId=pool_id)["Certificate"] == cert_b64, "stable"
    # An ES256 pool (made natively: the algorithm is not a Cognito member).
    es_pool = expect(node.post("/v1/admin/pools", {"name": "es", "signing_algorithm": "ES256"}, admin=True), 201)
    es_cert = x509.load_der_x509_certificate(
        base64.b64decode(admin.get_signing_certificate(UserPoolId=es_pool["id"])["Certificate"]))
    es_jwk = requests.get(f"{node.url}/{es_pool['id']}/.well-known/jwks.json", timeout=30).json()["keys"][0]
    point = es_cert.public_key().public_numbers()
    assert (point.x, point.y) == (as_int(es_jwk["x"]), as_int(es_jwk["y"])), "the certificate holds the ES256 key"
    es_cert.public_key().verify(es_cert.signature, es_cert.tbs_certificate_bytes,
                                ec.ECDSA(es_cert.signature_hash_algorithm))

    # MFA is a pool setting (tests/e2e/test_mfa.py uses it); an unknown mode
    # and Lambda triggers are refused, not ignored.
    client_error(lambda: admin.update_user_pool(UserPoolId=pool_id, MfaConfiguration="SOMETIMES"),
                 "InvalidParameterException", "UpdateUserPool MfaConfiguration=SOMETIMES")
    client_error(lambda: admin.create_user_pool(PoolName="x", LambdaConfig={
        "PreSignUp": "arn:aws:lambda:us-east-1:000000000000:function:f"}),
        "InvalidParameterException", "CreateUserPool with a Lambda trigger")

    # An app client: flows, a 30-minute access token.
    client = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"],
        AccessTokenValidity=30, IdTokenValidity=30, RefreshTokenValidity=7,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
    )["UserPoolClient"]
    client_id = client["ClientId"]
    assert "ClientSecret" not in client and client["AccessTokenValidity"] == 30, client
    assert client["TokenValidityUnits"]["AccessToken"] == "minutes", client
    confidential = admin.create_user_pool_client(UserPoolId=pool_id, ClientName="backend",
                                                 GenerateSecret=True)["UserPoolClient"]
    assert len(confidential.get("ClientSecret", "")) >= 32, confidential
    assert sorted(confidential["ExplicitAuthFlows"]) == sorted(
        ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH"]), confidential
    described = admin.describe_user_pool_client(UserPoolId=pool_id, ClientId=confidential["ClientId"])
    assert described["UserPoolClient"]["ClientSecret"] == confidential["ClientSecret"], described
    clients = admin.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    assert sorted(c["ClientName"] for c in clients) == ["backend", "web"], clients
    updated = admin.update_user_pool_client(UserPoolId=pool_id, ClientId=confidential["ClientId"],
                                            ClientName="backend-2")["UserPoolClient"]
    assert updated["ClientName"] == "backend-2" and updated["ClientSecret"] == confidential["ClientSecret"]
    hosted = admin.update_user_pool_client(
        UserPoolId=pool_id, ClientId=client_id, CallbackURLs=["https://app.example/cb"],
        LogoutURLs=["https://app.example/"], AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"],
        AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]
    assert hosted["CallbackURLs"] == ["https://app.example/cb"] and hosted["AllowedOAuthFlows"] == ["code"], hosted
    client_error(lambda: admin.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id,
                                                       CallbackURLs=["javascript:alert(1)"]),
                 "InvalidParameterException", "a callback URL that runs code")
    admin.delete_user_pool_client(UserPoolId=pool_id, ClientId=confidential["ClientId"])
    raises(admin, "ResourceNotFoundException",
           lambda: admin.describe_user_pool_client(UserPoolId=pool_id, ClientId=confidential["ClientId"]),
           "DescribeUserPoolClient after delete")

    # Users of the SDK-made pool: the policy, the template and the token
    # lifetime all apply.
    idp = idp_client(node)
    email = email_for(unique_username("ctl"))
    raises(idp, "InvalidPasswordException",
           lambda: idp.sign_up(ClientId=client_id, Username=email, Password="short pass 1"),
           "a password under the updated minimum")
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "custom:tier", "Value": "gold"}])
    mail = smtp_sink.wait_for(email)
    assert mail.subject == "Welcome to sdk-pool", mail.subject
    assert "Your sdk-pool code is" in mail.body, mail.body
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=extract_code(mail))
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})["AuthenticationResult"]
    access = claims(tokens["AccessToken"])
    assert access["exp"] - access["iat"] == 1800, access
    assert claims(tokens["IdToken"])["custom:tier"] == "gold"

    # Groups.
    group = admin.create_group(UserPoolId=pool_id, GroupName="editors", Description="Edit things",
                               Precedence=2)["Group"]
    assert group["GroupName"] == "editors" and group["Precedence"] == 2, group
    raises(admin, "GroupExistsException", lambda: admin.create_group(UserPoolId=pool_id, GroupName="editors"),
           "CreateGroup twice")
    admin.update_group(UserPoolId=pool_id, GroupName="editors", Description="Edit everything")
    assert admin.get_group(UserPoolId=pool_id, GroupName="editors")["Group"]["Description"] == "Edit everything"
    assert [g["GroupName"] for g in admin.list_groups(UserPoolId=pool_id)["Groups"]] == ["editors"]
    admin.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="editors")
    members = admin.list_users_in_group(UserPoolId=pool_id, GroupName="editors")["Users"]
    assert len(members) == 1 and members[0]["Username"] == claims(tokens["IdToken"])["cognito:username"], members

    # AdminInitiateAuth: a back end signs the user in (tokens carry the group).
    out = admin.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    assert claims(out["AuthenticationResult"]["AccessToken"])["cognito:groups"] == ["editors"], out
    raises(admin, "NotAuthorizedException",
           lambda: admin.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id,
                                             AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                             AuthParameters={"USERNAME": email, "PASSWORD": "wrong " + PASSWORD}),
           "AdminInitiateAuth with a wrong password")
    refreshed = admin.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                          AuthParameters={"REFRESH_TOKEN": out["AuthenticationResult"]["RefreshToken"]})
    assert refreshed["AuthenticationResult"]["AccessToken"], refreshed
    events = admin.admin_list_user_auth_events(UserPoolId=pool_id, Username=email, MaxResults=10)["AuthEvents"]
    responses = [(e["EventType"], e["EventResponse"]) for e in events]
    assert ("SignIn", "Pass") in responses and ("SignIn", "Fail") in responses, responses

    # An admin-created user answers NEW_PASSWORD_REQUIRED through the admin pair.
    invited = email_for(unique_username("inv"))
    admin.admin_create_user(UserPoolId=pool_id, Username=invited, TemporaryPassword=TEMPORARY + " long",
                            MessageAction="SUPPRESS", UserAttributes=[{"Name": "email", "Value": invited}])
    challenge = admin.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id,
                                          AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                          AuthParameters={"USERNAME": invited, "PASSWORD": TEMPORARY + " long"})
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED" and challenge["Session"], challenge
    done = admin.admin_respond_to_auth_challenge(
        UserPoolId=pool_id, ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": invited, "NEW_PASSWORD": "a brand new passphrase 7"})
    assert done["AuthenticationResult"]["IdToken"], done
    # The client must belong to the named pool.
    other = admin.create_user_pool(PoolName="other")["UserPool"]["Id"]
    raises(admin, "ResourceNotFoundException",
           lambda: admin.admin_initiate_auth(UserPoolId=other, ClientId=client_id,
                                             AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                             AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD}),
           "AdminInitiateAuth with another pool's client")

    # Resource servers and their scopes.
    rs = admin.create_resource_server(
        UserPoolId=pool_id, Identifier="https://api.example.com", Name="Orders API",
        Scopes=[{"ScopeName": "orders.read", "ScopeDescription": "Read orders"}])["ResourceServer"]
    assert rs["Scopes"] == [{"ScopeName": "orders.read", "ScopeDescription": "Read orders"}], rs
    admin.update_resource_server(
        UserPoolId=pool_id, Identifier="https://api.example.com", Name="Orders API",
        Scopes=[{"ScopeName": "orders.read", "ScopeDescription": "Read orders"},
                {"ScopeName": "orders.write", "ScopeDescription": "Write orders"}])
    got = admin.describe_resource_server(UserPoolId=pool_id, Identifier="https://api.example.com")
    assert len(got["ResourceServer"]["Scopes"]) == 2, got
    listed = admin.list_resource_servers(UserPoolId=pool_id, MaxResults=10)["ResourceServers"]
    assert [r["Identifier"] for r in listed] == ["https://api.example.com"], listed
    client_error(lambda: admin.create_resource_server(UserPoolId=pool_id, Identifier="bad id", Name="x"),
                 "InvalidParameterException", "a resource server identifier with a space")
    # A machine client made the Cognito way gets client-credentials tokens
    # with the resource server's scopes at the pool's /oauth2/token.
    machine = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="machine", GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["https://api.example.com/orders.read"])["UserPoolClient"]
    assert machine["AllowedOAuthFlows"] == ["client_credentials"], machine
    discovery = requests.get(f"{node.url}/{pool_id}/.well-known/openid-configuration", timeout=30).json()
    granted = requests.post(discovery["token_endpoint"], data={"grant_type": "client_credentials"},
                            auth=(machine["ClientId"], machine["ClientSecret"]), timeout=30)
    assert granted.status_code == 200, granted.text
    access = claims(granted.json()["access_token"])
    assert access["scope"] == "https://api.example.com/orders.read" and access["sub"] == machine["ClientId"], access
    admin.delete_resource_server(UserPoolId=pool_id, Identifier="https://api.example.com")
    assert admin.list_resource_servers(UserPoolId=pool_id, MaxResults=10)["ResourceServers"] == []

    admin.delete_group(UserPoolId=pool_id, GroupName="editors")
    raises(admin, "ResourceNotFoundException", lambda: admin.get_group(UserPoolId=pool_id, GroupName="editors"),
           "GetGroup after delete")

    # Unsigned: the control plane is refused.
    client_error(lambda: idp.describe_user_pool(UserPoolId=pool_id), "UnrecognizedClientException",
                 "DescribeUserPool with a non-admin access key")

    admin.delete_user_pool(UserPoolId=pool_id)
    raises(admin, "ResourceNotFoundException", lambda: admin.describe_user_pool(UserPoolId=pool_id),
           "DescribeUserPool after delete")


def test_identity_operations_through_boto3(server, smtp_sink):
    node = server()
    admin_idp = signed(node, "cognito-idp")
    admin = signed(node, "cognito-identity")
    pool_id = admin_idp.create_user_pool(PoolName="ids", AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    client_id = admin_idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    provider = user_pool_provider(pool_id)
    ipool = admin.create_identity_pool(IdentityPoolName="ids", AllowUnauthenticatedIdentities=False,
                                       DeveloperProviderName="login.example.app")["IdentityPoolId"]
    updated = admin.update_identity_pool(
        IdentityPoolId=ipool, IdentityPoolName="ids-2", AllowUnauthenticatedIdentities=False,
        DeveloperProviderName="login.example.app",
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}])
    assert updated["IdentityPoolName"] == "ids-2" and updated["CognitoIdentityProviders"], updated
    # Roles are IAM objects: made with the native admin API, named by ARN here.
    create_role(node, "owner", OWNER_POLICY)
    admin.set_identity_pool_roles(IdentityPoolId=ipool,
                                  Roles={"authenticated": "arn:aws:iam::000000000000:role/owner"})

    def user_token(prefix: str) -> str:
        name = unique_username(prefix)
        admin_idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
                                    TemporaryPassword=TEMPORARY)
        admin_idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True)
        return admin_idp.admin_initiate_auth(
            UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})["AuthenticationResult"]["IdToken"]

    ids = identity_client(node)
    token = user_token("ida")
    alice = ids.get_id(IdentityPoolId=ipool, Logins={provider: token})["IdentityId"]
    described = admin.describe_identity(IdentityId=alice)
    assert described["IdentityId"] == alice and described["Logins"] == [provider], described

    # A developer identity (the app's own user id), linked to Alice.
    dev = admin.get_open_id_token_for_developer_identity(
        IdentityPoolId=ipool, IdentityId=alice, Logins={"login.example.app": "user-1234"})
    assert dev["IdentityId"] == alice and dev["Token"].count(".") == 2, dev
    assert sorted(admin.describe_identity(IdentityId=alice)["Logins"]) == sorted([provider, "login.example.app"])
    client_error(lambda: admin.get_open_id_token_for_developer_identity(
        IdentityPoolId=ipool, Logins={"someone.else": "user-1"}),
        "InvalidParameterException", "a developer login under another provider name")

    bob = ids.get_id(IdentityPoolId=ipool, Logins={provider: user_token("idb")})["IdentityId"]
    listed = admin.list_identities(IdentityPoolId=ipool, MaxResults=60)
    assert sorted(i["IdentityId"] for i in listed["Identities"]) == sorted([alice, bob]), listed
    page = admin.list_identities(IdentityPoolId=ipool, MaxResults=1)
    assert len(page["Identities"]) == 1 and page.get("NextToken"), page
    rest = admin.list_identities(IdentityPoolId=ipool, MaxResults=1, NextToken=page["NextToken"])
    assert {page["Identities"][0]["IdentityId"], rest["Identities"][0]["IdentityId"]} == {alice, bob}, rest

    # UnlinkIdentity (public, proven with a login): the developer login goes.
    ids.unlink_identity(IdentityId=alice, Logins={provider: token}, LoginsToRemove=["login.example.app"])
    assert admin.describe_identity(IdentityId=alice)["Logins"] == [provider]
    raises(ids, "NotAuthorizedException",
           lambda: ids.unlink_identity(IdentityId=alice, Logins={}, LoginsToRemove=[provider]),
           "UnlinkIdentity without a login")

    # DeleteIdentities: Bob's credentials stop being issued.
    bob_token = user_token("idc")
    carol = ids.get_id(IdentityPoolId=ipool, Logins={provider: bob_token})["IdentityId"]
    creds = ids.get_credentials_for_identity(IdentityId=carol, Logins={provider: bob_token})
    assert creds["Credentials"]["SecretKey"], creds
    out = admin.delete_identities(IdentityIdsToDelete=[carol])
    assert out["UnprocessedIdentityIds"] == [], out
    raises(ids, "ResourceNotFoundException",
           lambda: ids.get_credentials_for_identity(IdentityId=carol, Logins={provider: bob_token}),
           "credentials for a deleted identity")
    # The login is free again: it gets a new identity.
    again = ids.get_id(IdentityPoolId=ipool, Logins={provider: bob_token})["IdentityId"]
    assert again != carol

    # Signed operations refuse an unsigned caller.
    client_error(lambda: ids.describe_identity(IdentityId=alice), "UnrecognizedClientException",
                 "DescribeIdentity with a non-admin access key")


def aws_cli(node: Node, tmp_path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "poolgate-admin",
        "AWS_SECRET_ACCESS_KEY": node.admin_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    })
    aws = shutil.which("aws", path=env["PATH"])
    assert aws, f"`aws` not found on {env['PATH']}"
    argv = [aws, "cognito-idp", *args, "--endpoint-url", node.url, "--output", "json"]
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    assert proc.returncode == 0, (
        f"`{' '.join(argv[1:])}` exited with {proc.returncode}\n"
        f"stdout: {proc.stdout.decode('utf-8', 'replace')[-3000:]}\n"
        f"stderr: {proc.stderr.decode('utf-8', 'replace')[-3000:]}"
    )
    out = proc.stdout.decode().strip()
    return json.loads(out) if out else {}


def aws_cli_fails(node: Node, tmp_path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "poolgate-admin", "AWS_SECRET_ACCESS_KEY": node.admin_key,
                "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
                "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")})
    aws = shutil.which("aws", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([aws, "cognito-idp", *args, "--endpoint-url", node.url], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    assert proc.returncode != 0, f"`{' '.join(args)}` should fail: {proc.stdout!r}"
    return proc.stderr.decode("utf-8", "replace")


def test_aws_cli_cognito_idp_admin_calls(server, smtp_sink, tmp_path):
    node = server()
    (tmp_path / "aws-config").write_text(f"[default]\nregion = {REGION}\n")
    (tmp_path / "aws-credentials").write_text("")
    pool_id = aws_cli(node, tmp_path, "create-user-pool", "--pool-name", "cli-pool",
                      "--auto-verified-attributes", "email")["UserPool"]["Id"]
    assert aws_cli(node, tmp_path, "describe-user-pool", "--user-pool-id", pool_id)["UserPool"]["Name"] == "cli-pool"
    client_id = aws_cli(node, tmp_path, "create-user-pool-client", "--user-pool-id", pool_id,
                        "--client-name", "cli", "--explicit-auth-flows", "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                        "ALLOW_REFRESH_TOKEN_AUTH")["UserPoolClient"]["ClientId"]
    user = unique_username("cli")
    created = aws_cli(node, tmp_path, "admin-create-user", "--user-pool-id", pool_id, "--username", user,
                      "--temporary-password", TEMPORARY, "--message-action", "SUPPRESS",
                      "--user-attributes", f"Name=email,Value={email_for(user)}")
    assert created["User"]["UserStatus"] == "FORCE_CHANGE_PASSWORD", created
    aws_cli(node, tmp_path, "admin-set-user-password", "--user-pool-id", pool_id, "--username", user,
            "--password", PASSWORD, "--permanent")
    got = aws_cli(node, tmp_path, "admin-get-user", "--user-pool-id", pool_id, "--username", user)
    assert got["UserStatus"] == "CONFIRMED" and got["Enabled"] is True, got
    listed = aws_cli(node, tmp_path, "list-users", "--user-pool-id", pool_id, "--filter", f'username = "{user}"')
    assert [u["Username"] for u in listed["Users"]] == [user], listed
    aws_cli(node, tmp_path, "create-group", "--user-pool-id", pool_id, "--group-name", "ops")
    aws_cli(node, tmp_path, "admin-add-user-to-group", "--user-pool-id", pool_id, "--username", user,
            "--group-name", "ops")
    members = aws_cli(node, tmp_path, "list-users-in-group", "--user-pool-id", pool_id, "--group-name", "ops")
    assert [u["Username"] for u in members["Users"]] == [user], members
    auth = aws_cli(node, tmp_path, "admin-initiate-auth", "--user-pool-id", pool_id, "--client-id", client_id,
                   "--auth-flow", "ADMIN_USER_PASSWORD_AUTH",
                   "--auth-parameters", f"USERNAME={user},PASSWORD={PASSWORD}")
    assert claims(auth["AuthenticationResult"]["AccessToken"])["cognito:groups"] == ["ops"], auth
    aws_cli(node, tmp_path, "admin-disable-user", "--user-pool-id", pool_id, "--username", user)
    err = aws_cli_fails(node, tmp_path, "admin-initiate-auth", "--user-pool-id", pool_id, "--client-id", client_id,
                        "--auth-flow", "ADMIN_USER_PASSWORD_AUTH",
                        "--auth-parameters", f"USERNAME={user},PASSWORD={PASSWORD}")
    assert "NotAuthorizedException" in err, err
    aws_cli(node, tmp_path, "admin-delete-user", "--user-pool-id", pool_id, "--username", user)
    err = aws_cli_fails(node, tmp_path, "admin-get-user", "--user-pool-id", pool_id, "--username", user)
    assert "UserNotFoundException" in err, err
    aws_cli(node, tmp_path, "delete-user-pool", "--user-pool-id", pool_id)


def test_rate_limits_raise_the_exceptions_apps_catch(server, smtp_sink):
    node = server(extra_env={"POOLGATE_RATE_LIMITS__SIGNIN__PER_IP": "2",
                             "POOLGATE_RATE_LIMITS__CODE_SEND__PER_IP": "1"})
    admin = signed(node, "cognito-idp")
    pool_id = admin.create_user_pool(PoolName="limits", AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    client_id = admin.create_user_pool_client(UserPoolId=pool_id, ClientName="web",
                                              ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    idp = idp_client(node)
    attempt = lambda: idp.initiate_auth(  # noqa: E731
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "nobody", "PASSWORD": "not the password 1"})
    for _ in range(2):
        raises(idp, "NotAuthorizedException", attempt, "a wrong password under the limit")
    raises(idp, "TooManyRequestsException", attempt, "a sign-in over the per-address limit")
    idp.forgot_password(ClientId=client_id, Username="nobody")
    raises(idp, "LimitExceededException", lambda: idp.forgot_password(ClientId=client_id, Username="nobody"),
           "a second code request over the limit")
