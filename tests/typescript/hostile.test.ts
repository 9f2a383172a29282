/**
 * The TypeScript client against a hostile server: a plain Unix socket server in
 * this process that answers the client's control frames and then does what a
 * hostile (or broken) server would — a 16 MiB frame in 4 KiB writes, stream items
 * and pushes beyond the client's byte bounds, a frame header above the client's
 * maximum, a push that does not decode, a socket file of another user.
 */

import * as assert from "node:assert/strict";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import {
  ActonError,
  Connection,
  FrameReader,
  Kind,
  TypedSubscription,
  UnexpectedServer,
  decodeFloat,
  encodeFrame,
  expectRecord,
  required,
  splitFrames,
  type ConnectOptions,
  Format,
} from "../../codegen/templates/typescript/runtime.js";

type Body = Record<string, unknown>;

/** What the fake server does with a REQUEST (control frames are answered with success). */
type OnRequest = (body: Body, socket: net.Socket) => void | Promise<void>;

/** A Unix socket server speaking just enough of the protocol; `onRequest` is the hostile part. */
class FakeServer {
  readonly dir = mkdtempSync(join(tmpdir(), "acton-hostile-"));
  readonly path = join(this.dir, "server.sock");
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(onRequest: OnRequest) {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      const reader = new FrameReader(16 * 1024 * 1024);
      socket.on("data", (chunk: Buffer) => {
        for (const frame of reader.take(chunk)) {
          const body = frame.payload.length === 0 ? {} : (JSON.parse(frame.payload.toString("utf8")) as Body);
          if (frame.kind === Kind.Request) void onRequest(body, socket);
          else if (frame.kind !== Kind.Heartbeat && frame.kind !== Kind.Cancel) {
            socket.write(encodeFrame(Kind.Response, Format.Json, { correlation_id: body["correlation_id"], success: true }));
          }
        }
      });
    });
  }

  static async start(onRequest: OnRequest = () => undefined): Promise<FakeServer> {
    const fake = new FakeServer(onRequest);
    await new Promise<void>((done) => fake.server.listen(fake.path, done));
    return fake;
  }

  connect(options: ConnectOptions = {}): Promise<Connection> {
    return Connection.connect(this.path, { keepaliveMs: null, reconnect: false, timeoutMs: 20_000, ...options });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A JSON frame's bytes with a payload of about `size` bytes (a string field filled with `x`). */
function bigFrame(kind: Kind, body: Body, field: string, size: number): Buffer {
  return encodeFrame(kind, Format.Json, { ...body, [field]: "x".repeat(size) });
}

/** Writes `data` in `piece`-byte writes, yielding to the event loop between them (so the client reads them one by one). */
async function writeInPieces(socket: net.Socket, data: Buffer, piece: number): Promise<void> {
  for (let at = 0; at < data.length; at += piece) {
    socket.write(data.subarray(at, at + piece));
    await new Promise((done) => setImmediate(done));
  }
}

const MiB = 1024 * 1024;

test("frame reassembly is linear: a frame in 4 KiB pieces, 16 MiB vs 4 MiB", () => {
  const timeOf = (size: number): number => {
    const frame = bigFrame(Kind.Response, { correlation_id: "big", success: true }, "payload", size);
    const reader = new FrameReader(16 * MiB);
    const started = process.hrtime.bigint();
    let frames = 0;
    for (let at = 0; at < frame.length; at += 4096) frames += reader.take(frame.subarray(at, at + 4096)).length;
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(frames, 1);
    return elapsed;
  };
  timeOf(MiB); // warm up
  const small = timeOf(4 * MiB);
  const large = timeOf(16 * MiB - 100);
  // Linear: about 4 times as long. Quadratic (a join of everything per piece): 16 times.
  assert.ok(large / small < 8, `4 MiB in ${small.toFixed(1)} ms, 16 MiB in ${large.toFixed(1)} ms`);
  console.log(`FrameReader, 4 KiB pieces: 4 MiB in ${small.toFixed(1)} ms, 16 MiB in ${large.toFixed(1)} ms`);
});

test("a 16 MiB answer in 4 KiB writes arrives whole, in time linear in its size", async () => {
  let size = 0;
  const fake = await FakeServer.start(async (body, socket) => {
    const frame = bigFrame(Kind.Response, { correlation_id: body["correlation_id"], success: true }, "payload", size);
    await writeInPieces(socket, frame, 4096);
  });
  try {
    const connection = await fake.connect();
    const timeOf = async (bytes: number): Promise<number> => {
      size = bytes;
      const started = process.hrtime.bigint();
      const answer = await connection.request("big", "Big", {});
      assert.equal((answer as string).length, bytes);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const small = await timeOf(4 * MiB);
    const large = await timeOf(16 * MiB - 100);
    assert.ok(large / small < 8, `4 MiB in ${small.toFixed(0)} ms, 16 MiB in ${large.toFixed(0)} ms`);
    console.log(`over a socket, 4 KiB writes: 4 MiB in ${small.toFixed(0)} ms, 16 MiB in ${large.toFixed(0)} ms`);
    connection.close();
  } finally {
    await fake.stop();
  }
});

test("a frame header above the caller's maxFrameSize closes the connection with a clear error", async () => {
  const fake = await FakeServer.start((_body, socket) => {
    const header = Buffer.from([0, 0, 0x08, 0x01, 0x02, Kind.Response, Format.Json]); // 2049 bytes announced
    socket.write(header);
  });
  try {
    const connection = await fake.connect({ maxFrameSize: 2048 });
    await assert.rejects(connection.request("x", "X", {}), (error: unknown) => {
      assert.ok(error instanceof ActonError);
      assert.equal(error.code, "PROTOCOL_ERROR");
      assert.match(error.message, /frame of 2049 bytes, above the limit of 2048 bytes \(maxFrameSize\)/);
      return true;
    });
    assert.ok(connection.closed);
  } finally {
    await fake.stop();
  }
  // The default is the protocol's maximum, and no option raises it.
  assert.throws(() => splitFrames(Buffer.from([0x01, 0, 0, 1, 2, 2, 1])), /above the limit of 16777216 bytes/);
});

test("a stream's buffer is bounded in bytes: the client stops reading, and nothing is lost", async () => {
  const item = MiB;
  const count = 24;
  const fake = await FakeServer.start(async (body, socket) => {
    const id = body["correlation_id"];
    for (let sequence = 0; sequence < count; sequence++) {
      socket.write(bigFrame(Kind.Stream, { correlation_id: id, sequence, is_final: false }, "payload", item));
    }
    socket.write(encodeFrame(Kind.Stream, Format.Json, { correlation_id: id, sequence: count, is_final: true }));
  });
  try {
    const bound = 4 * MiB;
    const connection = await fake.connect({ streamBufferBytes: bound });
    const streams = (connection as unknown as { streams: Map<string, { bytes: number; size: number }> }).streams;
    let received = 0;
    let most = 0;
    for await (const payload of connection.stream("s", "S", {})) {
      assert.equal((payload as string).length, item);
      received += 1;
      if (received === 1) {
        // Hold the first item while the server keeps writing.
        for (let i = 0; i < 20; i++) {
          await new Promise((done) => setTimeout(done, 25));
          for (const stream of streams.values()) most = Math.max(most, stream.bytes);
        }
      }
    }
    assert.equal(received, count, "nothing lost");
    assert.ok(most > 0 && most <= bound + item + 1024, `${most} bytes buffered, bound ${bound}`);
    connection.close();
  } finally {
    await fake.stop();
  }
});

test("a subscription's buffer is bounded in bytes: the oldest pushes go, counted in missed", async () => {
  const item = MiB;
  const fake = await FakeServer.start();
  try {
    const bound = 3 * MiB;
    const connection = await fake.connect({ pushBufferBytes: bound });
    const subscription = await connection.subscribe(["Big"]);
    const [server] = [...(fake as unknown as { sockets: Set<net.Socket> }).sockets];
    assert.ok(server !== undefined);
    const pushes = 10;
    for (let n = 0; n < pushes; n++) {
      server.write(bigFrame(Kind.Push, { message_type: "Big", notification_id: `n${n}`, timestamp_ms: n }, "payload", item));
    }
    // One push alone larger than the bound is still taken (progress is possible).
    server.write(bigFrame(Kind.Push, { message_type: "Big", notification_id: "huge", timestamp_ms: 99 }, "payload", 2 * bound));
    while (connection.pushesReceived < pushes + 1) await new Promise((done) => setTimeout(done, 10));
    const last = await subscription.next();
    assert.equal(last.done, false);
    assert.equal(last.value?.notificationId, "huge");
    assert.equal(subscription.missed, pushes);
    assert.equal(subscription.bufferedBytes, 0);
    for (let n = 0; n < pushes; n++) {
      server.write(bigFrame(Kind.Push, { message_type: "Big", notification_id: `m${n}`, timestamp_ms: n }, "payload", item));
    }
    while (connection.pushesReceived < 2 * pushes + 1) await new Promise((done) => setTimeout(done, 10));
    assert.ok(subscription.bufferedBytes <= bound, `${subscription.bufferedBytes} bytes buffered, bound ${bound}`);
    assert.equal(subscription.missed, pushes + 8);
    connection.close();
  } finally {
    await fake.stop();
  }
});

test("a push that does not decode is counted and skipped; the subscription goes on", async () => {
  const fake = await FakeServer.start();
  try {
    const connection = await fake.connect();
    const decode = (payload: unknown): number => decodeFloat(required(expectRecord(payload, "Price"), "price", "Price"));
    const prices = await new TypedSubscription(connection.subscription(["Price"]), decode).start();
    const [server] = [...(fake as unknown as { sockets: Set<net.Socket> }).sockets];
    assert.ok(server !== undefined);
    const push = (payload: unknown): Buffer =>
      encodeFrame(Kind.Push, Format.Json, { message_type: "Price", notification_id: "n", timestamp_ms: 1, payload });
    server.write(push({ price: "not a number" }));
    server.write(Buffer.concat([Buffer.from([0, 0, 0, 3, 2, Kind.Push, Format.Json]), Buffer.from("{{{")]));
    server.write(push({ price: 42.5 }));
    const next = await prices.next();
    assert.deepEqual(next, { value: 42.5, done: false });
    assert.equal(prices.undecodable, 1);
    assert.equal(connection.pushesUndecodable, 1);
    assert.ok(!connection.closed);
    connection.close();
  } finally {
    await fake.stop();
  }
});

test("requireServerUid refuses a socket file of another user, and a wrong uid", async () => {
  const fake = await FakeServer.start();
  try {
    const me = process.getuid?.() ?? 0;
    const connection = await fake.connect({ requireServerUid: me });
    connection.close();
    await assert.rejects(fake.connect({ requireServerUid: me + 1 }), (error: unknown) => {
      assert.ok(error instanceof UnexpectedServer);
      assert.equal(error.actual, me);
      assert.match(error.message, new RegExp(`socket file belongs to uid ${me}, not the required uid ${me + 1}; nothing was sent`));
      return true;
    });
    if (me === 0) {
      // As root, give the socket file to another user: refused although the same process serves it.
      chownSync(fake.path, 65534, 65534);
      await assert.rejects(fake.connect({ requireServerUid: 0 }), /belongs to uid 65534, not the required uid 0/);
    }
  } finally {
    await fake.stop();
  }
});
