"""The README's quick start, run as written.

The shell block under "Quick start with curl" is taken from README.md and
run with bash against a server started the way the README starts it: the
built-in default configuration (demo pool and client, dev mailer whose
outbox the script reads, demo identity pool and bucket), the master and
admin keys generated into ./data on first start. Only the ports move to free
ones (the text's :8080 and :9000 are rewritten to match), and the script's
`pip install` lines are skipped: this suite's environment already has PyJWT
and the AWS CLI, and its interpreter comes first on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from e2e_support import Node, free_port

ROOT = Path(__file__).resolve().parents[2]


def quick_start_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start with curl", 1)
    assert len(section) == 2, "README.md has no 'Quick start with curl' section"
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    assert block, "the quick start has no ```sh block"
    return block.group(1)


def test_the_readme_quick_start_works_as_written(poolgate_bin, tmp_path):
    port, s3_port = free_port(), free_port()
    script = quick_start_script()
    for needle in ("localhost:8080", "127.0.0.1:9000", "data/admin.key"):
        assert needle in script, f"the quick start no longer mentions {needle}"
    script = script.replace("localhost:8080", f"localhost:{port}")
    script = script.replace("127.0.0.1:9000", f"127.0.0.1:{s3_port}")
    script = "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("pip install")
    )

    workdir = str(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POOLGATE_", "AWS_"))}
    env.update(
        {
            # Only the addresses differ from `cargo run --release`.
            "POOLGATE_SERVER__BIND": f"127.0.0.1:{port}",
            "POOLGATE_SERVER__PUBLIC_URL": f"http://localhost:{port}",
            "POOLGATE_STORAGE__BIND": f"127.0.0.1:{s3_port}",
            "RUST_BACKTRACE": "1",
        }
    )
    node = Node(
        name="readme",
        binary=poolgate_bin,
        workdir=workdir,
        port=port,
        s3_port=s3_port,
        public_url=f"http://localhost:{port}",
        db_url="",
        env=env,
        admin_key="",
    )
    node.start()
    try:
        node.wait_ready()
        key = Path(workdir, "data", "admin.key")
        assert key.is_file(), "no admin key generated into ./data"
        assert key.stat().st_mode & 0o077 == 0, oct(key.stat().st_mode)
        assert Path(workdir, "data", "poolgate.db").is_file() or any(
            p.suffix == ".db" for p in Path(workdir, "data").iterdir()
        ), "no SQLite database under ./data"

        shell_env = {k: v for k, v in os.environ.items() if not k.startswith(("POOLGATE_", "AWS_"))}
        shell_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + shell_env.get("PATH", "")
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=workdir,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        out = run.stdout
        context = f"\n--- stdout ---\n{out}\n--- stderr ---\n{run.stderr}\n--- server ---\n{node.log_tail()}"
        assert run.returncode == 0, f"the quick start failed ({run.returncode}){context}"

        # Each step's answer, in order of the README's comments.
        assert '"user_confirmed":false' in out, f"1. sign-up{context}"
        assert re.search(r"code is [0-9]{6}", out), f"2. the outbox has no code{context}"
        assert '{"confirmed":true}' in out, f"3. confirm{context}"
        assert '"status":"CONFIRMED"' in out, f"5. /v1/me{context}"
        assert out.count('"access_token"') >= 1, f"6. refresh{context}"
        assert '"jwks_uri"' in out and '"keys"' in out, f"7. discovery and JWKS{context}"
        assert "valid access token for" in out, f"7. offline validation{context}"
        creds = Path(workdir, "creds.json").read_text()
        assert '"access_key_id":"ASIA' in creds, f"8. credentials: {creds}{context}"
        assert "upload: ./hello.txt" in out, f"9. aws s3 cp{context}"
        assert "hello.txt" in out.split("upload: ./hello.txt", 1)[1], f"9. aws s3 ls{context}"
        assert "denied: not your prefix" in out, f"9. another prefix must be refused{context}"
    finally:
        node.stop()
