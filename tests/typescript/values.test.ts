/**
 * tests/vectors/everything.json, shared with the Rust and Python tests: each wire
 * value decodes into the every-feature schema's generated type (from JSON and from
 * MessagePack) and encodes back to its canonical form.
 */

import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import * as msgpack from "@msgpack/msgpack";

import { decodePayload, encodePayload, Format } from "../../codegen/tests/snapshots/typescript/src/runtime.js";
import * as types from "../../codegen/tests/snapshots/typescript/src/types.js";
import { ROOT } from "./support.js";

interface ValueVector {
  name: string;
  type: string;
  wire: unknown;
  canonical?: unknown;
  rejected?: boolean;
  msgpack: string;
}

const codec = { encode: msgpack.encode, decode: msgpack.decode };

/** The value with 64-bit integers (bigints, as MessagePack reads them) as numbers, to compare with JSON. */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  }
  return value;
}

/** Each vector type's decoder and encoder. */
const CODECS: Record<string, { decode: (data: unknown) => unknown; encode: (value: never) => unknown }> = {
  Times: { decode: types.decodeTimes, encode: types.encodeTimes },
  Colour: { decode: types.decodeColour, encode: types.encodeColour },
  Shape: { decode: types.decodeShape, encode: types.encodeShape },
  Renamed: { decode: types.decodeRenamed, encode: types.encodeRenamed },
  Priced: { decode: types.decodePriced, encode: types.encodePriced },
};

test("the shared value vectors round-trip through the generated types", () => {
  const document = JSON.parse(readFileSync(join(ROOT, "tests", "vectors", "everything.json"), "utf8")) as {
    vectors: ValueVector[];
  };
  assert.ok(document.vectors.length > 0);
  for (const vector of document.vectors) {
    const types = CODECS[vector.type];
    assert.ok(types !== undefined, `${vector.name}: no codec for ${vector.type} in this test; add it`);
    const expected = vector.canonical ?? vector.wire;
    if (vector.rejected === true) {
      assert.throws(() => types.decode(JSON.parse(JSON.stringify(vector.wire))), /duplicate field/, vector.name);
      const packed = Buffer.from(vector.msgpack, "hex");
      assert.throws(() => types.decode(decodePayload(Format.MessagePack, packed, codec)), /duplicate field/, vector.name);
      continue;
    }
    const encode = types.encode as (value: unknown) => unknown;
    const fromJson = types.decode(JSON.parse(JSON.stringify(vector.wire)));
    // Encoded as the client sends it (64-bit integers are bigints), read back as JSON.
    const sent = Buffer.from(encodePayload(Format.Json, encode(fromJson))).toString("utf8");
    assert.deepEqual(JSON.parse(sent), expected, `${vector.name} (JSON)`);
    const packed = Buffer.from(vector.msgpack, "hex");
    const fromMsgpack = types.decode(decodePayload(Format.MessagePack, packed, codec));
    const repacked = decodePayload(Format.MessagePack, encodePayload(Format.MessagePack, encode(fromMsgpack), codec), codec);
    assert.deepEqual(plain(repacked), expected, `${vector.name} (MessagePack)`);
  }
});

test("unknown values of open enums and unions are kept as Unknown", async () => {
  const { Unknown } = await import("../../codegen/tests/snapshots/typescript/src/runtime.js");
  const colour = types.decodeColour("purple");
  assert.ok(colour instanceof Unknown);
  assert.equal(colour.wire, "purple");
  const shape = types.decodeShape({ kind: "hexagon", sides: 6 });
  assert.ok(shape instanceof Unknown);
  assert.deepEqual(types.encodeShape(shape), { kind: "hexagon", sides: 6 });
  assert.throws(() => types.decodeShape({ sides: 6 }), /is not a variant of Shape/);
});

test("timestamps and durations refuse what they cannot represent", async () => {
  const { decodeTimestamp, encodeTimestamp, decodeDuration, encodeDuration, ActonError } = await import(
    "../../codegen/tests/snapshots/typescript/src/runtime.js"
  );
  for (const bad of ["2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00", "0000-01-01T00:00:00Z", 17]) {
    assert.throws(() => decodeTimestamp(bad), ActonError, String(bad));
  }
  assert.equal(encodeTimestamp(decodeTimestamp("0099-03-01T00:00:00+01:00")), "0099-02-28T23:00:00Z");
  assert.throws(() => encodeTimestamp(new Date(Number.NaN)), ActonError);
  assert.throws(() => encodeTimestamp(new Date(Date.UTC(10000, 0, 1))), ActonError);
  for (const bad of ["-1s", "1", "1.5ms", "1.0000000001s", 1.5]) {
    assert.throws(() => decodeDuration(bad), ActonError, String(bad));
  }
  assert.equal(decodeDuration("1.5s"), 1500);
  assert.equal(encodeDuration(0.001), "0.000001s");
  assert.equal(encodeDuration(1999.9999999), "2s");
  assert.throws(() => encodeDuration(-1), ActonError);
  assert.throws(() => encodeDuration(Number.POSITIVE_INFINITY), ActonError);
});
