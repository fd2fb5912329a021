"""Processes under measurement: started in their own group, CPU read from their whole tree."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent


class Proc:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children (uvicorn workers) so far."""
        try:
            return _tree_cpu(psutil.Process(self.process.pid))
        except psutil.NoSuchProcess:
            return 0.0

    def rss_bytes(self) -> int:
        try:
            root = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.NoSuchProcess:
            return 0

    async def ready(self, url: str, status: int | None = 200, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while asyncio.get_running_loop().time() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"process exited with {self.process.returncode}")
                try:
                    response = await client.get(url)
                    if status is None or response.status_code == status:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{url} not ready after {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start(args: Sequence[str], env: Mapping[str, str], log: Path | None = None) -> Proc:
    venv_bin = str(Path(sys.executable).parent)
    command = [str(Path(venv_bin) / args[0]) if args[0] == "tenantgraph" else args[0], *args[1:]]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return Proc(subprocess.Popen(command, env=dict(env), cwd=ROOT, stdout=out, stderr=out,
                                 start_new_session=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_cpu_seconds(url: str) -> float:
    """CPU used so far by the server listening on `url`'s port (PostgreSQL's postmaster or
    redis-server, found by the port on its command line) and its children, including
    children that have exited (a backend per connection): other servers on the machine are
    not counted."""
    port = str(urlsplit(url).port)
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if port in args or any(arg.endswith(f":{port}") for arg in args):
            return _tree_cpu(proc)
    return 0.0


def _tree_cpu(parent: psutil.Process) -> float:
    try:
        times = parent.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    total = times.user + times.system + times.children_user + times.children_system
    for child in parent.children(recursive=True):
        try:
            own = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += own.user + own.system
    return total
