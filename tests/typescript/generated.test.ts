/** The generated TypeScript package (`generated/typescript`) against a real desk-server process. */

import * as assert from "node:assert/strict";
import { test } from "node:test";

import {
  ActonError,
  CalculatorClient,
  DivisionByZero,
  Format,
  KvStoreClient,
  NotFound,
  Overflow,
  RequestTimeout,
  PricesClient,
  decodeAddRequest,
  decodeOrder,
  decodeQuote,
  encodeQuote,
  type OrderLimit,
} from "../../generated/typescript/src/index.js";
import { compareSchemas } from "../../generated/typescript/src/runtime.js";
import { SCHEMA } from "../../generated/typescript/src/schema.js";
import { Server } from "./support.js";

for (const format of [Format.Json, Format.MessagePack]) {
  test(`every method kind through the generated clients (${Format[format]})`, async () => {
    const server = await Server.start();
    const calc = await CalculatorClient.connect(server.socket, { format });
    try {
      assert.equal((await calc.add({ a: 40n, b: 2n })).sum, 42n);
      assert.equal((await calc.add({ a: 7n })).sum, 7n, "b defaults to 0");
      const counted: number[] = [];
      for await (const n of calc.count({ up_to: 5 })) counted.push(n.value);
      assert.deepEqual(counted, [0, 1, 2, 3, 4]);
      await calc.log({ line: "from the generated TypeScript client", level: "warn" });
      assert.equal((await calc.health({})).status, "ok");

      const kv = new KvStoreClient(calc.connection);
      await kv.put({ key: "ts", value: new Uint8Array([0, 1, 255]) });
      const found = await kv.get({ key: "ts" });
      assert.deepEqual([...found.value], [0, 1, 255]);
      const keys: string[] = [];
      for await (const k of kv.listKeys({ prefix: "t" })) keys.push(k.key);
      assert.deepEqual(keys, ["ts"]);

      const prices = new PricesClient(calc.connection);
      const order: OrderLimit = { kind: "limit", symbol: "ACME", side: "buy", size: 10n, price: 99.5 };
      assert.deepEqual((await prices.place(order)).order, order);
      const updates = prices.subscribePriceUpdate();
      const first = await updates.next();
      const second = await updates.next();
      await updates.return(undefined);
      assert.ok(!first.done && !second.done);
      assert.equal(first.value.quote.symbol, "ACME");
      assert.equal(first.value.quote.venue, "XNAS");
      assert.ok(second.value.sequence > first.value.sequence);
    } finally {
      calc.close();
      await server.stop();
    }
  });
}

for (const format of [Format.Json, Format.MessagePack]) {
  test(`declared errors reject as their own classes, with their fields (${Format[format]})`, async () => {
    const server = await Server.start();
    const calc = await CalculatorClient.connect(server.socket, { format });
    try {
      const kv = new KvStoreClient(calc.connection);
      const missing = await kv.get({ key: "missing" }).then(
        () => assert.fail("a missing key must fail"),
        (error: unknown) => error,
      );
      assert.ok(missing instanceof NotFound, String(missing));
      assert.ok(missing instanceof ActonError);
      assert.equal(missing.key, "missing");
      assert.equal(missing.code, "NotFound");
      assert.match(missing.serverMessage, /Nothing is stored under the key/);

      await assert.rejects(
        calc.divide({ dividend: 7n, divisor: 0n }),
        (error: unknown) => error instanceof DivisionByZero && error.dividend === 7n,
      );
      const quotient = await calc.divide({ dividend: -7n, divisor: 2n });
      assert.deepEqual([quotient.quotient, quotient.remainder], [-3n, -1n]);

      // A stream ends with a declared error after its items.
      const seen: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const item of calc.factorials({ up_to: 30 })) seen.push(item.value);
        })(),
        (error: unknown) => error instanceof Overflow && error.at === 13,
      );
      assert.equal(seen.length, 13);
      assert.equal(seen[12], 479_001_600);
      assert.equal((await calc.add({ a: 1n, b: 1n })).sum, 2n, "the connection still serves");
    } finally {
      calc.close();
      await server.stop();
    }
  });
}

test("server errors reject with their code; the connection still serves", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket, { timeoutMs: 300 });
  try {
    await assert.rejects(
      (async () => {
        for await (const _ of calc.count({ up_to: 100, delay_ms: 100n }, { timeoutMs: 300 })) {
          // keep reading
        }
      })(),
      (error: unknown) => error instanceof RequestTimeout && error.code === "TIMEOUT",
    );
    assert.equal((await calc.add({ a: 1n, b: 1n })).sum, 2n);
  } finally {
    calc.close();
    await server.stop();
  }
});

test("checkSchema compares with the schema the server serves", async () => {
  const server = await Server.start();
  const calc = await CalculatorClient.connect(server.socket);
  try {
    assert.deepEqual(await calc.checkSchema(), { status: "compatible", differences: [] });
  } finally {
    calc.close();
    await server.stop();
  }
});

test("schema comparison follows the diff rules (the Rust and Python clients' cases)", () => {
  const own = JSON.parse(SCHEMA) as { services: { name: string; methods: { name: string }[] }[]; types: { wire_name: string; values?: { name: string }[] }[] };
  assert.equal(compareSchemas(own, own, ["calculator"]).status, "compatible");
  const server = structuredClone(own);
  const calculator = server.services.find((s) => s.name === "calculator");
  assert.ok(calculator !== undefined);
  calculator.methods = calculator.methods.filter((m) => m.name !== "log");
  const degraded = compareSchemas(own, server, ["calculator"]);
  assert.deepEqual(degraded, { status: "degraded", differences: ["service calculator method log: missing on the server"] });
  server.types.find((t) => t.wire_name === "Level")?.values?.push({ name: "trace" });
  const incompatible = compareSchemas(own, server, ["calculator"]);
  assert.equal(incompatible.status, "incompatible");
  assert.equal(incompatible.differences[0], "type Level value trace: sent by the server, unknown here");
  assert.equal(compareSchemas(own, server, ["kv_store"]).status, "compatible");
});

test("the wire form of the generated types", () => {
  const quote = { symbol: "A", side: "sell" as const, price: 1.5, size: 2n ** 63n, tags: [], attributes: {}, extra: { k: [1, null] } };
  const wire = encodeQuote(quote);
  assert.deepEqual(Object.keys(wire), ["symbol", "side", "price", "size", "tags", "attributes", "extra"]);
  assert.equal(wire["size"], 2n ** 63n, "u64 stays exact");
  assert.ok(!("venue" in wire), "an absent optional is left out");
  assert.deepEqual(decodeQuote(wire), { ...quote, venue: undefined });
  assert.deepEqual(decodeAddRequest({ a: 1, later_field: true }), { a: 1n, b: 0n });
  assert.deepEqual(decodeOrder({ kind: "market", symbol: "A", side: "buy", size: 1 }), {
    kind: "market",
    symbol: "A",
    side: "buy",
    size: 1n,
  });
  for (const bad of [{ a: "one" }, { b: 1 }, ["a"], null]) {
    assert.throws(() => decodeAddRequest(bad), (e: ActonError) => e.code === "SERIALIZATION_ERROR");
  }
  assert.throws(() => decodeOrder({ kind: "stop" }), ActonError);
  assert.throws(
    () => decodeAddRequest({ a: 2 ** 60 }),
    (e: ActonError) => e.code === "SERIALIZATION_ERROR" && e.message.includes("2^53"),
    "a JSON integer that lost precision is refused, not rounded",
  );
});
