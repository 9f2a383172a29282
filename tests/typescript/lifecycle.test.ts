/**
 * Clients that long-running programs can rely on, against a real desk-server
 * process: per-call deadlines, cancellation on the wire, keepalive, lazy
 * reconnect, subscriptions as scoped resources, bounded buffers.
 */

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { CalculatorClient, ConnectionClosed, PricesClient, RequestTimeout } from "../../generated/typescript/src/index.js";
import { Server } from "./support.js";

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

async function waitUntil(condition: () => Promise<boolean>, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, "the condition never held");
    await sleep(20);
  }
}

test("a stream has no deadline unless it gives one; a call's own deadline wins", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket, { timeoutMs: 300 });
  try {
    for (const options of [undefined, { timeoutMs: null }]) {
      const seen: number[] = [];
      for await (const n of calc.count({ up_to: 15, delay_ms: 100n }, options)) seen.push(n.value);
      assert.equal(seen.length, 15);
    }
    await assert.rejects(
      (async () => {
        for await (const _ of calc.count({ up_to: 15, delay_ms: 100n }, { timeoutMs: 500 })) {
          // read on
        }
      })(),
      RequestTimeout,
    );
    assert.equal((await calc.add({ a: 1n, b: 2n }, { timeoutMs: 5000 })).sum, 3n);
    await assert.rejects(calc.add({ a: 1n, b: 2n }, { timeoutMs: -1 }), RangeError);
  } finally {
    calc.close();
    await server.stop();
  }
});

test("leaving a stream or aborting it stops the server's handler", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket);
  const stopped = async (): Promise<boolean> => (await calc.health({})).active_streams === 0;
  try {
    for await (const first of calc.count({ up_to: 1_000_000_000, delay_ms: 1n })) {
      assert.equal(first.value, 0);
      assert.equal((await calc.health({})).active_streams, 1);
      break;
    }
    await waitUntil(stopped);

    const abort = new AbortController();
    const reading = (async () => {
      for await (const _ of calc.count({ up_to: 1_000_000_000, delay_ms: 1n }, { signal: abort.signal })) {
        // read on
      }
    })();
    await sleep(200);
    abort.abort();
    await assert.rejects(reading);
    await waitUntil(stopped);
  } finally {
    calc.close();
    await server.stop();
  }
});

test("an idle client is never cut; a lost connection reopens on the next call", async () => {
  const server = await Server.start(["--idle-timeout-ms", "500"]);
  try {
    const kept = await CalculatorClient.connect(server.socket, { keepaliveMs: 100 });
    await sleep(2000); // four idle timeouts of the server
    assert.equal((await kept.add({ a: 2n, b: 2n })).sum, 4n);
    assert.ok(!kept.connection.closed);
    kept.close();

    const cut = await CalculatorClient.connect(server.socket, { keepaliveMs: null });
    await sleep(1000);
    assert.ok(cut.connection.closed, "the server cut the idle connection");
    assert.equal((await cut.add({ a: 1n, b: 1n })).sum, 2n, "the next call reconnects");
    cut.close();

    const strict = await CalculatorClient.connect(server.socket, { keepaliveMs: null, reconnect: false });
    await sleep(1000);
    await assert.rejects(strict.add({ a: 1n, b: 1n }), ConnectionClosed);
    strict.close();
  } finally {
    await server.stop();
  }
});

test("an idle client survives the server's default idle timeout", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket);
  try {
    await sleep(40_000); // the server's default idle timeout is 30 s
    assert.equal((await calc.add({ a: 2n, b: 3n })).sum, 5n);
    assert.ok(!calc.connection.closed);
  } finally {
    calc.close();
    await server.stop();
  }
});

test("a subscription is a scoped resource", async () => {
  const server = await Server.start();
  const prices = await PricesClient.connect(server.socket);
  try {
    {
      await using updates = await prices.subscribePriceUpdate().start();
      await using others = await prices.subscribePriceUpdate().start();
      const first = await updates.next();
      assert.ok(first.done !== true);
      await updates.close();
      await others.next(); // the push both saw, at the latest
      const later = await others.next();
      assert.ok(later.done !== true && later.value.sequence > first.value.sequence, "one leaving does not end the other");
    }
    // Every consumer left: the server stops sending.
    const before = prices.connection.pushesReceived;
    await sleep(500); // five broadcast periods
    assert.equal(prices.connection.pushesReceived, before);
  } finally {
    prices.close();
    await server.stop();
  }
});

test("a subscription rejects when the server dies", async () => {
  const server = await Server.start();
  const prices = await PricesClient.connect(server.socket, { reconnect: false });
  try {
    await using updates = await prices.subscribePriceUpdate().start();
    await updates.next();
    await server.kill();
    await assert.rejects(
      (async () => {
        for (;;) await updates.next();
      })(),
      ConnectionClosed,
    );
  } finally {
    prices.close();
    await server.stop();
  }
});

test("a slow consumer keeps the client's memory bounded and loses nothing", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket);
  try {
    const internals = calc.connection as unknown as { streams: Map<string, { size: number }> };
    let expected = 0;
    let buffered = 0;
    for await (const item of calc.count({ up_to: 200_000 })) {
      assert.equal(item.value, expected);
      expected += 1;
      if (expected === 1) {
        await sleep(1000); // the server keeps streaming meanwhile
        buffered = Math.max(...[...internals.streams.values()].map((s) => s.size));
      }
    }
    assert.equal(expected, 200_000, "nothing lost");
    // Reading stops once the buffer is full (at most one socket read beyond it).
    assert.ok(buffered > 0 && buffered <= calc.connection.streamBuffer + 4096, `${buffered} buffered`);
  } finally {
    calc.close();
    await server.stop();
  }
});
