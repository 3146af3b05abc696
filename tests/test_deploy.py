"""The deployment guide's files (deploy/): they parse, say what the README says, and the parts check out —
dockyard reads the shared config without a warning, and nginx accepts its configuration."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from dockyard.config import load_settings
from tests.support.balancer import NGINX
from tests.support.servers import free_port

DEPLOY = Path(__file__).parent.parent / "deploy"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_replica_config_is_s3_redis_and_a_shared_secret_from_the_environment() -> None:
    environ = {
        "REGISTRY_HTTP_SECRET": "shared",
        "REGISTRY_STORAGE_S3_ACCESSKEY": "key",
        "REGISTRY_STORAGE_S3_SECRETKEY": "secret",
    }
    settings = load_settings(DEPLOY / "config.yml", environ=environ)
    assert settings.storage_driver == "s3"
    assert settings.s3 is not None
    assert (settings.s3.accesskey, settings.s3.secretkey, settings.s3.bucket) == ("key", "secret", "registry")
    assert settings.secret == "shared"
    assert settings.blob_cache == "redis"
    assert settings.redis is not None
    assert settings.redis.addr == "redis:6379"
    assert settings.warnings == ()


def test_compose_file_runs_replicas_behind_nginx_on_s3_and_redis() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"s3", "redis", "dockyard", "nginx"} <= set(services)
    dockyard = services["dockyard"]
    assert dockyard["deploy"]["replicas"] >= 2
    assert "REGISTRY_HTTP_SECRET" in dockyard["environment"]
    assert (DEPLOY / dockyard["build"]["context"] / dockyard["build"]["dockerfile"]).exists()
    assert services["nginx"]["ports"] == ["5000:80"]
    for config in compose["configs"].values():
        if "file" in config:
            assert (DEPLOY / config["file"]).exists()


def test_kubernetes_manifests_name_every_part() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in _documents(DEPLOY / resource):
            kinds[(document["kind"], document["metadata"]["name"])] = document
    for generated in kustomization["configMapGenerator"]:
        assert all((DEPLOY / name).exists() for name in generated["files"])
    assert {("Service", name) for name in ("dockyard", "redis", "s3", "registry")} <= set(kinds)
    dockyard = kinds[("Deployment", "dockyard")]
    assert dockyard["spec"]["replicas"] >= 2
    container = dockyard["spec"]["template"]["spec"]["containers"][0]
    secret_env = {item["name"] for item in container["env"] if "valueFrom" in item}
    assert {"REGISTRY_HTTP_SECRET", "REGISTRY_STORAGE_S3_ACCESSKEY"} <= secret_env
    secret = kinds[("Secret", "dockyard-secrets")]
    for item in container["env"]:
        assert item["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]
    assert kinds[("Service", "registry")]["spec"]["type"] == "LoadBalancer"


def test_nginx_accepts_the_load_balancer_config(tmp_path: Path) -> None:
    """``nginx -t`` on deploy/nginx.conf, with the compose service name pointed at loopback."""
    text = (DEPLOY / "nginx.conf").read_text()
    assert "server dockyard:5000" in text
    text = text.replace("dockyard:5000", "127.0.0.1:5000")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(config), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
