/**
 * Requests per second of the generated TypeScript client, beside a raw `net`
 * echo measured in the same run.
 *
 *     cargo build --release -p desk --bins
 *     cd tests/typescript && npx tsc -p . && node dist/tests/typescript/bench.js [seconds]
 *
 * Raw: a bare `net` client writes a length-prefixed frame and reads one back from a
 * bare `net` echo server (its own process). Ours: `calc.add(...)` through the
 * generated client to the desk-server process. One request in flight, then 32.
 */

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CalculatorClient, Format } from "../../generated/typescript/src/index.js";
import { ROOT, Server } from "./support.js";

const ECHO_SERVER = `
const net = require("node:net");
net.createServer((socket) => {
  let buffer = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 7) {
      const length = buffer.readUInt32BE(0);
      if (buffer.length < 7 + length) break;
      socket.write(buffer.subarray(0, 7 + length));
      buffer = buffer.subarray(7 + length);
    }
  });
}).listen(process.argv[1]);
`;

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
  process.env["ACTON_DESK_SERVER"] ??= join(ROOT, "target", "release", "desk-server");
  const echoPath = join(mkdtempSync(join(tmpdir(), "acton-bench-")), "echo.sock");
  const echo = spawn(process.execPath, ["-e", ECHO_SERVER, echoPath], { stdio: "ignore" });
  const desk = await Server.start();
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
    console.log(`TypeScript client, ${seconds} s per case, one connection`);
    console.log(`${"case".padEnd(34)} ${"req/s".padStart(9)} ${"p50 µs".padStart(8)} ${"vs raw".padStart(7)}`);
    const raw = await rawClient(echoPath);
    const [rawRps, rawP50] = await measure(seconds, 1, raw);
    console.log(`${"raw net echo, 1 in flight".padEnd(34)} ${rawRps.toFixed(0).padStart(9)} ${rawP50.toFixed(0).padStart(8)} ${"100%".padStart(7)}`);
    for (const format of [Format.Json, Format.MessagePack]) {
      const calc = await CalculatorClient.connect(desk.socket, { format });
      for (const inFlight of [1, 32]) {
        const [rps, p50] = await measure(seconds, inFlight, async (i) => {
          const answer = await calc.add({ a: BigInt(i), b: 1n });
          if (answer.sum !== BigInt(i) + 1n) throw new Error("wrong sum");
        });
        const name = `generated ${Format[format]}, ${inFlight} in flight`;
        console.log(`${name.padEnd(34)} ${rps.toFixed(0).padStart(9)} ${p50.toFixed(0).padStart(8)} ${`${((100 * rps) / rawRps).toFixed(0)}%`.padStart(7)}`);
      }
      calc.close();
    }
  } finally {
    echo.kill();
    await desk.stop();
  }
}

await main();
