"""Two nodes on one PostgreSQL database behave as one service.

Runs only with POOLGATE_E2E_PG_URL set (the `pg_database` fixture skips
otherwise). Both nodes share one PUBLIC_URL, as nodes behind a load balancer
do, so tokens from either carry the same issuer; each is still called on its
own port.
"""

from __future__ import annotations

import jwt

from e2e_support import (
    confirm_request,
    create_client,
    create_pool,
    email_for,
    expect,
    extract_code,
    free_ports,
    jwks,
    jwks_uri_of,
    me,
    refresh,
    signin,
    signup,
    unique_username,
    verify_access_token,
    verify_id_token,
)


def test_two_nodes_share_one_postgres(pg_database, server, smtp_sink):
    port_a, port_b = free_ports(2)
    public_url = f"http://127.0.0.1:{port_a}"

    # Start both at the same moment: both run the migrations at start-up.
    node_a = server(pg_database, port=port_a, public_url=public_url, wait=False)
    node_b = server(pg_database, port=port_b, public_url=public_url, wait=False)
    node_a.wait_ready()
    node_b.wait_ready()

    # A pool made through A exists on B, with the same signing keys.
    pool_id = create_pool(node_a, "e2e-multinode")["id"]
    client_id = create_client(node_a, pool_id, "web")["client_id"]
    kids_a = {k["kid"] for k in jwks(node_a, pool_id)["keys"]}
    kids_b = {k["kid"] for k in jwks(node_b, pool_id)["keys"]}
    assert kids_a == kids_b, (kids_a, kids_b)
    issuer = f"{public_url}/{pool_id}"
    for node in (node_a, node_b):
        disco = expect(node.get(f"/{pool_id}/.well-known/openid-configuration"), 200)
        assert disco["issuer"] == issuer, disco

    # Sign up on A, confirm on B with the mailed code.
    username = unique_username("carol")
    email = email_for(username)
    user_sub = signup(node_a, pool_id, client_id, username, email)["user_sub"]
    code = extract_code(smtp_sink.wait_for(email))
    expect(confirm_request(node_b, pool_id, client_id, username, code), 200, body=False)

    # Sign in on B; A accepts B's tokens and verifies them with A's JWKS.
    tokens = signin(node_b, pool_id, client_id, username)
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] in kids_a
    id_claims = verify_id_token(
        tokens["id_token"], jwks_uri=jwks_uri_of(node_a, pool_id), issuer=issuer, client_id=client_id
    )
    access_claims = verify_access_token(
        tokens["access_token"],
        jwks_uri=jwks_uri_of(node_a, pool_id),
        issuer=issuer,
        client_id=client_id,
    )
    assert id_claims["sub"] == access_claims["sub"] == user_sub
    assert id_claims["email_verified"] is True, id_claims

    profile = me(node_a, tokens["access_token"])
    assert profile["sub"] == user_sub, profile
    assert profile["status"] == "CONFIRMED", profile

    # Refresh on A a token family started on B; B accepts the result.
    fresh = refresh(node_a, pool_id, client_id, tokens["refresh_token"])
    fresh_claims = verify_access_token(
        fresh["access_token"],
        jwks_uri=jwks_uri_of(node_b, pool_id),
        issuer=issuer,
        client_id=client_id,
    )
    assert fresh_claims["sub"] == user_sub, fresh_claims
    assert me(node_b, fresh["access_token"])["sub"] == user_sub
