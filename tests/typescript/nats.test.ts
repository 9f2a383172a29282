/** The generated TypeScript clients over NATS (`connectNats`), against a desk-server serving on a real nats-server. */

import * as assert from "node:assert/strict";
import { test } from "node:test";

import {
  ActonError,
  CalculatorClient,
  DivisionByZero,
  Format,
  KvStoreClient,
  NatsConnection,
  NotFound,
  Overflow,
  PricesClient,
} from "../../generated/typescript/src/index.js";
import { NatsServer, Server } from "./support.js";

async function desk(): Promise<{ nats: NatsServer; server: Server; stop: () => Promise<void> }> {
  const nats = await NatsServer.start();
  const server = await Server.start(["--nats", nats.url, "--nats-prefix", "desk"]);
  return {
    nats,
    server,
    stop: async () => {
      await server.stop();
      await nats.stop();
    },
  };
}

for (const format of [Format.Json, Format.MessagePack]) {
  test(`every method kind over NATS (${Format[format]})`, async () => {
    const { nats, stop } = await desk();
    const calc = await CalculatorClient.connectNats(nats.url, { prefix: "desk", format });
    try {
      assert.equal((await calc.add({ a: 40n, b: 2n })).sum, 42n);
      await assert.rejects(calc.divide({ dividend: 7n, divisor: 0n }), (error: unknown) => {
        assert.ok(error instanceof DivisionByZero);
        assert.equal(error.dividend, 7n);
        return true;
      });
      const counted: number[] = [];
      for await (const n of calc.count({ up_to: 5 })) counted.push(n.value);
      assert.deepEqual(counted, [0, 1, 2, 3, 4]);
      const factorials: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const f of calc.factorials({ up_to: 20 })) factorials.push(f.n);
        })(),
        (error: unknown) => error instanceof Overflow && error.at === 13,
      );
      assert.equal(factorials.length, 13);
      await calc.log({ line: "over NATS", level: "info" });
      assert.equal((await calc.checkSchema()).status, "compatible");

      const kv = new KvStoreClient(calc.connection);
      await kv.put({ key: "ts", value: new Uint8Array([0, 1, 255]) });
      assert.deepEqual((await kv.get({ key: "ts" })).value, new Uint8Array([0, 1, 255]));
      await assert.rejects(kv.get({ key: "absent" }), (error: unknown) => error instanceof NotFound && error.key === "absent");
    } finally {
      calc.close();
      await stop();
    }
  });
}

test("pushes arrive through NATS", async () => {
  const { nats, stop } = await desk();
  const prices = await PricesClient.connectNats(nats.url, { prefix: "desk" });
  try {
    const updates = await prices.subscribePriceUpdate().start();
    const sequences: bigint[] = [];
    for await (const update of updates) {
      assert.equal(update.quote.symbol, "ACME");
      sequences.push(BigInt(update.sequence));
      if (sequences.length === 3) break;
    }
    assert.equal(new Set(sequences).size, 3);
  } finally {
    prices.close();
    await stop();
  }
});

test("a wrong prefix is a clear error, not a hang", async () => {
  const { nats, stop } = await desk();
  const calc = await CalculatorClient.connectNats(nats.url, { prefix: "elsewhere" });
  try {
    await assert.rejects(calc.add({ a: 1n }), (error: unknown) => error instanceof ActonError && error.code === "ACTOR_NOT_FOUND");
    await assert.rejects(
      (async () => {
        for await (const _ of calc.count({ up_to: 3 })) void _;
      })(),
      (error: unknown) => error instanceof ActonError && error.code === "ACTOR_NOT_FOUND",
    );
  } finally {
    calc.close();
    await stop();
  }
});

test("leaving a stream early cancels it on the server", async () => {
  const { nats, stop } = await desk();
  const calc = await CalculatorClient.connectNats(nats.url, { prefix: "desk" });
  try {
    for await (const item of calc.count({ up_to: 1_000_000, delay_ms: 1n })) {
      if (item.value === 2) {
        assert.equal((await calc.health({})).active_streams, 1);
        break;
      }
    }
    const deadline = Date.now() + 5000;
    while ((await calc.health({})).active_streams !== 0) {
      assert.ok(Date.now() < deadline, "the server stopped the stream");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    calc.close();
    await stop();
  }
});

test("a reader that falls behind fails its stream and hurts nobody", async () => {
  const { nats, stop } = await desk();
  const slow = new CalculatorClient(await NatsConnection.connect(nats.url, { prefix: "desk", streamBuffer: 16 }));
  const calc = await CalculatorClient.connectNats(nats.url, { prefix: "desk" });
  try {
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of slow.count({ up_to: 100_000 })) {
          received += 1;
          if (received === 1) {
            const started = Date.now();
            for (let a = 0n; a < 20n; a++) assert.equal((await calc.add({ a })).sum, a);
            assert.ok(Date.now() - started < 5000);
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })(),
      (error: unknown) => error instanceof ActonError && error.code === "STREAM_ERROR",
    );
    assert.ok(received < 100_000);
    assert.equal((await slow.add({ a: 5n })).sum, 5n, "the slow client still works");
  } finally {
    slow.close();
    calc.close();
    await stop();
  }
});
