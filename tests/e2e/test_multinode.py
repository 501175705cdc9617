"""Two nodes on one PostgreSQL database behave as one service.

Runs only with POOLGATE_E2E_PG_URL set (the `pg_database` fixture skips
otherwise). Both nodes share one PUBLIC_URL, as nodes behind a load balancer
do, so tokens from either carry the same issuer; each is still called on its
own port.
"""

from __future__ import annotations

import json
import time

import jwt

from e2e_support import (
    PASSWORD,
    confirm_request,
    create_client,
    create_pool,
    email_for,
    expect,
    expect_problem,
    extract_code,
    free_ports,
    jwks,
    jwks_uri_of,
    me,
    refresh,
    signin,
    signin_request,
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


def test_protections_hold_across_nodes(pg_database, server, smtp_sink):
    """Item 8 of the account-lifecycle issue: revocations, disabled users,
    lockout counters and rate limits live in the shared store, so spreading
    requests over nodes gains an attacker nothing."""
    port_a, port_b = free_ports(2)
    public_url = f"http://127.0.0.1:{port_a}"
    # A day-long window, so the count cannot roll over mid-test.
    limits = {
        "POOLGATE_RATE_LIMITS__WINDOW_SECS": "86400",
        "POOLGATE_RATE_LIMITS__CODE_SEND__PER_IP": "4",
    }
    node_a = server(pg_database, port=port_a, public_url=public_url, wait=False, extra_env=limits)
    node_b = server(pg_database, port=port_b, public_url=public_url, wait=False, extra_env=limits)
    node_a.wait_ready()
    node_b.wait_ready()
    pool_id = create_pool(node_a, "e2e-protections")["id"]
    client_id = create_client(node_a, pool_id, "web")["client_id"]

    def new_user(prefix):
        username = unique_username(prefix)
        email = email_for(username)
        signup(node_a, pool_id, client_id, username, email)
        code = extract_code(smtp_sink.wait_for(email))
        expect(confirm_request(node_b, pool_id, client_id, username, code), 200, body=False)
        return username

    # Revocation: a global sign-out on A ends the session on B at once.
    dave = new_user("dave")
    tokens = signin(node_b, pool_id, client_id, dave)
    expect(node_a.post("/v1/me/signout", token=tokens["access_token"]), 200)
    expect_problem(node_b.get("/v1/me", token=tokens["access_token"]), status=401)
    expect_problem(
        node_b.post(
            f"/v1/pools/{pool_id}/token/refresh",
            {"client_id": client_id, "refresh_token": tokens["refresh_token"]},
        ),
        status=401,
    )

    # A user disabled through A cannot sign in, or use a token, on B.
    erin = new_user("erin")
    tokens = signin(node_b, pool_id, client_id, erin)
    expect(node_a.post(f"/v1/admin/pools/{pool_id}/users/{erin}/disable", admin=True), 200)
    expect_problem(node_b.get("/v1/me", token=tokens["access_token"]), status=401)
    expect_problem(signin_request(node_b, pool_id, client_id, erin, PASSWORD), status=401)

    # Failures spread over both nodes add up to one throttle. From the fifth
    # on, each failure locks the account for twice as long (1 s, 2 s, 4 s,
    # 8 s); a locked attempt is refused without counting, so the test waits
    # out each lock (Retry-After) and fails again, alternating nodes, until
    # the lock is long enough (8 s) to observe on both nodes without racing
    # the clock.
    fay = new_user("fay")
    failures, attempt = 0, 0
    while failures < 8:
        node = node_a if attempt % 2 == 0 else node_b
        attempt += 1
        resp = signin_request(node, pool_id, client_id, fay, "wrong " + PASSWORD)
        doc = expect_problem(resp, status=401)
        if doc["detail"] == "Password attempts exceeded":
            # Counted on the other node too: wait out the lock.
            time.sleep(int(resp.headers["Retry-After"]) + 0.2)
            continue
        assert doc["detail"] == "Incorrect username or password.", doc
        failures += 1
        assert attempt < 40, "the throttle never engaged"
    for node in (node_a, node_b):
        resp = signin_request(node, pool_id, client_id, fay, PASSWORD)
        doc = expect_problem(resp, status=401)
        assert doc["detail"] == "Password attempts exceeded", doc
        assert int(resp.headers["Retry-After"]) > 0

    # One rate-limit budget: four code sends, spread over both nodes, use it
    # up (sign-ups are counted apart, so only these resends count).
    gus = unique_username("gus")
    signup(node_a, pool_id, client_id, gus, email_for(gus))
    resend = {"client_id": client_id, "username": gus}
    for i in range(4):
        node = node_a if i % 2 == 0 else node_b
        expect(node.post(f"/v1/pools/{pool_id}/signup/resend", resend), 200)
    for node in (node_a, node_b):
        resp = node.post(f"/v1/pools/{pool_id}/signup/resend", resend)
        expect_problem(resp, "TooManyRequests", status=429)
        assert int(resp.headers["Retry-After"]) > 0


def test_storage_credentials_and_the_deny_list_hold_across_nodes(pg_database, server, smtp_sink):
    """Credentials minted by node A work on node B's gateway (no shared state
    but the master key), and disabling the identity through A stops them on
    B within the deny list's one-second cache."""
    from botocore.exceptions import ClientError

    from test_storage import (
        OWNER_POLICY,
        confirmed_user_id_token,
        create_identity_pool,
        create_role,
        get_credentials,
        get_id,
        s3_client,
        user_pool_provider,
    )

    port_a, port_b = free_ports(2)
    public_url = f"http://127.0.0.1:{port_a}"
    node_a = server(pg_database, port=port_a, public_url=public_url, wait=False)
    node_b = server(pg_database, port=port_b, public_url=public_url, wait=False)
    node_a.wait_ready()
    node_b.wait_ready()
    create_role(node_a, "owner", OWNER_POLICY)
    pool_id = create_pool(node_a, "e2e-storage-nodes")["id"]
    client_id = create_client(node_a, pool_id, "web")["client_id"]
    ipool = create_identity_pool(
        node_a,
        "photos",
        providers=[{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        authenticated_role="owner",
    )
    logins = {user_pool_provider(pool_id): confirmed_user_id_token(node_a, smtp_sink, pool_id, client_id)}
    identity = get_id(node_b, ipool, logins)
    creds = get_credentials(node_a, ipool, identity, logins)
    on_b = s3_client(node_b, creds)
    on_b.put_object(Bucket="photos", Key=f"{identity}/n.txt", Body=b"minted on A, used on B")
    expect(
        node_a.post(f"/v1/admin/identity-pools/{ipool}/identities/{identity}/disable", admin=True),
        204,
        body=False,
    )
    time.sleep(1.5)  # the gateway's per-node deny-list cache holds an answer 1 s
    try:
        on_b.put_object(Bucket="photos", Key=f"{identity}/n2.txt", Body=b"x")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
    else:
        raise AssertionError("a disabled identity's credentials still worked on the other node")


def test_i3_revocation_on_one_node_reaches_the_other_nodes_gateway(pg_database, server, smtp_sink):
    """I3: every revocation made through node A (user disabled, global and
    admin sign-out, identity deleted or unlinked, app client deleted, role
    narrowed or deleted) stops credentials issued before it at node B's
    gateway. B's caches hold an answer at most one second; the test polls B
    for up to 5 s (no timing is asserted) and prints the latency measured
    from A's answer to B's first refusal."""
    from botocore.exceptions import ClientError

    from test_storage import (
        OWNER_POLICY,
        SUB,
        create_identity_pool,
        create_role,
        get_credentials,
        get_id,
        s3_client,
        user_pool_provider,
    )

    port_a, port_b = free_ports(2)
    public_url = f"http://127.0.0.1:{port_a}"
    node_a = server(pg_database, port=port_a, public_url=public_url, wait=False)
    node_b = server(pg_database, port=port_b, public_url=public_url, wait=False)
    node_a.wait_ready()
    node_b.wait_ready()
    create_role(node_a, "owner", OWNER_POLICY)
    pool_id = create_pool(node_a, "e2e-revocation")["id"]
    web = create_client(node_a, pool_id, "web")["client_id"]
    mobile = create_client(node_a, pool_id, "mobile")["client_id"]
    ipool = create_identity_pool(
        node_a,
        "photos",
        providers=[
            {"type": "user_pool", "pool_id": pool_id, "client_ids": [web, mobile]},
            {"type": "developer", "name": "login.example.app"},
        ],
        authenticated_role="owner",
    )

    def user(client_id=web):
        """A signed-in user: (username, tokens, logins, identity, creds)."""
        username = unique_username("rev")
        email = email_for(username)
        signup(node_a, pool_id, client_id, username, email)
        code = extract_code(smtp_sink.wait_for(email))
        expect(confirm_request(node_b, pool_id, client_id, username, code), 200, body=False)
        tokens = signin(node_b, pool_id, client_id, username)
        logins = {user_pool_provider(pool_id): tokens["id_token"]}
        identity = get_id(node_b, ipool, logins)
        creds = get_credentials(node_a, ipool, identity, logins)
        return username, tokens, logins, identity, creds

    def put_on_b(identity, creds):
        s3_client(node_b, creds).put_object(Bucket="photos", Key=f"{identity}/r.txt", Body=b"r")

    latencies = {}

    def revoked(name, identity, creds, revoke):
        put_on_b(identity, creds)  # honoured, and B's caches hold that
        revoke()
        start = time.monotonic()
        deadline = start + 5.0
        last_honoured = None
        while True:
            sent = time.monotonic() - start
            try:
                put_on_b(identity, creds)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
                # When the last request B still honoured was sent, and when
                # the first one it refused was sent (after A answered).
                latencies[name] = (last_honoured, sent)
                return
            last_honoured = sent
            assert time.monotonic() < deadline, f"{name}: still honoured on B after 5 s"
            time.sleep(0.05)

    bystander = user()
    put_on_b(bystander[3], bystander[4])

    name, _, _, identity, creds = user()
    revoked(
        "user disabled",
        identity,
        creds,
        lambda: expect(node_a.post(f"/v1/admin/pools/{pool_id}/users/{name}/disable", admin=True), 200),
    )

    _, tokens, _, identity, creds = user()
    revoked(
        "global sign-out",
        identity,
        creds,
        lambda: expect(node_a.post("/v1/me/signout", token=tokens["access_token"]), 200),
    )

    name, _, _, identity, creds = user()
    revoked(
        "admin global sign-out",
        identity,
        creds,
        lambda: expect(node_a.post(f"/v1/admin/pools/{pool_id}/users/{name}/signout", admin=True), 200),
    )

    _, _, _, identity, creds = user()
    revoked(
        "identity deleted",
        identity,
        creds,
        lambda: expect(
            node_a.request("DELETE", f"/v1/admin/identity-pools/{ipool}/identities/{identity}", admin=True),
            204,
            body=False,
        ),
    )

    _, _, logins, identity, creds = user()
    expect(
        node_a.post(
            f"/v1/admin/identity-pools/{ipool}/developer-identities",
            {"user_identifier": unique_username("dev"), "identity_id": identity},
            admin=True,
        ),
        200,
    )

    def unlink():
        resp = node_a.request(
            "POST",
            "/",
            data=json.dumps(
                {"IdentityId": identity, "Logins": logins, "LoginsToRemove": ["login.example.app"]}
            ),
            headers={
                "content-type": "application/x-amz-json-1.1",
                "x-amz-target": "AWSCognitoIdentityService.UnlinkIdentity",
            },
        )
        assert resp.status_code == 200, resp.text

    revoked("identity unlinked", identity, creds, unlink)
    # Credentials issued after the unlink work on B.
    put_on_b(identity, get_credentials(node_a, ipool, identity, logins))

    _, _, _, identity, creds = user(mobile)
    revoked(
        "app client deleted",
        identity,
        creds,
        lambda: expect(
            node_a.request("DELETE", f"/v1/admin/pools/{pool_id}/clients/{mobile}", admin=True),
            204,
            body=False,
        ),
    )

    # The bystander was never affected.
    put_on_b(bystander[3], bystander[4])

    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::photos/{SUB}/*"}],
    }
    revoked(
        "role narrowed",
        bystander[3],
        bystander[4],
        lambda: expect(node_a.request("PUT", "/v1/admin/roles/owner", json={"policy": read_only}, admin=True), 200),
    )
    # Reading is what the narrowed role still allows.
    got = s3_client(node_b, bystander[4]).get_object(Bucket="photos", Key=f"{bystander[3]}/r.txt")
    assert got["Body"].read() == b"r"
    expect(node_a.request("PUT", "/v1/admin/roles/owner", json={"policy": OWNER_POLICY}, admin=True), 200)
    _, _, _, identity, creds = user()
    # B may hold the narrowed policy for up to a second more: wait (bounded)
    # until it honours writes again before revoking.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            put_on_b(identity, creds)
            break
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
            assert time.monotonic() < deadline, "the restored policy did not reach B in 5 s"
            time.sleep(0.05)
    revoked(
        "role deleted",
        identity,
        creds,
        lambda: expect(node_a.request("DELETE", "/v1/admin/roles/owner", admin=True), 204, body=False),
    )

    ms = lambda t: "-" if t is None else f"{t * 1000:.0f}"  # noqa: E731
    report = ", ".join(f"{k}: {ms(ok)}/{ms(no)} ms" for k, (ok, no) in latencies.items())
    print(f"\nI3 on B after A answered, last request honoured / first refused (sent at): {report}")
