"""Requests per second of the generated Python client, beside a raw asyncio
Unix-socket echo measured in the same run.

    cargo build --release -p desk --bins
    .venv/bin/python tests/python/bench_client.py [--seconds 3]

Raw: a bare asyncio client writes a length-prefixed frame and reads one back from
a bare asyncio echo server (its own process): the floor of Python socket I/O.
Ours: ``await calc.add(a=i, b=1)`` through the generated client to the desk-server
process. Both with one request in flight, then with 32 in flight on one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "generated" / "python"))

from messages import CalculatorClient, Format  # noqa: E402

ECHO_SERVER = """
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            header = await reader.readexactly(7)
            body = await reader.readexactly(int.from_bytes(header[:4], "big"))
            writer.write(header + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_unix_server(handle, sys.argv[1])
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


async def measure(seconds: float, in_flight: int, call: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    """Runs ``call`` with ``in_flight`` concurrent workers; returns (rps, p50 µs)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(offset + done)
            latencies.append(time.perf_counter() - started)
            done += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker(i * 1_000_000) for i in range(in_flight)))
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed, statistics.median(latencies) * 1e6


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.02)


async def run(echo_socket: Path, desk_socket: Path, seconds: float) -> None:
    reader, writer = await asyncio.open_unix_connection(str(echo_socket))
    payload = b'{"correlation_id":"1","target":"calculator","message_type":"AddRequest","payload":{"a":1,"b":1}}'
    frame = struct.pack(">IBBB", len(payload), 2, 1, 1) + payload
    lock = asyncio.Lock()

    async def raw(_: int) -> None:
        async with lock:  # one exchange at a time per socket, as a bare client would
            writer.write(frame)
            header = await reader.readexactly(7)
            await reader.readexactly(int.from_bytes(header[:4], "big"))

    print(f"Python client, {seconds:g} s per case, one connection (pid {os.getpid()})")
    print(f"{'case':<34} {'req/s':>9} {'p50 µs':>8} {'vs raw':>7}")
    raw_rps, raw_p50 = await measure(seconds, 1, raw)
    print(f"{'raw asyncio echo, 1 in flight':<34} {raw_rps:>9.0f} {raw_p50:>8.0f} {'100%':>7}")
    for fmt in (Format.JSON, Format.MSGPACK):
        async with await CalculatorClient.connect(desk_socket, fmt=fmt) as calc:

            async def add(i: int, calc: CalculatorClient = calc) -> None:
                answer = await calc.add(a=i, b=1)
                assert answer.sum == i + 1

            for in_flight in (1, 32):
                rps, p50 = await measure(seconds, in_flight, add)
                name = f"generated {fmt.name.lower()}, {in_flight} in flight"
                print(f"{name:<34} {rps:>9.0f} {p50:>8.0f} {rps / raw_rps:>7.0%}")
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--server", default=str(ROOT / "target" / "release" / "desk-server"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="acton-bench-"))
    echo_socket, desk_socket = workdir / "echo.sock", workdir / "desk.sock"
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(echo_socket)])
    desk = subprocess.Popen([args.server, str(desk_socket)], stdout=subprocess.DEVNULL)
    try:
        wait_for(echo_socket)
        wait_for(desk_socket)
        asyncio.run(run(echo_socket, desk_socket, args.seconds))
    finally:
        echo.kill()
        desk.terminate()
        desk.wait(timeout=10)


if __name__ == "__main__":
    main()
