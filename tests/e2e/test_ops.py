"""Operational endpoints: health, metrics, OpenAPI; and bad input answered as 4xx."""

from __future__ import annotations

import re

from e2e_support import (
    PASSWORD,
    create_client,
    create_pool,
    email_for,
    expect,
    expect_problem,
    unique_username,
    wait_until,
)

METRIC_LINE = re.compile(r"^http_requests_total(\{[^}]*\})?\s+[0-9.eE+-]+", re.M)


def test_health_metrics_openapi(server):
    node = server()

    expect(node.get("/health/live"), 200, body=False)
    expect(node.get("/health/ready"), 200, body=False)

    # Some traffic for the request counter (an answered 404 counts too).
    doc = expect(node.get("/openapi.json"), 200)
    node.get("/v1/this-route-does-not-exist")
    for _ in range(3):
        node.get("/health/live")

    assert str(doc.get("openapi", "")).startswith("3"), f"not an OpenAPI 3 document: {list(doc)[:10]}"
    paths = doc.get("paths")
    assert isinstance(paths, dict), "openapi.json has no `paths`"
    assert "/v1/pools/{pool_id}/signup" in paths, sorted(paths)

    def counted():
        r = node.get("/metrics", headers={"Accept": "text/plain"})
        return r if r.status_code == 200 and METRIC_LINE.search(r.text) else None

    metrics = wait_until(counted, timeout=15)
    if metrics is None:
        last = node.get("/metrics", headers={"Accept": "text/plain"})
        raise AssertionError(
            f"/metrics has no http_requests_total sample: {last.status_code}\n{last.text[:3000]}"
        )
    assert metrics.headers.get("Content-Type", "").startswith("text/plain"), metrics.headers


def test_malformed_requests_are_client_errors(server):
    node = server()
    pool_id = create_pool(node, "e2e-bad-input")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    username = unique_username("mallory")
    good = {
        "client_id": client_id,
        "username": username,
        "password": PASSWORD,
        "attributes": {"email": email_for(username)},
    }
    path = f"/v1/pools/{pool_id}/signup"

    # Not JSON at all.
    expect_problem(
        node.request("POST", path, data=b"{not json", headers={"Content-Type": "application/json"})
    )
    # Unknown member.
    expect_problem(node.post(path, {**good, "is_admin": True}))
    # Wrong type.
    expect_problem(node.post(path, {**good, "username": 12345}))
    # Malformed bearer token.
    expect_problem(node.get("/v1/me", token="not-a-jwt"))
    # Admin API without, and with a wrong, admin key.
    expect_problem(node.post("/v1/admin/pools", {"name": "nope"}))
    expect_problem(node.post("/v1/admin/pools", {"name": "nope"}, token="x" * 40))

    # None of that broke anything: the good request still works.
    r = node.post(path, good)
    assert r.status_code == 200, f"{r.status_code} {r.text[:1000]}"


def test_unknown_pool_is_404_problem(server):
    node = server()
    r = node.get("/local-east-1_AAAAAAAAA/.well-known/jwks.json")
    assert r.status_code == 404, f"{r.status_code} {r.text[:500]}"
    r = node.post(
        "/v1/pools/local-east-1_AAAAAAAAA/signin",
        {"client_id": "a" * 26, "username": "nobody", "password": PASSWORD},
    )
    assert 400 <= r.status_code < 500, f"{r.status_code} {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("application/problem+json"), r.headers
