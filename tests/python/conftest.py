"""Shared fixtures: the client runtime on the import path, and a real desk-server
process (the example services, built from the generated Rust handler traits)."""

from __future__ import annotations

import os
import shutil
import signal
import socket as socket_module
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "codegen" / "templates" / "python"))


class Server:
    """A desk-server process listening on ``socket``."""

    def __init__(self, *extra: str, socket: Path | None = None) -> None:
        binary = os.environ.get("ACTON_DESK_SERVER", str(ROOT / "target" / "debug" / "desk-server"))
        self.socket = socket or Path(tempfile.mkdtemp(prefix="acton-py-")) / "desk.sock"
        self.process = subprocess.Popen(
            [binary, str(self.socket), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"desk-server did not start (exit {self.process.poll()})")
            time.sleep(0.02)

    def _listening(self) -> bool:
        probe = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
        try:
            probe.connect(str(self.socket))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    @classmethod
    def at(cls, socket: Path) -> Server:
        """A server on a given socket path (a stale socket file there is replaced)."""
        return cls(socket=socket)

    def kill(self) -> None:
        """Kills the server without letting it shut down."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """Stops the server gracefully; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


class NatsServer:
    """A real ``nats-server`` (Debian's package) on a free localhost port."""

    def __init__(self) -> None:
        probe = socket_module.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"nats://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                socket_module.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server did not start (exit {self.process.poll()})") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer()
    yield server
    server.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def rate_limited_server() -> Iterator[Server]:
    server = Server("--rate-limit", "5", "3")
    yield server
    server.stop()
