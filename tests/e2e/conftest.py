"""Fixtures for the poolgate end-to-end tests.

Environment:

- ``POOLGATE_BIN`` (required): path of the built binary, e.g. ``target/release/poolgate``.
  A test that needs a server fails (does not skip) when it is missing.
- ``POOLGATE_E2E_PG_URL`` (optional): a PostgreSQL URL whose role may CREATE
  DATABASE, e.g. ``postgres://postgres@127.0.0.1:5432/postgres``. The
  PostgreSQL tests create a fresh ``pg_e2e_<random>`` database with ``psql``
  and drop it afterwards; without the variable they are skipped.

Fixtures:

- ``smtp_sink``: an aiosmtpd sink on 127.0.0.1 (free port) collecting messages;
- ``cluster_secrets``: admin key (40 chars) and master key (64 hex) shared by
  all nodes of one test;
- ``server``: a starter, ``server(db_url=None, *, port=None, public_url=None,
  wait=True, extra_env=None)`` -> ``Node``; each node gets a fresh temp dir as
  its cwd, SQLite at ``<tmp>/data/poolgate.db`` unless a db_url is given, the
  SMTP sink as its mailer, and is stopped with SIGTERM at teardown. When a
  test fails, every node's stderr/stdout is attached to the report;
- ``pg_database``: URL of a fresh PostgreSQL database (see above);
- ``oidc_idp``: a starter, ``oidc_idp(clients, accounts, **options)`` -> ``OidcIdp``,
  for an external OpenID Provider (oidc-provider, ``js/idp_server.mjs``; options
  as for ``e2e_support.start_idp``); every IdP started is stopped at teardown and
  its log is attached to the report of a failed test. Needs node and
  ``npm ci --prefix tests/e2e/js``, not POOLGATE_BIN.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import (  # noqa: E402
    ClusterSecrets,
    Node,
    OidcIdp,
    SmtpSink,
    free_port,
    start_idp,
)

# --------------------------------------------------------------------------- reporting


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for node in getattr(item, "_poolgate_nodes", []):
            report.sections.append((f"poolgate node {node.name} ({node.url})", node.log_tail()))
        for idp in getattr(item, "_poolgate_idps", []):
            report.sections.append((f"external IdP {idp.issuer or '(not started)'}", idp.log_tail()))
    return report


# --------------------------------------------------------------------------- binary


@pytest.fixture(scope="session")
def poolgate_bin() -> str:
    value = os.environ.get("POOLGATE_BIN", "").strip()
    if not value:
        pytest.fail(
            "POOLGATE_BIN is not set: build the server (cargo build --release --locked "
            "--bin poolgate) and run with POOLGATE_BIN=target/release/poolgate",
            pytrace=False,
        )
    path = os.path.abspath(value) if os.sep in value else shutil.which(value)
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(f"POOLGATE_BIN={value!r} is not an executable file", pytrace=False)
    return path


# --------------------------------------------------------------------------- SMTP


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


# --------------------------------------------------------------------------- servers


@pytest.fixture
def cluster_secrets() -> ClusterSecrets:
    return ClusterSecrets.generate()


@pytest.fixture
def server(request, poolgate_bin, smtp_sink, cluster_secrets, tmp_path_factory):
    nodes: list[Node] = []
    request.node._poolgate_nodes = nodes

    def start(
        db_url: Optional[str] = None,
        *,
        port: Optional[int] = None,
        public_url: Optional[str] = None,
        wait: bool = True,
        extra_env: Optional[dict] = None,
    ) -> Node:
        name = chr(ord("a") + len(nodes))
        workdir = str(tmp_path_factory.mktemp(f"poolgate-{name}-"))
        os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
        port = port or free_port()
        s3_port = free_port()
        public_url = public_url or f"http://127.0.0.1:{port}"
        if db_url is None:
            db_url = f"sqlite://{workdir}/data/poolgate.db?mode=rwc"

        # The caller's POOLGATE_* variables (including this suite's own) must not
        # leak into the server's configuration.
        env = {k: v for k, v in os.environ.items() if not k.startswith("POOLGATE_")}
        env.update(
            {
                "POOLGATE_SERVER__BIND": f"127.0.0.1:{port}",
                "POOLGATE_SERVER__PUBLIC_URL": public_url,
                "POOLGATE_DATABASE__URL": db_url,
                "POOLGATE_MAILER__KIND": "smtp",
                "POOLGATE_MAILER__SMTP__HOST": smtp_sink.host,
                "POOLGATE_MAILER__SMTP__PORT": str(smtp_sink.port),
                "POOLGATE_MAILER__SMTP__TLS": "none",
                "POOLGATE_MAILER__FROM": "no-reply@poolgate.test",
                "POOLGATE_SECURITY__ADMIN_KEYS": cluster_secrets.admin_key,
                "POOLGATE_SECURITY__MASTER_KEY": cluster_secrets.master_key,
                "POOLGATE_LOG__FORMAT": "json",
                "POOLGATE_STORAGE__BIND": f"127.0.0.1:{s3_port}",
                "POOLGATE_STORAGE__ROOT": os.path.join(workdir, "data", "s3"),
                "POOLGATE_STORAGE__BUCKETS": "photos,public",
            }
        )
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(extra_env or {})

        node = Node(
            name=name,
            binary=poolgate_bin,
            workdir=workdir,
            port=port,
            s3_port=s3_port,
            public_url=public_url,
            db_url=db_url,
            env=env,
            admin_key=cluster_secrets.admin_key,
        )
        nodes.append(node)
        node.start()
        if wait:
            node.wait_ready()
        return node

    try:
        yield start
    finally:
        for node in reversed(nodes):
            node.stop()


# --------------------------------------------------------------------------- PostgreSQL


def _psql(admin_url: str, sql: str) -> None:
    psql = shutil.which("psql")
    if not psql:
        pytest.fail("POOLGATE_E2E_PG_URL is set but the `psql` client is not on PATH", pytrace=False)
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    proc = subprocess.run(
        [psql, admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({proc.returncode}) on {sql!r}: {proc.stderr.strip()}")


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@pytest.fixture
def pg_database():
    admin_url = os.environ.get("POOLGATE_E2E_PG_URL", "").strip()
    if not admin_url:
        pytest.skip(
            "PostgreSQL e2e tests need POOLGATE_E2E_PG_URL "
            "(e.g. postgres://postgres@127.0.0.1:5432/postgres, a role that may CREATE DATABASE)"
        )
    name = f"pg_e2e_{secrets.token_hex(6)}"
    try:
        _psql(admin_url, f'CREATE DATABASE "{name}"')
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield _with_database(admin_url, name)
    finally:
        try:
            # WITH (FORCE): PostgreSQL 13+; ends sessions a crashed node left behind.
            _psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except RuntimeError:
            _psql(admin_url, f'DROP DATABASE IF EXISTS "{name}"')


# --------------------------------------------------------------------------- external OpenID Provider


@pytest.fixture
def oidc_idp(request, tmp_path_factory):
    idps: list[OidcIdp] = []
    request.node._poolgate_idps = idps

    def start(clients: list[dict], accounts: dict[str, dict], **options: Any) -> OidcIdp:
        idp = start_idp(tmp_path_factory.mktemp("oidc-idp-"), clients, accounts, **options)
        idps.append(idp)
        return idp

    try:
        yield start
    finally:
        for idp in reversed(idps):
            idp.stop()
