"""Multi-factor sign-in end to end through the Cognito wire protocol
(boto3), with TOTP codes computed by an independent implementation
(``pyotp``) and email codes read from the SMTP sink: SetUserPoolMfaConfig,
MFA_SETUP with AssociateSoftwareToken/VerifySoftwareToken on the challenge
session, SOFTWARE_TOKEN_MFA at each sign-in (a code works once), email
one-time codes as the preferred factor, GetUser's MFA members and the
admin's removal of a lost authenticator."""

from __future__ import annotations

import time

import pyotp
import pytest

from e2e_support import PASSWORD, email_for, extract_code, unique_username
from test_cognito import admin_idp, idp_client


def fresh_code(totp: pyotp.TOTP, used: set) -> str:
    """A code of the current step that was not used yet (waits for the
    next step when needed: the server accepts each step once)."""
    for _ in range(70):
        code = totp.now()
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)
    raise AssertionError("no fresh TOTP step within 70 s")


def email_pool(node, name: str):
    """(signed admin client, pool id, app client id) of an email-as-username pool."""
    admin = admin_idp(node)
    pool_id = admin.create_user_pool(PoolName=name, AutoVerifiedAttributes=["email"],
                                     UsernameAttributes=["email"])["UserPool"]["Id"]
    client_id = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    return admin, pool_id, client_id


def confirmed_user(idp, smtp_sink, client_id: str, prefix: str) -> str:
    """Signs a new user up and confirms it with the mailed code; its email."""
    email = email_for(unique_username(prefix))
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}])
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=extract_code(smtp_sink.wait_for(email)))
    return email


def test_totp_mfa_setup_and_sign_in_with_boto3_and_pyotp(server, smtp_sink):
    node = server()
    admin, pool_id, client_id = email_pool(node, "mfa")
    cfg = admin.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="ON",
                                         SoftwareTokenMfaConfiguration={"Enabled": True})
    assert cfg["MfaConfiguration"] == "ON" and cfg["SoftwareTokenMfaConfiguration"]["Enabled"] is True
    assert admin.get_user_pool_mfa_config(UserPoolId=pool_id)["MfaConfiguration"] == "ON"
    assert admin.describe_user_pool(UserPoolId=pool_id)["UserPool"]["MfaConfiguration"] == "ON"

    idp = idp_client(node)
    email = confirmed_user(idp, smtp_sink, client_id, "mfa")

    # MFA is ON and the user has no factor: MFA_SETUP.
    auth = {"USERNAME": email, "PASSWORD": PASSWORD}
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert r["ChallengeName"] == "MFA_SETUP" and "AuthenticationResult" not in r, r
    assoc = idp.associate_software_token(Session=r["Session"])
    totp = pyotp.TOTP(assoc["SecretCode"])
    used: set = set()
    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.verify_software_token(Session=assoc["Session"], UserCode="000000" if totp.now() != "000000" else "111111")
    v = idp.verify_software_token(Session=assoc["Session"], UserCode=fresh_code(totp, used),
                                  FriendlyDeviceName="pyotp")
    assert v["Status"] == "SUCCESS", v
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="MFA_SETUP", Session=v["Session"],
                                         ChallengeResponses={"USERNAME": email})
    access = done["AuthenticationResult"]["AccessToken"]
    me = idp.get_user(AccessToken=access)
    assert me["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"], me
    assert me["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA", me

    # Every sign-in now asks for a code; each code works once.
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert r["ChallengeName"] == "SOFTWARE_TOKEN_MFA", r
    code = fresh_code(totp, used)
    ok = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=r["Session"],
                                       ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code})
    assert ok["AuthenticationResult"]["IdToken"], ok
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=r["Session"],
                                      ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code})

    # The admin removes the authenticator; with MFA ON the user sets one up again.
    admin.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=email,
                                        SoftwareTokenMfaSettings={"Enabled": False})
    got = admin.admin_get_user(UserPoolId=pool_id, Username=email)
    assert got.get("UserMFASettingList", []) == [], got
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert r["ChallengeName"] == "MFA_SETUP", r


def test_email_codes_as_the_preferred_factor(server, smtp_sink):
    node = server()
    admin, pool_id, client_id = email_pool(node, "mail-mfa")
    admin.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                   EmailMfaConfiguration={"Subject": "Sign-in code", "Message": "Your code: {####}"})
    idp = idp_client(node)
    email = confirmed_user(idp, smtp_sink, client_id, "otp")
    auth = {"USERNAME": email, "PASSWORD": PASSWORD}
    first = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert "AuthenticationResult" in first, "OPTIONAL and no factor yet: one step"
    access = first["AuthenticationResult"]["AccessToken"]
    idp.set_user_mfa_preference(AccessToken=access, EmailMfaSettings={"Enabled": True, "PreferredMfa": True})

    before = len(smtp_sink.messages_to(email))
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert r["ChallengeName"] == "EMAIL_OTP", r
    assert r["ChallengeParameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"] == "EMAIL", r
    mail = smtp_sink.wait_for(email, n=before + 1)
    assert mail.subject == "Sign-in code", mail.subject
    code = extract_code(mail)
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="EMAIL_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": email, "EMAIL_OTP_CODE": code})
    assert done["AuthenticationResult"]["AccessToken"], done
    assert idp.get_user(AccessToken=access)["PreferredMfaSetting"] == "EMAIL_OTP"
