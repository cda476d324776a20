"""deploy/nodes: the Compose file of two stateless nodes behind nginx. `docker compose config`
checks it where Compose is installed; its structure is checked everywhere: every node points at
the same PostgreSQL and Milvus of the file, and nginx balances over every node."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="needs PyYAML to read the Compose file")

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "nodes" / "docker-compose.yml"
ENV = {"POSTGRES_PASSWORD": "pw-0123456789", "KBQA_ADMIN_KEY": "admin-0123456789abcdef"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in compose["services"].items()
        if "KBQA_STATE__URL" in s.get("environment", {})
    }


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="needs Docker Compose (docker compose version)")
def test_docker_compose_accepts_the_file() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True, text=True, env={**ENV, "PATH": "/usr/bin:/usr/local/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_nodes_share_one_postgres_and_one_milvus() -> None:
    compose = _compose()
    nodes = _nodes(compose)
    assert len(nodes) >= 2
    included = [yaml.safe_load((COMPOSE.parent / p).read_text()) for p in compose["include"]]
    services = {**compose["services"], **{n: s for c in included for n, s in c["services"].items()}}
    for name, node in nodes.items():
        env = node["environment"]
        state_host = re.search(r"@([\w-]+):5432/", env["KBQA_STATE__URL"])
        assert state_host is not None, name
        assert state_host.group(1) in services, name
        milvus_host = re.match(r"http://([\w-]+):19530$", env["KBQA_INDEX__MILVUS__URI"])
        assert milvus_host is not None, name
        assert milvus_host.group(1) in services, name
        assert env["KBQA_INDEX__BACKEND"] == "milvus"
        assert env["KBQA_API__HOST"] == "0.0.0.0"
        assert "KBQA_ADMIN_KEY" in env["KBQA_API__KEYS"]  # beyond loopback: keys are required
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "${POSTGRES_PASSWORD:?" in COMPOSE.read_text()  # no default password


def test_nginx_balances_over_every_node() -> None:
    compose = _compose()
    conf = (COMPOSE.parent / "nginx.conf").read_text()
    upstream = re.search(r"upstream kbqa \{(.*?)\}", conf, re.S)
    assert upstream is not None
    servers = re.findall(r"server ([\w-]+):(\d+)", upstream.group(1))
    nodes = _nodes(compose)
    assert {name for name, _ in servers} == set(nodes)
    assert {port for _, port in servers} == {
        n["environment"]["KBQA_API__PORT"] for n in nodes.values()
    }
    assert "proxy_buffering off" in conf  # the answers' Server-Sent Events flow
    mount = compose["services"]["nginx"]["volumes"][0]
    assert mount.startswith("./nginx.conf:")
    build = nodes["kbqa-a"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
