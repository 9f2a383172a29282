"""Requests per second of the generated Python client, beside a raw asyncio client
measured in the same run against a raw Rust echo server.

    cargo build --release -p desk --bins
    .venv/bin/python tests/python/bench_client.py [--seconds 3] [--rounds 3]

Raw: a bare asyncio client writes a length-prefixed frame and reads one back from
``raw-echo`` (a Rust Unix-socket echo server, its own process): the floor of a
Python client's socket I/O. Ours: ``await calc.add(a=i, b=1)`` through the
generated client to the desk-server process. One request in flight (the figure
the generated client is held to), then 32 in flight on one connection. Each case
runs ``--rounds`` times, the cases interleaved, and the median rate is reported.
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


async def run(echo_socket: Path, desk_socket: Path, seconds: float, rounds: int) -> None:
    reader, writer = await asyncio.open_unix_connection(str(echo_socket))
    payload = b'{"correlation_id":"1","target":"calculator","message_type":"AddRequest","payload":{"a":1,"b":1}}'
    frame = struct.pack(">IBBB", len(payload), 2, 1, 1) + payload
    lock = asyncio.Lock()

    async def raw(_: int) -> None:
        async with lock:  # one exchange at a time per socket, as a bare client would
            writer.write(frame)
            header = await reader.readexactly(7)
            await reader.readexactly(int.from_bytes(header[:4], "big"))

    clients = {fmt: await CalculatorClient.connect(desk_socket, fmt=fmt) for fmt in (Format.JSON, Format.MSGPACK)}
    cases: list[tuple[str, int, Callable[[int], Awaitable[None]]]] = [("raw asyncio client, raw-echo", 1, raw)]
    for fmt, calc in clients.items():

        async def add(i: int, calc: CalculatorClient = calc) -> None:
            answer = await calc.add(a=i, b=1)
            assert answer.sum == i + 1

        for in_flight in (1, 32):
            cases.append((f"generated {fmt.name.lower()}, desk-server", in_flight, add))

    samples: list[list[tuple[float, float]]] = [[] for _ in cases]
    for _ in range(rounds):
        for (_, in_flight, call), results in zip(cases, samples, strict=True):
            results.append(await measure(seconds, in_flight, call))
    print(f"Python client, {seconds:g} s per case, median of {rounds} rounds, one connection (pid {os.getpid()})")
    print(f"{'case':<36} {'in flight':>9} {'req/s':>9} {'p50 µs':>8} {'vs raw':>7}")
    medians = [sorted(results)[len(results) // 2] for results in samples]
    raw_rps = medians[0][0]
    for (name, in_flight, _), (rps, p50) in zip(cases, medians, strict=True):
        print(f"{name:<36} {in_flight:>9} {rps:>9.0f} {p50:>8.0f} {rps / raw_rps:>7.0%}")
    for calc in clients.values():
        await calc.close()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    release = ROOT / "target" / "release"
    parser.add_argument("--server", default=str(release / "desk-server"))
    parser.add_argument("--echo", default=str(release / "raw-echo"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="acton-bench-"))
    echo_socket, desk_socket = workdir / "echo.sock", workdir / "desk.sock"
    echo = subprocess.Popen([args.echo, "--socket", str(echo_socket)], stdout=subprocess.DEVNULL)
    desk = subprocess.Popen([args.server, "--socket", str(desk_socket)], stdout=subprocess.DEVNULL)
    try:
        wait_for(echo_socket)
        wait_for(desk_socket)
        asyncio.run(run(echo_socket, desk_socket, args.seconds, max(1, args.rounds)))
    finally:
        echo.kill()
        desk.terminate()
        desk.wait(timeout=10)


if __name__ == "__main__":
    main()
