"""The gateway's upstream backend: a bucket kept in another S3-speaking server
(moto_server, started here), reached with poolgate's own credentials while
clients use their identity-pool credentials and policies, with boto3."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
import pytest
from botocore.config import Config

from e2e_support import create_client, create_pool, free_port, wait_until
from test_storage import (
    MiB,
    SUB,
    confirmed_user_id_token,
    create_identity_pool,
    create_role,
    get_credentials,
    get_id,
    memory_kib,
    s3_client,
    s3_error,
    sha256_of,
    user_pool_provider,
    write_random_file,
)

MOTO_KEYS = ("moto-access", "moto-secret")
# The upstream store's own region (moto), not the gateway's.
MOTO_REGION = "us-east-1"

REMOTE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": f"arn:aws:s3:::remote/{SUB}/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::remote",
            "Condition": {"StringLike": {"s3:prefix": f"{SUB}/*"}},
        },
    ],
}


@pytest.fixture
def moto(tmp_path):
    """moto_server on a free port, with the upstream bucket `backing`."""
    port = free_port()
    log = open(tmp_path / "moto.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        region_name=MOTO_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=MOTO_KEYS[0],
        aws_secret_access_key=MOTO_KEYS[1],
        config=Config(s3={"addressing_style": "path"}),
    )

    def up():
        try:
            client.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not listening yet
            return None

    try:
        assert wait_until(up, timeout=60), "moto_server did not start"
        client.create_bucket(Bucket="backing")
        yield endpoint, client
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_an_upstream_bucket_is_served_through_the_gateway_with_its_policies(server, smtp_sink, moto, tmp_path):
    endpoint, upstream = moto
    config = tmp_path / "upstream.toml"
    config.write_text(
        f"""
[[storage.upstream_buckets]]
name = "remote"
endpoint = "{endpoint}"
region = "{MOTO_REGION}"
access_key_id = "{MOTO_KEYS[0]}"
secret_access_key = "{MOTO_KEYS[1]}"
upstream_bucket = "backing"
path_style = true
"""
    )
    node = server(extra_env={"POOLGATE_CONFIG": str(config)})
    create_role(node, "remote-owner", REMOTE_POLICY)
    pool_id = create_pool(node, "upstream-users")["id"]
    client_id = create_client(node, pool_id, "web")["client_id"]
    ipool = create_identity_pool(
        node,
        "remote-app",
        providers=[{"type": "user_pool", "pool_id": pool_id, "client_ids": [client_id]}],
        authenticated_role="remote-owner",
    )
    logins = {user_pool_provider(pool_id): confirmed_user_id_token(node, smtp_sink, pool_id, client_id)}
    identity = get_id(node, ipool, logins)
    s3 = s3_client(node, get_credentials(node, ipool, identity, logins))

    key = f"{identity}/note.txt"
    s3.put_object(Bucket="remote", Key=key, Body=b"kept upstream, 0123456789")
    got = s3.get_object(Bucket="remote", Key=key, Range="bytes=0-12")
    assert got["Body"].read() == b"kept upstream", got
    assert s3.head_object(Bucket="remote", Key=key)["ContentLength"] == 25
    listed = s3.list_objects_v2(Bucket="remote", Prefix=f"{identity}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [key], listed
    # It really is in moto's bucket, under the same key.
    assert upstream.get_object(Bucket="backing", Key=key)["Body"].read() == b"kept upstream, 0123456789"

    # Another identity's prefix is refused before anything reaches the upstream.
    s3_error(lambda: s3.put_object(Bucket="remote", Key="someone-else/x.txt", Body=b"x"), "AccessDenied", 403, "foreign put")
    s3_error(lambda: s3.list_objects_v2(Bucket="remote"), "AccessDenied", 403, "list without prefix")
    # Keys that an HTTP stack or the upstream might normalize into another key are refused for
    # upstream buckets (local buckets store them as written: test_storage.py, I4).
    for tricky in [f"{identity}/../someone-else/x.txt", f"{identity}//x.txt"]:
        s3_error(lambda: s3.put_object(Bucket="remote", Key=tricky, Body=b"x"), "InvalidArgument", 400, tricky)
    names = [o["Key"] for o in upstream.list_objects_v2(Bucket="backing").get("Contents", [])]
    assert names == [key], names

    # 30 MiB by multipart streams through (the server's memory does not follow the size).
    src = str(tmp_path / "big.bin")
    digest = write_random_file(src, 30 * MiB)
    before = memory_kib(node.proc.pid)
    s3.upload_file(
        src,
        "remote",
        f"{identity}/big.bin",
        Config=TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB),
    )
    down = str(tmp_path / "big.down")
    s3.download_file("remote", f"{identity}/big.bin", down)
    after = memory_kib(node.proc.pid)
    assert sha256_of(down) == digest
    growth = (after["VmHWM"] - before["VmHWM"]) / 1024
    print(f"upstream 30 MiB: peak RSS grew {growth:.1f} MiB")
    assert growth < 100, f"peak RSS grew {growth:.1f} MiB for a 30 MiB object"
    up_obj = upstream.head_object(Bucket="backing", Key=f"{identity}/big.bin")
    assert up_obj["ContentLength"] == 30 * MiB, up_obj

    s3.delete_object(Bucket="remote", Key=key)
    s3_error(lambda: s3.get_object(Bucket="remote", Key=key), "NoSuchKey", 404, "deleted")
    # The local buckets are still served from the file system.
    assert os.path.isdir(os.path.join(node.workdir, "data", "s3", "photos"))
