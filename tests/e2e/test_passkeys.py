"""Passkeys end to end through the Cognito wire protocol (boto3), with a
software authenticator written independently of the server
(``softauthn.py``: P-256 keys from ``cryptography``, CBOR from ``cbor2``,
"none" attestation): SetUserPoolMfaConfig's WebAuthnConfiguration,
StartWebAuthnRegistration / CompleteWebAuthnRegistration,
ListWebAuthnCredentials, passwordless sign-in with ``USER_AUTH`` and
``WEB_AUTHN`` (as the preferred challenge and from SELECT_CHALLENGE), a
cloned authenticator's stale counter refused, another origin refused, and
DeleteWebAuthnCredential. WebAuthn refuses IP addresses as relying-party
ids, so the node's public URL is ``http://localhost:<port>``."""

from __future__ import annotations

import json

import pytest

from e2e_support import PASSWORD, email_for, extract_code, free_port, jwks_uri_of, unique_username, verify_id_token
from softauthn import SoftAuthenticator
from test_cognito import admin_idp, idp_client


def passkey_sign_in(idp, client_id: str, email: str, authenticator: SoftAuthenticator, origin: str,
                    credential_id: str | None = None):
    """USER_AUTH with WEB_AUTHN preferred; the answer to its challenge."""
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                          AuthParameters={"USERNAME": email, "PREFERRED_CHALLENGE": "WEB_AUTHN"})
    assert r["ChallengeName"] == "WEB_AUTHN", r
    options = json.loads(r["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    assertion = authenticator.get(options, origin, credential_id=credential_id)
    return idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="WEB_AUTHN", Session=r["Session"],
        ChallengeResponses={"USERNAME": email, "CREDENTIAL": json.dumps(assertion)})


def test_passkeys_with_boto3_and_a_software_authenticator(server, smtp_sink):
    port = free_port()
    origin = f"http://localhost:{port}"
    node = server(port=port, public_url=origin)
    admin = admin_idp(node)
    pool_id = admin.create_user_pool(
        PoolName="passkeys", UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
        Policies={"SignInPolicy": {"AllowedFirstAuthFactors": ["PASSWORD", "WEB_AUTHN"]}})["UserPool"]["Id"]
    client_id = admin.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app",
        ExplicitAuthFlows=["ALLOW_USER_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    cfg = admin.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="OFF",
        WebAuthnConfiguration={"RelyingPartyId": "localhost", "UserVerification": "required"})
    assert cfg["WebAuthnConfiguration"] == {"RelyingPartyId": "localhost", "UserVerification": "required",
                                            "FactorConfiguration": "MULTI_FACTOR_WITH_USER_VERIFICATION"}, cfg

    idp = idp_client(node)
    email = email_for(unique_username("pk"))
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}])
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=extract_code(smtp_sink.wait_for(email)))
    access = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD}
                               )["AuthenticationResult"]["AccessToken"]

    # Registration.
    authenticator = SoftAuthenticator()
    options = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    assert options["rp"]["id"] == "localhost", options
    assert options["authenticatorSelection"]["userVerification"] == "required", options
    credential = authenticator.create(options, origin)
    idp.complete_web_authn_registration(AccessToken=access, Credential=credential)
    listed = idp.list_web_authn_credentials(AccessToken=access)["Credentials"]
    assert [c["CredentialId"] for c in listed] == [credential["id"]], listed
    assert listed[0]["RelyingPartyId"] == "localhost" and listed[0]["AuthenticatorAttachment"] == "platform"
    assert listed[0]["AuthenticatorTransports"] == ["internal"], listed
    # Registering the same authenticator again: its credential is excluded.
    again = idp.start_web_authn_registration(AccessToken=access)["CredentialCreationOptions"]
    assert [c["id"] for c in again["excludeCredentials"]] == [credential["id"]], again

    # Passwordless sign-in; the tokens verify against the pool's JWKS.
    done = passkey_sign_in(idp, client_id, email, authenticator, origin)
    claims = verify_id_token(done["AuthenticationResult"]["IdToken"], jwks_uri=jwks_uri_of(node, pool_id),
                             issuer=node.issuer(pool_id), client_id=client_id)
    assert claims["email"] == email, claims

    # From the choice: WEB_AUTHN is offered and leads to the same challenge.
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters={"USERNAME": email})
    assert r["ChallengeName"] == "SELECT_CHALLENGE" and "WEB_AUTHN" in r["AvailableChallenges"], r
    r = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=r["Session"],
                                      ChallengeResponses={"USERNAME": email, "ANSWER": "WEB_AUTHN"})
    assert r["ChallengeName"] == "WEB_AUTHN", r
    assertion = authenticator.get(json.loads(r["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"]), origin)
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="WEB_AUTHN", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": email, "CREDENTIAL": json.dumps(assertion)})
    assert done["AuthenticationResult"]["AccessToken"], done
    # The same answer again: the challenge was used.
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="WEB_AUTHN", Session=r["Session"],
                                      ChallengeResponses={"USERNAME": email, "CREDENTIAL": json.dumps(assertion)})

    # A cloned authenticator: its counter is behind the original's.
    clone = authenticator.clone()
    passkey_sign_in(idp, client_id, email, authenticator, origin)
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        passkey_sign_in(idp, client_id, email, clone, origin)
    # Another origin (a phishing page): refused.
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        passkey_sign_in(idp, client_id, email, authenticator, "http://localhost.evil.example")
    # The genuine authenticator still works.
    assert passkey_sign_in(idp, client_id, email, authenticator, origin)["AuthenticationResult"]["IdToken"]

    # A name without passkeys gets a challenge like anyone else's; its
    # answer is refused like a wrong passkey.
    stranger = email_for(unique_username("nobody"))
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                          AuthParameters={"USERNAME": stranger, "PREFERRED_CHALLENGE": "WEB_AUTHN"})
    assert r["ChallengeName"] == "WEB_AUTHN", r
    fake = json.loads(r["ChallengeParameters"]["CREDENTIAL_REQUEST_OPTIONS"])
    assert fake["allowCredentials"] and fake["rpId"] == "localhost", fake
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="WEB_AUTHN", Session=r["Session"],
            ChallengeResponses={"USERNAME": stranger, "CREDENTIAL": json.dumps(
                authenticator.get(fake, origin, credential_id=credential["id"]))})

    # Deleted: listed no more, and it no longer signs in (the options no
    # longer name it; the authenticator is made to answer anyway).
    idp.delete_web_authn_credential(AccessToken=access, CredentialId=credential["id"])
    assert idp.list_web_authn_credentials(AccessToken=access)["Credentials"] == []
    with pytest.raises(idp.exceptions.ResourceNotFoundException):
        idp.delete_web_authn_credential(AccessToken=access, CredentialId=credential["id"])
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        passkey_sign_in(idp, client_id, email, authenticator, origin, credential_id=credential["id"])
