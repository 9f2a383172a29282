/** The TypeScript client runtime: the shared vectors byte for byte, and calls against a live server. */

import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import * as msgpack from "@msgpack/msgpack";

import {
  ActonError,
  Connection,
  ConnectionClosed,
  Format,
  RateLimited,
  Kind,
  decodePayload,
  encodeFrame,
} from "../../codegen/templates/typescript/runtime.js";
import { ROOT, Server } from "./support.js";

interface Vector {
  name: string;
  kind: string;
  format: string;
  type: string;
  version: number;
  value: unknown;
  hex: string;
  decode_only?: boolean;
}

const document = JSON.parse(readFileSync(join(ROOT, "tests", "vectors", "protocol.json"), "utf8")) as {
  kinds: Record<string, number>;
  formats: Record<string, number>;
  vectors: Vector[];
};
const codec = { encode: msgpack.encode, decode: msgpack.decode };

/** Plain JSON values for comparison: bigints become numbers where exact. */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** The value as generated code holds it: integers beyond 32 bits are bigints (u64/i64). */
function typed(value: unknown): unknown {
  if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) > 2 ** 31) return BigInt(value);
  if (Array.isArray(value)) return value.map(typed);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typed(v)]));
  }
  return value;
}

test("every vector decodes to its meaning and encodes to its bytes", () => {
  assert.ok(document.vectors.length >= 30);
  for (const vector of document.vectors) {
    const frame = Buffer.from(vector.hex, "hex");
    const kind = document.kinds[vector.kind] ?? -1;
    const format = document.formats[vector.format] ?? -1;
    const header = vector.version === 2 ? 7 : 6;
    assert.equal(frame.readUInt32BE(0), frame.length - header, vector.name);
    assert.equal(frame[4], vector.version, vector.name);
    assert.equal(frame[5], kind, vector.name);
    assert.deepEqual(plain(decodePayload(format, frame.subarray(header), codec)), vector.value, vector.name);
    if (vector.decode_only !== true) {
      const payload = vector.type === "heartbeat" ? undefined : typed(vector.value);
      assert.equal(encodeFrame(kind as Kind, format as Format, payload, codec).toString("hex"), vector.hex, vector.name);
    }
  }
});

for (const format of [Format.Json, Format.MessagePack]) {
  test(`every kind of call (${Format[format]})`, async () => {
    const server = await Server.start();
    const connection = await Connection.connect(server.socket, { format });
    try {
      assert.deepEqual(plain(await connection.request("calculator", "AddRequest", { a: 40n, b: 2n })), { sum: 42 });
      const items: unknown[] = [];
      for await (const item of connection.stream("calculator", "CountRequest", { up_to: 4 })) items.push(plain(item));
      assert.deepEqual(items, [{ value: 0 }, { value: 1 }, { value: 2 }, { value: 3 }]);
      await connection.send("calculator", "LogEvent", { line: "from node" });
      const subscription = await connection.subscribe(["PriceUpdate"]);
      const updates = subscription[Symbol.asyncIterator]();
      const first = await updates.next();
      assert.equal(first.done, false);
      assert.equal(first.value?.messageType, "PriceUpdate");
      const found = await connection.discover();
      assert.ok(Array.isArray(found["message_types"]));
      await connection.heartbeat();
    } finally {
      connection.close();
      await server.stop();
    }
  });
}

test("errors carry the protocol's code; a burst is rate limited", async () => {
  const server = await Server.start(["--rate-limit", "5", "3"]);
  const connection = await Connection.connect(server.socket);
  try {
    await assert.rejects(connection.request("nobody", "AddRequest", { a: 1n, b: 1n }), (e: ActonError) => e.code === "ACTOR_NOT_FOUND");
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => connection.request("calculator", "AddRequest", { a: BigInt(i), b: 0n })),
    );
    const refused = results.filter((r) => r.status === "rejected");
    assert.ok(refused.length >= 4, `${refused.length} refused`);
    for (const r of refused) {
      const reason: unknown = (r as PromiseRejectedResult).reason;
      assert.ok(reason instanceof RateLimited, String(reason));
      assert.equal(reason.code, "RATE_LIMITED");
      assert.ok((reason.retryAfterMs ?? 0) >= 1, "the refusal says when to retry");
    }
  } finally {
    connection.close();
    await server.stop();
  }
});

test("a stream that outlives its deadline fails with TIMEOUT; many calls run at once", async () => {
  const server = await Server.start();
  const connection = await Connection.connect(server.socket, { format: Format.MessagePack });
  try {
    await assert.rejects(
      (async () => {
        for await (const _ of connection.stream("calculator", "CountRequest", { up_to: 100, delay_ms: 50 }, { timeoutMs: 300 })) {
          // keep reading
        }
      })(),
      (e: ActonError) => e.code === "TIMEOUT",
    );
    // Four times what the actor's mailbox holds: the server waits for room.
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => connection.request("calculator", "AddRequest", { a: BigInt(i), b: 1n })),
    );
    assert.deepEqual(answers.map((a) => plain(a)), Array.from({ length: 1000 }, (_, i) => ({ sum: i + 1 })));
  } finally {
    connection.close();
    await server.stop();
  }
});

test("a server that dies mid-request never leaves the client hanging; reconnect is explicit", async () => {
  const server = await Server.start();
  const connection = await Connection.connect(server.socket);
  const stream = connection.stream("calculator", "CountRequest", { up_to: 1000, delay_ms: 100 });
  assert.deepEqual(plain((await stream.next()).value), { value: 0 });
  const started = Date.now();
  await server.kill();
  await assert.rejects(stream.next(), (e: ActonError) => e instanceof ConnectionClosed);
  await assert.rejects(connection.request("calculator", "AddRequest", { a: 1n, b: 1n }), ConnectionClosed);
  assert.ok(Date.now() - started < 5000);
  const restarted = await Server.start([], server.socket);
  try {
    await connection.reconnect();
    assert.deepEqual(plain(await connection.request("calculator", "AddRequest", { a: 2n, b: 3n })), { sum: 5 });
  } finally {
    connection.close();
    await restarted.stop();
  }
});
