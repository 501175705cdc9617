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


def _vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def test_random_methods_and_paths_leave_memory_and_metrics_flat(server):
    """10,000 requests with invented methods and paths: the server's resident
    memory and the /metrics text stay flat (bounded label values)."""
    import random
    import string

    node = server()
    rng = random.Random(8)
    session = node._http

    def word(n: int, alphabet: str = string.ascii_lowercase) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def flood(n: int) -> None:
        for i in range(n):
            method = word(rng.randint(5, 11), string.ascii_uppercase)
            seg = word(10)
            path = [f"/{seg}/{word(6)}", f"/v1/pools/{seg}/signin", f"/{seg}/login", f"/v1/{seg}?{word(4)}={seg}"][i % 4]
            r = session.request(method, node.url + path, timeout=10)
            assert 400 <= r.status_code < 500, (method, path, r.status_code)

    def metrics_size() -> int:
        r = session.get(node.url + "/metrics", timeout=10)
        assert r.status_code == 200
        return len(r.content)

    flood(1_000)  # warm-up: allocator arenas, every reachable series
    metrics_size()  # and the scrape's own series
    rss0, size0 = _vm_rss_kib(node.proc.pid), metrics_size()
    flood(10_000)
    rss1, size1 = _vm_rss_kib(node.proc.pid), metrics_size()
    print(f"VmRSS {rss0} -> {rss1} KiB; /metrics {size0} -> {size1} bytes")
    # Only this test's traffic reaches this server: the scrape may gain a
    # digit in a few counter values, never a series (one per request would
    # add megabytes).
    assert size1 <= size0 + 4096, f"/metrics grew from {size0} to {size1} bytes"
    assert rss1 <= rss0 + 32 * 1024, f"VmRSS grew from {rss0} to {rss1} KiB"
