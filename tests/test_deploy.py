"""The several-replica deployment (deploy/): the compose file and the nginx config in front of it.

No Docker engine runs here (nor in CI), so nothing is started: the compose file is parsed (with its
``${VAR:-default}`` values filled in) and checked for the promises README's "Deploying" makes, and the
nginx config is checked with ``nginx -t`` (with the compose host name swapped for a local address, which
nginx must resolve) and for what Streamlit needs behind a proxy: sticky sessions and the WebSocket upgrade.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, require
from tests.test_docker import args_of

DEPLOY = ROOT / "deploy"
NGINX_CONF = DEPLOY / "nginx.conf"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # What `docker compose` does with no variables set: every ${VAR:-default} becomes its default.
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", (DEPLOY / "compose.yaml").read_text())
    assert "${" not in text, "every variable in compose.yaml needs a default"
    return yaml.safe_load(text)


def nginx_conf() -> str:
    return re.sub(r"#.*", "", NGINX_CONF.read_text())  # comments dropped


def block(text: str, head: str) -> str:
    """The body of the first ``head { ... }`` block (one level of nested braces allowed)."""
    m = re.search(re.escape(head) + r"\s*\{((?:[^{}]|\{[^{}]*\})*)\}", text)
    assert m, f"no '{head} {{...}}' block"
    return m.group(1)


def directives(body: str) -> list[str]:
    return [" ".join(d.split()) for d in body.split(";") if d.strip()]


def test_compose_has_replicas_a_database_and_a_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"app", "db", "proxy"}
    app = services["app"]
    assert (DEPLOY / app["build"]["context"]).resolve() == ROOT and (ROOT / "Dockerfile").is_file()
    assert int(app["deploy"]["replicas"]) >= 2
    assert "ports" not in app, "the replicas are reached through the proxy only"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"


def test_replicas_share_the_postgres_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["db"]["environment"]
    url = services["app"]["environment"]["PLAYGROUND_DB_URL"]
    assert url == f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@db:5432/{env['POSTGRES_DB']}"
    volume, _, mount = services["db"]["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data" and volume in compose["volumes"]
    assert "pg_isready" in services["db"]["healthcheck"]["test"]


def test_proxy_mounts_the_nginx_config(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    source, target = proxy["volumes"][0].split(":")[:2]
    assert (DEPLOY / source).resolve() == NGINX_CONF and target == "/etc/nginx/nginx.conf"
    assert proxy["ports"] and proxy["ports"][0].endswith(":80")
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"


def test_nginx_pins_visitors_to_one_replica() -> None:
    upstream = directives(block(nginx_conf(), "upstream playground"))
    # The whole client address: ip_hash would use only the first three bytes of an IPv4 address.
    assert "hash $remote_addr consistent" in upstream and "ip_hash" not in upstream, upstream
    # The compose service's name and the port the Dockerfile exposes.
    assert f"server app:{args_of('EXPOSE')[0]}" in upstream


def test_nginx_forwards_websockets() -> None:
    text = nginx_conf()
    location = directives(block(text, "location /"))
    assert "proxy_pass http://playground" in location
    assert "proxy_http_version 1.1" in location
    assert "proxy_set_header Upgrade $http_upgrade" in location
    assert "proxy_set_header Connection $connection_upgrade" in location
    assert directives(block(text, "map $http_upgrade $connection_upgrade")) == ["default upgrade", "'' close"]


def test_nginx_accepts_the_app_upload_limit() -> None:
    limit_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert f"client_max_body_size {limit_mb}m" in directives(block(nginx_conf(), "server"))


def test_nginx_config_is_valid(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")  # sbin is off a user's PATH
    require(nginx is not None, "nginx not found: apt-get install nginx (./test.sh installs it)")
    # nginx resolves upstream host names when it loads the config; "app" exists only inside compose.
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.read_text().replace("server app:", "server 127.0.0.1:"))
    result = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
