"""nginx (Debian's) as a load balancer in front of registry replicas, for tests.

Round robin sends each request to the next replica. Clients upload layers in parallel, so round robin alone
may happen to send an upload's PATCH and PUT to one replica; with ``crossing=True`` the methods rotate
instead (POST to one replica, PATCH to the next, PUT to the next again, reads round robin), so every
multi-request upload is certain to cross replicas. The access log records which replica answered each
request (``$upstream_addr``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import requests

from tests.support.servers import free_port, spawn, terminate

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONFIG = """\
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {workdir}/access.log upstreams;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    upstream replicas {{
{servers}
    }}
{pinned}
    map $request_method $pool {{
{routes}
        default replicas;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_http_version 1.1;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_read_timeout 900s;
        proxy_send_timeout 900s;
        error_page 502 504 = @unavailable;
        location @unavailable {{
            default_type application/json;
            return 503 '{{"errors":[{{"code":"UNAVAILABLE","message":"service unavailable"}}]}}';
        }}
        location / {{
            proxy_pass http://$pool;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Balancer:
    def __init__(self, workdir: Path, upstreams: list[str], crossing: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.upstreams = upstreams
        self.config_path = self.workdir / "nginx.conf"
        servers = "\n".join(f"        server {upstream} max_fails=0;" for upstream in upstreams)
        pinned, routes = "", ""
        if crossing:
            methods = ("POST", "PATCH", "PUT")
            for index, method in enumerate(methods):
                upstream = upstreams[index % len(upstreams)]
                pinned += f"    upstream {method.lower()}s {{ server {upstream}; }}\n"
                routes += f"        {method} {method.lower()}s;\n"
        self.config_path.write_text(
            _CONFIG.format(
                workdir=self.workdir, servers=servers, port=self.port, pinned=pinned, routes=routes
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout: float = 20.0) -> Balancer:
        command = [NGINX, "-p", str(self.workdir), "-c", str(self.config_path), "-g", "daemon off;"]
        self.process = spawn(command, self.workdir / "nginx.out", self.workdir, "start nginx")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.workdir / "nginx.out").read_text(errors="replace"))
            try:
                if requests.get(f"{self.url}/v2/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nginx on {self.host} not ready")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)

    def upstreams_by_upload(self) -> dict[str, set[str]]:
        """For each upload id in the access log, the replicas its requests went to."""
        seen: dict[str, set[str]] = {}
        log = self.workdir / "access.log"
        for line in log.read_text().splitlines() if log.exists() else []:
            method, uri, _status, upstream = line.split(" ", 3)
            if "/blobs/uploads/" in uri and method in ("PATCH", "PUT", "GET", "DELETE"):
                upload_id = uri.rsplit("/", 1)[1]
                if upload_id:
                    seen.setdefault(upload_id, set()).add(upstream)
        return seen
