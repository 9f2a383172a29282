/**
 * Requests per second of the generated TypeScript client, beside a raw `net`
 * client measured in the same run against a raw Rust echo server.
 *
 *     cargo build --release -p desk --bins
 *     cd tests/typescript && npx tsc -p . && node dist/tests/typescript/bench.js [seconds] [rounds]
 *
 * Raw: a bare `net` client writes a length-prefixed frame and reads one back from
 * `raw-echo` (a Rust Unix-socket echo server, its own process): the floor of a Node
 * client's socket I/O. Ours: `calc.add(...)` through the generated client to the
 * desk-server process. One request in flight (the figure the generated client is
 * held to), then 32. Each case runs `rounds` times (3), the cases interleaved, and
 * the median rate is reported.
 */

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CalculatorClient, Format } from "../../generated/typescript/src/index.js";
import { ROOT, Server } from "./support.js";

async function measure(seconds: number, inFlight: number, call: (i: number) => Promise<void>): Promise<[number, number]> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const worker = async (offset: number): Promise<number> => {
    let done = 0;
    while (performance.now() < deadline) {
      const started = performance.now();
      await call(offset + done);
      latencies.push(performance.now() - started);
      done += 1;
    }
    return done;
  };
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: inFlight }, (_, i) => worker(i * 1_000_000)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return [counts.reduce((a, b) => a + b, 0) / elapsed, (latencies[Math.floor(latencies.length / 2)] ?? 0) * 1000];
}

async function rawClient(path: string): Promise<(i: number) => Promise<void>> {
  const socket = net.createConnection(path);
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.setNoDelay(true);
  const payload = Buffer.from('{"correlation_id":"1","target":"calculator","message_type":"AddRequest","payload":{"a":1,"b":1}}');
  const frame = Buffer.concat([Buffer.from([0, 0, 0, payload.length, 2, 1, 1]), payload]);
  let pending: (() => void) | undefined;
  let buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 7 && buffer.length >= 7 + buffer.readUInt32BE(0)) {
      buffer = buffer.subarray(7 + buffer.readUInt32BE(0));
      const done = pending;
      pending = undefined;
      done?.();
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      pending = resolve;
      socket.write(frame);
    });
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? "3");
  const rounds = Math.max(1, Number(process.argv[3] ?? "3"));
  process.env["ACTON_DESK_SERVER"] ??= join(ROOT, "target", "release", "desk-server");
  const echoPath = join(mkdtempSync(join(tmpdir(), "acton-bench-")), "echo.sock");
  const echo = spawn(join(ROOT, "target", "release", "raw-echo"), ["--socket", echoPath], { stdio: "ignore" });
  const desk = await Server.start();
  const calcs: CalculatorClient[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const probe = net.createConnection(echoPath);
        probe.once("connect", () => {
          probe.destroy();
          resolve(true);
        });
        probe.once("error", () => resolve(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const cases: [string, number, (i: number) => Promise<void>][] = [["raw net client, raw-echo", 1, await rawClient(echoPath)]];
    for (const format of [Format.Json, Format.MessagePack]) {
      const calc = await CalculatorClient.connect(desk.socket, { format });
      calcs.push(calc);
      for (const inFlight of [1, 32]) {
        cases.push([
          `generated ${Format[format]}, desk-server`,
          inFlight,
          async (i) => {
            const answer = await calc.add({ a: BigInt(i), b: 1n });
            if (answer.sum !== BigInt(i) + 1n) throw new Error("wrong sum");
          },
        ]);
      }
    }
    const samples: [number, number][][] = cases.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [index, [, inFlight, call]] of cases.entries()) {
        samples[index]?.push(await measure(seconds, inFlight, call));
      }
    }
    const medians: [number, number][] = samples.map((results): [number, number] => {
      const sorted = [...results].sort((a, b) => a[0] - b[0]);
      return sorted[Math.floor(sorted.length / 2)] ?? [0, 0];
    });
    const rawRps = medians[0]?.[0] ?? 1;
    console.log(`TypeScript client, ${seconds} s per case, median of ${rounds} rounds, one connection`);
    console.log(`${"case".padEnd(36)} ${"in flight".padStart(9)} ${"req/s".padStart(9)} ${"p50 µs".padStart(8)} ${"vs raw".padStart(7)}`);
    for (const [index, [name, inFlight]] of cases.entries()) {
      const [rps, p50] = medians[index] ?? [0, 0];
      console.log(
        `${name.padEnd(36)} ${String(inFlight).padStart(9)} ${rps.toFixed(0).padStart(9)} ${p50.toFixed(0).padStart(8)} ${`${((100 * rps) / rawRps).toFixed(0)}%`.padStart(7)}`,
      );
    }
  } finally {
    for (const calc of calcs) calc.close();
    echo.kill();
    await desk.stop();
  }
}

await main();
