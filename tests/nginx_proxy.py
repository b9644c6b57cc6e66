"""docs/deploy/nginx.conf run by Debian's nginx on this machine: the deploy file as it is, its
TLS lines (those ending in `# tls`) dropped, a local port and the caller's paths put in, and
its upstream's one server line made one line per Agora port. Used by tests/test_nginx.py (one
Agora) and bench/topology.py (two); `stop` ends only the nginx it started."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from live_server import wait_for

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "docs" / "deploy" / "nginx.conf"
STATIC = ROOT / "src" / "agora" / "web" / "static"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UPSTREAM = "server 127.0.0.1:8000;"


def site_config(agora_ports: list[int], port: int, media: Path, logs: Path) -> str:
    """The deploy file with its TLS lines dropped and this machine's ports and paths."""
    lines = [line for line in CONF.read_text().splitlines() if not line.endswith("# tls")]
    text = "\n".join(lines)
    assert UPSTREAM in text, "the deploy file's upstream line changed"
    servers = "\n    ".join(f"server 127.0.0.1:{p};" for p in agora_ports)
    text = text.replace(UPSTREAM, servers)
    text = text.replace("server_name agora.example.org;", f"listen 127.0.0.1:{port};")
    text = text.replace("/var/lib/agora/media/", f"{media}/")
    text = text.replace("/opt/agora/static/", f"{STATIC}/")
    return text.replace("/var/log/nginx/", f"{logs}/")


@dataclass
class Nginx:
    """One nginx master (and its worker) serving `site` from the directory `work`."""

    work: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, site: str, timeout: float = 15) -> None:
        """Write the configuration, start nginx in the foreground, wait until it answers."""
        self.work.mkdir(parents=True, exist_ok=True)
        work = self.work
        (work / "agora.conf").write_text(site)
        temp = " ".join(
            f"{kind}_temp_path {work / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (work / "nginx.conf").write_text(
            f"user root;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
            f"error_log {work / 'error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
            f"http {{ include /etc/nginx/mime.types; {temp} include {work / 'agora.conf'}; }}\n"
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(work), "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "stderr.log", "wb"),  # noqa: SIM115
        )

        def answers() -> bool:
            try:
                return httpx.get(f"{self.url}/api/v1/agora/ping", timeout=1).is_success
            except httpx.TransportError:
                assert self.process is not None and self.process.poll() is None, (
                    work / "stderr.log"
                ).read_text()
                return False

        wait_for(answers, timeout, "nginx to answer")

    def stop(self) -> None:
        """Stop the nginx this object started."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
