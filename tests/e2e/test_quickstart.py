"""The quick-start path on one SQLite node, with mail going through real SMTP."""

from __future__ import annotations

import jwt

from e2e_support import (
    COMMON_LONG_PASSWORD,
    PASSWORD,
    confirm_request,
    create_client,
    create_pool,
    discovery,
    email_for,
    expect,
    expect_problem,
    extract_code,
    jwks,
    me,
    other_code,
    refresh,
    signin,
    signin_request,
    signup,
    signup_request,
    unique_username,
    verify_access_token,
    verify_id_token,
)


def test_signup_confirm_signin_refresh_with_real_smtp(server, smtp_sink):
    node = server()

    # Admin: a pool and a public app client.
    pool_id = create_pool(node, "e2e")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]

    # OIDC discovery and JWKS.
    issuer = node.issuer(pool_id)
    disco = discovery(node, pool_id)
    jwks_uri = disco["jwks_uri"]
    published_kids = {k["kid"] for k in jwks(node, pool_id)["keys"]}

    # Sign up; the code arrives by SMTP.
    username = unique_username("alice")
    email = email_for(username)
    user_sub = signup(node, pool_id, client_id, username, email)["user_sub"]
    mail = smtp_sink.wait_for(email)
    assert mail.subject.strip(), "confirmation mail has no subject"
    code = extract_code(mail)

    # A wrong code is refused, the right one confirms.
    expect_problem(confirm_request(node, pool_id, client_id, username, other_code(code)), "CodeMismatch")
    expect(confirm_request(node, pool_id, client_id, username, code), 200, body=False)

    # A wrong password is refused.
    expect_problem(signin_request(node, pool_id, client_id, username, PASSWORD + "x"), "NotAuthorized")

    # Sign in and check both JWTs against the published JWKS.
    tokens = signin(node, pool_id, client_id, username)
    id_claims = verify_id_token(tokens["id_token"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id)
    access_claims = verify_access_token(
        tokens["access_token"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id
    )
    assert id_claims["sub"] == user_sub, id_claims
    assert id_claims["cognito:username"] == username, id_claims
    assert id_claims["email"] == email, id_claims
    assert id_claims["email_verified"] is True, id_claims
    assert access_claims["sub"] == user_sub, access_claims
    assert access_claims["username"] == username, access_claims
    for token in (tokens["id_token"], tokens["access_token"]):
        assert jwt.get_unverified_header(token)["kid"] in published_kids

    # The access token works on /v1/me.
    profile = me(node, tokens["access_token"])
    assert profile["username"] == username, profile
    assert profile["sub"] == user_sub, profile
    assert profile["status"] == "CONFIRMED", profile
    assert profile["attributes"]["email"] == email, profile

    # Refresh gives a new, valid access token for the same user.
    fresh = refresh(node, pool_id, client_id, tokens["refresh_token"])
    fresh_access = verify_access_token(
        fresh["access_token"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id
    )
    assert fresh_access["sub"] == user_sub, fresh_access
    assert fresh_access["username"] == username, fresh_access
    fresh_id = verify_id_token(fresh["id_token"], jwks_uri=jwks_uri, issuer=issuer, client_id=client_id)
    assert fresh_id["sub"] == user_sub, fresh_id
    assert me(node, fresh["access_token"])["sub"] == user_sub


def test_signup_error_codes(server, smtp_sink):
    node = server()
    pool_id = create_pool(node, "e2e-errors")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]

    # Too short, and common (long enough but on the built-in list).
    for bad in ("short", COMMON_LONG_PASSWORD):
        username = unique_username("weak")
        expect_problem(
            signup_request(node, pool_id, client_id, username, bad, email_for(username)),
            "InvalidPassword",
        )

    username = unique_username("bob")
    email = email_for(username)
    signup(node, pool_id, client_id, username, email)

    # The same username again.
    expect_problem(signup_request(node, pool_id, client_id, username, PASSWORD, email), "UsernameExists")

    # Right password, but not confirmed yet.
    expect_problem(signin_request(node, pool_id, client_id, username, PASSWORD), "UserNotConfirmed")

    # After confirmation the same sign-in works.
    code = extract_code(smtp_sink.wait_for(email))
    expect(confirm_request(node, pool_id, client_id, username, code), 200, body=False)
    signin(node, pool_id, client_id, username)
