"""Importing users whose password hashes were made by independent tools
(argon2-cffi, bcrypt, passlib), signing in with the plaintext, and checking
that each hash was upgraded to the server's argon2id, which argon2-cffi in
turn accepts in the export."""

from __future__ import annotations

import json
import unicodedata

import argon2
import bcrypt
from passlib.hash import pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512, scrypt

from e2e_support import create_client, create_pool, expect, expect_problem, signin, signin_request


def hashes():
    """(email, password, hash) made outside poolgate."""
    fancy = "ﬁne ① passphrase, typed with ligatures"  # NFKC changes it
    weak_argon = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=2)
    return [
        ("argon2id@example.com", "argon2 cffi passphrase", argon2.PasswordHasher().hash("argon2 cffi passphrase")),
        ("argon2-old@example.com", "older parameters here", weak_argon.hash("older parameters here")),
        ("argon2-nfkc@example.com", fancy, argon2.PasswordHasher().hash(fancy)),
        ("bcrypt@example.com", "bcrypt made this one", bcrypt.hashpw(b"bcrypt made this one", bcrypt.gensalt(rounds=6)).decode()),
        ("pbkdf2-sha256@example.com", "passlib pbkdf2 sha256", pbkdf2_sha256.using(rounds=2000).hash("passlib pbkdf2 sha256")),
        ("pbkdf2-sha512@example.com", "passlib pbkdf2 sha512", pbkdf2_sha512.using(rounds=2000).hash("passlib pbkdf2 sha512")),
        ("pbkdf2-sha1@example.com", "passlib pbkdf2 sha1 x", pbkdf2_sha1.using(rounds=2000).hash("passlib pbkdf2 sha1 x")),
        ("scrypt@example.com", "passlib scrypt phrase", scrypt.using(rounds=10).hash("passlib scrypt phrase")),
    ]


def test_hashes_from_independent_tools_import_sign_in_and_upgrade(server):
    node = server()
    pool = expect(
        node.post("/v1/admin/pools", {"name": "e2e-import", "username_attributes": ["email"]}, admin=True), 201
    )
    pool_id = pool["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    made = hashes()
    lines = [
        json.dumps(
            {
                "username": email,
                "status": "CONFIRMED",
                "attributes": {"email": email, "email_verified": "true"},
                "password_hash": h,
            }
        )
        for email, _, h in made
    ]
    resp = node.post(
        f"/v1/admin/pools/{pool_id}/import",
        data="\n".join(lines) + "\n",
        headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {node.admin_key}"},
    )
    report = expect(resp, 200)
    assert report["imported"] == len(made) and report["failed"] == [], report

    for email, password, _ in made:
        doc = expect_problem(signin_request(node, pool_id, client_id, email, password + "!"), status=401)
        assert doc["code"] == "NotAuthorized", doc
        signin(node, pool_id, client_id, email, password)
        # Upgraded: the second sign-in runs against the new argon2id hash.
        signin(node, pool_id, client_id, email, password)

    resp = node.get(f"/v1/admin/pools/{pool_id}/export", admin=True)
    expect(resp, 200, body=False)
    assert resp.headers["Content-Type"] == "application/x-ndjson", resp.headers
    exported = {u["attributes"]["email"]: u for u in map(json.loads, resp.text.splitlines())}
    checker = argon2.PasswordHasher()
    for email, password, original in made:
        stored = exported[email]["password_hash"]
        assert stored.startswith("$argon2id$v=19$"), (email, stored)
        if email != "argon2id@example.com":
            assert stored != original, f"{email} was not upgraded"
        # argon2-cffi verifies what poolgate stored (poolgate hashes the
        # NFKC form of a password).
        assert checker.verify(stored, unicodedata.normalize("NFKC", password))


def test_an_unknown_hash_format_is_refused_by_line(server):
    node = server()
    pool_id = create_pool(node, "e2e-import-bad")["id"]
    body = json.dumps({"username": "eve", "status": "CONFIRMED", "password_hash": "$1$md5$crypt"}) + "\n"
    resp = node.post(
        f"/v1/admin/pools/{pool_id}/import",
        data=body,
        headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {node.admin_key}"},
    )
    report = expect(resp, 200)
    assert report["imported"] == 0, report
    assert report["failed"][0]["line"] == 1 and report["failed"][0]["code"] == "InvalidParameter", report
