#!/usr/bin/env python3
"""Structural checks of docker-compose.yml (no Docker engine needed).

`docker compose config` needs an engine, which CI does not have, so this loads
the file with PyYAML's safe loader and asserts the shape the stack relies on.

Run either way:

    python3 tests/lint/check_compose.py          # prints "N passed, N failed"
    python3 -m pytest tests/lint/check_compose.py

Needs PyYAML (`pip install pyyaml`).
"""

from __future__ import annotations

import os
import re
import sys
import traceback

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE_PATH = os.path.join(REPO, "docker-compose.yml")
DOCKERFILE_PATH = os.path.join(REPO, "Dockerfile")

_cache: dict | None = None


def compose() -> dict:
    global _cache
    if _cache is None:
        with open(COMPOSE_PATH, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        assert isinstance(doc, dict), "docker-compose.yml must be a mapping"
        _cache = doc
    return _cache


def service(name: str) -> dict:
    services = compose().get("services")
    assert isinstance(services, dict), "top-level `services` must be a mapping"
    svc = services.get(name)
    assert isinstance(svc, dict), f"service `{name}` missing"
    return svc


def env_of(svc: dict) -> dict[str, str]:
    """Environment as a dict, whether written as a mapping or a KEY=VALUE list."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    assert isinstance(env, dict), "`environment` must be a mapping or a list"
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def port_mappings(svc: dict) -> set[tuple[str, str]]:
    """(published, target) pairs, from short ("8080:8080") or long syntax."""
    out = set()
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.add((str(p.get("published")), str(p.get("target"))))
            continue
        # Unquoted xx:yy can be read as a base-60 int by YAML 1.1 loaders.
        assert isinstance(p, str), f"port {p!r} must be a quoted string"
        spec = p.split("/")[0]
        parts = spec.split(":")
        assert len(parts) >= 2, f"port {p!r} must publish host:container"
        out.add((parts[-2], parts[-1]))
    return out


def volume_targets(svc: dict) -> dict[str, str]:
    """target path -> source, from short ("src:/target") or long syntax."""
    out = {}
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out[str(v.get("target"))] = str(v.get("source"))
        else:
            parts = str(v).split(":")
            assert len(parts) >= 2, f"volume {v!r} must be source:target"
            out[parts[1]] = parts[0]
    return out


# --------------------------------------------------------------------------- tests


def test_services_present():
    services = compose().get("services")
    assert isinstance(services, dict)
    assert {"postgres", "poolgate"} <= set(services), sorted(services)


def test_postgres_service():
    pg = service("postgres")
    image = str(pg.get("image", ""))
    assert re.fullmatch(r"postgres:16([.\-].*)?", image), image
    env = env_of(pg)
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert env.get(key), f"postgres needs {key}"

    hc = pg.get("healthcheck")
    assert isinstance(hc, dict), "postgres needs a healthcheck"
    test = hc.get("test")
    test_text = " ".join(test) if isinstance(test, list) else str(test)
    assert "pg_isready" in test_text, test_text

    vols = volume_targets(pg)
    assert "/var/lib/postgresql/data" in vols, vols
    assert vols["/var/lib/postgresql/data"] in (compose().get("volumes") or {}), (
        "postgres data must be a named volume declared at top level"
    )


def test_poolgate_builds_and_waits_for_healthy_postgres():
    pg_svc = service("poolgate")
    build = pg_svc.get("build")
    ctx = build.get("context") if isinstance(build, dict) else build
    assert ctx in (".", "./"), f"poolgate must build from the repo root, got {build!r}"
    assert os.path.isfile(DOCKERFILE_PATH), "Dockerfile missing at repo root"

    depends = pg_svc.get("depends_on")
    assert isinstance(depends, dict), "depends_on must use the long form with a condition"
    assert depends.get("postgres", {}).get("condition") == "service_healthy", depends


def test_poolgate_environment():
    env = env_of(service("poolgate"))
    url = env.get("POOLGATE_DATABASE__URL", "")
    assert url == "postgres://poolgate:poolgate@postgres:5432/poolgate", url

    pg_env = env_of(service("postgres"))
    m = re.fullmatch(r"postgres://([^:]+):([^@]+)@postgres:5432/(.+)", url)
    assert m, url
    assert m.groups() == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    ), "database URL must match the postgres service's user/password/db"

    assert env.get("POOLGATE_SERVER__PUBLIC_URL") == "http://localhost:8080"
    assert env.get("POOLGATE_SECURITY__MASTER_KEY_FILE") == "/run/secrets/master_key"
    # The master key must never be inlined in the compose file.
    assert "POOLGATE_SECURITY__MASTER_KEY" not in env


def test_master_key_secret():
    pool = service("poolgate")
    refs = []
    for s in pool.get("secrets") or []:
        refs.append(s.get("source") if isinstance(s, dict) else s)
    assert "master_key" in refs, refs
    for s in pool.get("secrets") or []:
        if isinstance(s, dict) and s.get("source") == "master_key" and s.get("target"):
            assert s["target"] in ("master_key", "/run/secrets/master_key"), s

    top = compose().get("secrets")
    assert isinstance(top, dict) and "master_key" in top, "top-level secrets.master_key missing"
    assert top["master_key"].get("file") in ("./secrets/master_key.txt", "secrets/master_key.txt")


def test_poolgate_ports():
    ports = port_mappings(service("poolgate"))
    assert ("8080", "8080") in ports, ports
    assert ("9000", "9000") in ports, ports


def test_poolgate_data_volume():
    vols = volume_targets(service("poolgate"))
    assert "/var/lib/poolgate/data" in vols, vols
    src = vols["/var/lib/poolgate/data"]
    assert src in (compose().get("volumes") or {}), (
        f"poolgate data volume {src!r} must be declared at top level"
    )


def test_healthchecks_present():
    # postgres declares its own; poolgate gets one from the Dockerfile
    # (or may declare one in compose).
    assert isinstance(service("postgres").get("healthcheck"), dict)
    if not isinstance(service("poolgate").get("healthcheck"), dict):
        with open(DOCKERFILE_PATH, encoding="utf-8") as f:
            dockerfile = f.read()
        assert re.search(r"^HEALTHCHECK\b", dockerfile, re.M), (
            "poolgate needs a healthcheck in compose or in the Dockerfile"
        )


def test_dockerfile_agrees_with_compose():
    with open(DOCKERFILE_PATH, encoding="utf-8") as f:
        dockerfile = f.read()
    m = re.search(r"^EXPOSE\s+(.+)$", dockerfile, re.M)
    assert m, "Dockerfile has no EXPOSE"
    exposed = set(m.group(1).split())
    for _, target in port_mappings(service("poolgate")):
        assert target in exposed, f"compose publishes {target} but Dockerfile exposes {exposed}"
    assert re.search(r"^VOLUME\s+\[?\"?/var/lib/poolgate/data", dockerfile, re.M)


# --------------------------------------------------------------------------- runner


def main() -> int:
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure, then exit non-zero
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
