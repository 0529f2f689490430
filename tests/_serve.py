"""A real ``epoi serve`` for tests: a uvicorn subprocess on a free 127.0.0.1 port, its log
captured in a file, stopped at the end; and the CLI run in-process with an environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from epoi.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def epoi_env(home: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env["EPOI_HOME"] = str(home)
    if database_url:
        env["EPOI_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``epoi ARGS`` in this process, with ``env`` as its whole EPOI_* environment."""
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EPOI_")}
    cleared.update({k: v for k, v in env.items() if k.startswith("EPOI_")})
    result = CliRunner().invoke(main, list(args), env=cleared)
    return result.exit_code, result.stdout, result.stderr


def issue(env: dict[str, str], role: str, naic: str | None = None) -> str:
    args = ["tokens", "issue", "--role", role, "--json"] + (["--carrier", naic] if naic else [])
    code, out, err = cli(env, *args)
    assert code == 0, err
    return str(json.loads(out)["token"])


class Server:
    """``python -m epoi --log-level INFO serve`` until :meth:`stop`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "epoi", "--log-level", "INFO", "serve", "--port",
             str(self.port)], env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kw)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def memory_kib(self, field: str = "VmHWM") -> int:
        """The server process's peak (VmHWM) or current (VmRSS) resident memory."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(field)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
