/**
 * The client side of the acton wire protocol (v2) for Node.js.
 *
 * Copied as `runtime.ts` into every TypeScript package `acton-gen` generates. It
 * needs only Node's `net`; `@msgpack/msgpack`, when installed, enables MessagePack.
 *
 * One {@link Connection} carries many calls at once: each answer is matched to its
 * call by `correlation_id`, in whatever order it arrives. Every failure rejects
 * with an {@link ActonError} carrying the protocol's error `code`; nothing waits
 * forever: a lost connection rejects every pending call at once, and every call
 * has a deadline.
 *
 * 64-bit integers: the schema's `i64` and `u64` are `bigint`. MessagePack carries
 * them exactly. JSON numbers above 2^53 cannot survive `JSON.parse`; such a value
 * is rejected with `SERIALIZATION_ERROR` rather than silently rounded (use
 * MessagePack for them). Encoding a `bigint` to JSON is always exact.
 */

import { promises as fs } from "node:fs";
import * as net from "node:net";

export const PROTOCOL_VERSION = 0x02;
/** The protocol's largest payload: the default (and the ceiling) of {@link ConnectOptions.maxFrameSize}. */
export const MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** Items a stream or subscription buffers by default. */
export const DEFAULT_BUFFER_ITEMS = 1024;
/** Payload bytes a stream or subscription buffers by default (one larger item is still taken when nothing else waits). */
export const DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024;
const CONNECTION_REJECTED = "__acton_connection_rejected__";

/** The encoding of a frame's payload. */
export enum Format {
  Json = 0x01,
  MessagePack = 0x02,
}

/** The kind of a frame. */
export enum Kind {
  Request = 0x01,
  Response = 0x02,
  Error = 0x03,
  Heartbeat = 0x04,
  Push = 0x05,
  Subscribe = 0x06,
  Unsubscribe = 0x07,
  Discover = 0x08,
  Stream = 0x09,
  SubscribePatterns = 0x0a,
  UnsubscribePatterns = 0x0b,
  Cancel = 0x10,
}

/** The error codes of the protocol. */
export const ERROR_CODES = [
  "UNKNOWN_MESSAGE_TYPE",
  "ACTOR_NOT_FOUND",
  "SERIALIZATION_ERROR",
  "TARGET_BUSY",
  "CONNECTION_CLOSED",
  "PROTOCOL_ERROR",
  "IO_ERROR",
  "TIMEOUT",
  "RATE_LIMITED",
  "SHUTTING_DOWN",
  "CONNECTION_LIMIT_REACHED",
  "UNSUPPORTED_PROTOCOL_VERSION",
  "STREAM_ERROR",
  "ACCESS_DENIED",
  "LIMIT_EXCEEDED",
  "UNIMPLEMENTED",
  "INTERNAL",
] as const;

/** One of the protocol's error codes. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * An error's code: one of the protocol's ({@link ErrorCode}), or any other string
 * (the name of an error the schema declares, or a code of the server's own). The
 * `string & {}` keeps editors completing the known codes.
 */
export type AnyErrorCode = ErrorCode | (string & {});

/**
 * A call failed. `code` is the protocol's error code (`ACTOR_NOT_FOUND`, `TIMEOUT`,
 * ...) or a declared error's name; `serverMessage` is the server's own text.
 */
export class ActonError extends Error {
  readonly code: AnyErrorCode;
  readonly serverMessage: string;

  constructor(code: AnyErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "ActonError";
    this.code = code;
    this.serverMessage = message;
  }
}

/** The connection closed before the answer arrived. */
export class ConnectionClosed extends ActonError {
  constructor(message = "the connection to the server is closed") {
    super("CONNECTION_CLOSED", message);
    this.name = "ConnectionClosed";
  }
}

/**
 * The server at the socket is not the one required ({@link ConnectOptions.requireServerUid}):
 * the socket file belongs to another user. Nothing was sent.
 */
export class UnexpectedServer extends ConnectionClosed {
  constructor(
    readonly path: string,
    readonly expected: number,
    readonly actual: number | undefined,
    why: string,
  ) {
    super(`the server at ${path} is refused: ${why}, not the required uid ${expected}; nothing was sent`);
    this.name = "UnexpectedServer";
  }
}

/** No answer within the deadline: the client's own, or the server's (`TIMEOUT`). */
export class RequestTimeout extends ActonError {
  constructor(message: string) {
    super("TIMEOUT", message);
    this.name = "RequestTimeout";
  }
}

/** The server's rate limit refused the call; retry after `retryAfterMs`. */
export class RateLimited extends ActonError {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryAfterMs: number | undefined) {
    super("RATE_LIMITED", message);
    this.name = "RateLimited";
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The base of the errors a schema declares: the generated classes
 * (`if (e instanceof NotFound) e.key`). `code` is the error's wire name.
 */
export abstract class DeclaredError extends ActonError {}

/** What a generated error class offers the runtime: its wire name and a decoder. */
export interface DeclaredErrorClass {
  readonly wireName: string;
  fromFailure(message: string, payload: unknown): ActonError;
}

/** A broadcast received through a subscription. */
export interface Push {
  readonly messageType: string;
  readonly payload: unknown;
  readonly notificationId: string;
  readonly timestampMs: number;
  /** Pushes the server dropped for this connection just before this one. */
  readonly dropped: number;
}

/** Options of {@link Connection.connect}. */
export interface ConnectOptions {
  /** Payload encoding of the frames this client sends (default JSON). */
  readonly format?: Format;
  /** Deadline of each call, in milliseconds (default 30 000); also sent to the server. A stream has none unless it gives one. */
  readonly timeoutMs?: number;
  /** A quiet connection sends a heartbeat this often, in milliseconds (default 10 000; `null` for never). */
  readonly keepaliveMs?: number | null;
  /** After the connection is lost, the next call opens a new one (default `true`); nothing is ever re-sent. */
  readonly reconnect?: boolean;
  /** Items a stream buffers before the client stops reading the socket (default 1024). */
  readonly streamBuffer?: number;
  /** Payload bytes a stream buffers before the client stops reading the socket (default 16 MiB; one larger item is taken when nothing else waits). */
  readonly streamBufferBytes?: number;
  /** Pushes a subscription buffers before it drops the oldest (default 1024). */
  readonly pushBuffer?: number;
  /** Payload bytes a subscription buffers before it drops the oldest (default 16 MiB; one larger push is kept when nothing else waits). */
  readonly pushBufferBytes?: number;
  /**
   * The largest frame payload accepted from the server, in bytes (default and ceiling:
   * the protocol's 16 MiB). A header announcing more closes the connection with a
   * PROTOCOL_ERROR before any of it is buffered.
   */
  readonly maxFrameSize?: number;
  /**
   * Connect only if the socket file belongs to this user id (default: any). Node
   * cannot ask the kernel for the peer's credentials, so this checks the file's
   * owner before and after connecting (the same file both times): it tells who
   * created the socket, not who serves it now, and someone who can write to the
   * socket's directory could swap the file between the checks and the connection.
   * Keep sockets in directories only trusted users can write.
   */
  readonly requireServerUid?: number;
}

/** @internal How much a stream's or subscription's buffer may hold: items and payload bytes. */
export interface BufferBound {
  readonly items: number;
  readonly bytes: number;
}

/** @internal A buffer bound from options, each at least 1. */
export function bufferBound(items: number | undefined, bytes: number | undefined): BufferBound {
  return { items: Math.max(1, items ?? DEFAULT_BUFFER_ITEMS), bytes: Math.max(1, bytes ?? DEFAULT_BUFFER_BYTES) };
}

/** Options of one call. */
export interface CallOptions {
  /** The call's deadline in milliseconds; `null` for none. Default: the connection's for a call, none for a stream. */
  readonly timeoutMs?: number | null;
  /** Aborting it cancels the call (on the server too, when it supports CANCEL). */
  readonly signal?: AbortSignal;
}

/** @internal What a call without a deadline asks the server for (servers cap it: ours at an hour by default). */
export const NO_DEADLINE_MS = 365 * 24 * 3600 * 1000;

/** @internal A call's deadline in milliseconds (`undefined` for none): as given, or by default `defaultMs` for a call and none for a stream. */
export function deadlineOf(options: CallOptions | undefined, defaultMs: number, stream: boolean): number | undefined {
  const given = options?.timeoutMs;
  if (given === null) return undefined;
  if (given === undefined) return stream ? undefined : defaultMs;
  if (!(given > 0)) throw new RangeError(`timeoutMs must be positive (or null for no deadline), not ${given}`);
  return Number.isFinite(given) ? given : undefined;
}

/** @internal */
export interface MessagePackCodec {
  encode(value: unknown, options: { useBigInt64: boolean }): Uint8Array;
  decode(data: Uint8Array, options: { useBigInt64: boolean }): unknown;
}

const optionalModules = new Map<string, unknown>();

/** @internal Loads an optional dependency once; `what` says what needs it when it is missing. */
export async function loadOptional<T>(name: string, what: string, code: string): Promise<T> {
  if (!optionalModules.has(name)) {
    try {
      optionalModules.set(name, await import(name));
    } catch {
      throw new ActonError(code, `${what} needs the \`${name}\` package (npm install ${name})`);
    }
  }
  return optionalModules.get(name) as T;
}

/** @internal Loads the optional MessagePack codec. */
export function loadMessagePack(): Promise<MessagePackCodec> {
  return loadOptional<MessagePackCodec>("@msgpack/msgpack", "MessagePack", "SERIALIZATION_ERROR");
}

function jsonEncode(value: unknown): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      return value.toString();
    case "number":
      if (!Number.isFinite(value)) throw new ActonError("SERIALIZATION_ERROR", `cannot encode ${value} as JSON`);
      return JSON.stringify(value);
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "object": {
      if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString("base64"));
      if (Array.isArray(value)) return `[${value.map(jsonEncode).join(",")}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonEncode(v)}`).join(",")}}`;
    }
    default:
      throw new ActonError("SERIALIZATION_ERROR", `cannot encode a ${typeof value} as JSON`);
  }
}

/** Encodes a payload: JSON without whitespace, or MessagePack maps with field names. */
export function encodePayload(format: Format, value: unknown, codec?: MessagePackCodec): Uint8Array {
  if (format === Format.Json) return Buffer.from(jsonEncode(value), "utf8");
  if (codec === undefined) throw new ActonError("SERIALIZATION_ERROR", "MessagePack is not loaded");
  return codec.encode(value, { useBigInt64: true });
}

/** Decodes a payload by its frame's format byte; an empty payload is `null`. */
export function decodePayload(format: number, data: Uint8Array, codec?: MessagePackCodec): unknown {
  if (data.length === 0) return null;
  if (format === Format.Json) return JSON.parse(Buffer.from(data).toString("utf8"));
  if (format === Format.MessagePack) {
    if (codec === undefined) throw new ActonError("SERIALIZATION_ERROR", "MessagePack is not loaded");
    return codec.decode(data, { useBigInt64: true });
  }
  throw new ActonError("PROTOCOL_ERROR", `unknown format byte ${format}`);
}

/** A version-2 frame; `payload === undefined` gives an empty payload. */
export function encodeFrame(kind: Kind, format: Format, payload: unknown, codec?: MessagePackCodec): Buffer {
  const body = payload === undefined ? new Uint8Array() : encodePayload(format, payload, codec);
  const header = Buffer.alloc(7);
  header.writeUInt32BE(body.length, 0);
  header[4] = PROTOCOL_VERSION;
  header[5] = kind;
  header[6] = format;
  return Buffer.concat([header, body]);
}

/** A frame as read: kind, format, payload bytes. */
export interface RawFrame {
  readonly kind: number;
  readonly format: number;
  readonly payload: Buffer;
}

/**
 * Cuts complete frames off the front of `buffer`; returns them, the rest, and how
 * many bytes the rest must reach before the next frame is whole (`needed`). A
 * header announcing more than `maxFrameSize` bytes is an error as soon as it arrives.
 */
export function splitFrames(buffer: Buffer, maxFrameSize = MAX_FRAME_SIZE): { frames: RawFrame[]; rest: Buffer; needed: number } {
  const frames: RawFrame[] = [];
  let at = 0;
  let needed = 0;
  for (;;) {
    if (buffer.length - at < 5) {
      needed = 5;
      break;
    }
    const length = buffer.readUInt32BE(at);
    const version = buffer[at + 4];
    const header = version === 0x02 ? 7 : version === 0x01 ? 6 : -1;
    if (header < 0) throw new ActonError("UNSUPPORTED_PROTOCOL_VERSION", `version byte ${version}`);
    if (length > maxFrameSize) {
      throw new ActonError("PROTOCOL_ERROR", `the server announced a frame of ${length} bytes, above the limit of ${maxFrameSize} bytes (maxFrameSize)`);
    }
    if (buffer.length - at < header + length) {
      needed = header + length;
      break;
    }
    const kind = buffer[at + 5] ?? 0;
    const format = header === 7 ? (buffer[at + 6] ?? 0) : Format.Json;
    frames.push({ kind, format, payload: buffer.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return { frames, rest: buffer.subarray(at), needed: at === buffer.length ? 0 : needed };
}

/**
 * @internal The bytes received and not yet cut into frames: a list of chunks joined
 * once the next frame is whole, so a frame costs time linear in its size however
 * small the pieces it arrives in.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private needed = 0;

  constructor(private readonly maxFrameSize: number) {}

  /** Takes a chunk; returns the frames it completed (throws on a header that breaks the protocol). */
  take(chunk: Buffer): RawFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return [];
    const whole = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.buffered);
    const { frames, rest, needed } = splitFrames(whole, this.maxFrameSize);
    // A copy of the rest: it must not keep a large joined buffer alive.
    this.chunks = rest.length === 0 ? [] : [rest.length === whole.length ? whole : Buffer.from(rest)];
    this.buffered = rest.length;
    this.needed = needed;
    return frames;
  }

  /** Forgets what was received (a new socket). */
  clear(): void {
    this.chunks = [];
    this.buffered = 0;
    this.needed = 0;
  }
}

type Answer = { kind: number; body: Record<string, unknown> };

interface Waiter {
  resolve(answer: Answer): void;
  reject(error: ActonError): void;
}

/** @internal An async queue fed by a connection: items, then an end (or an error). */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly sizes: number[] = [];
  private waitingBytes = 0;
  private readonly takers: Array<(result: IteratorResult<T>) => void> = [];
  private readonly failures: Array<(error: ActonError) => void> = [];
  private ended = false;
  private error: ActonError | undefined;
  /** Called when a consumer took an item. */
  onTake: (() => void) | undefined;

  /** Items waiting to be read. */
  get size(): number {
    return this.items.length;
  }

  /** Bytes of the items waiting to be read (as given to {@link push}). */
  get bytes(): number {
    return this.waitingBytes;
  }

  /** Whether the items waiting reach `bound` in number or in bytes. */
  full(bound: BufferBound): boolean {
    return this.items.length >= bound.items || this.waitingBytes >= bound.bytes;
  }

  push(item: T, bytes = 0): void {
    const taker = this.takers.shift();
    this.failures.shift();
    if (taker !== undefined) {
      taker({ value: item, done: false });
    } else {
      this.items.push(item);
      this.sizes.push(bytes);
      this.waitingBytes += bytes;
    }
  }

  end(error?: ActonError): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    for (const taker of this.takers.splice(0)) {
      const fail = this.failures.shift();
      if (error !== undefined && fail !== undefined) fail(error);
      else taker({ value: undefined, done: true });
    }
  }

  /** Drops the oldest item waiting; whether there was one. */
  dropOldest(): boolean {
    return this.shift() !== undefined;
  }

  private shift(): T | undefined {
    const item = this.items.shift();
    if (item !== undefined) this.waitingBytes -= this.sizes.shift() ?? 0;
    return item;
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.shift();
    if (item !== undefined) {
      this.onTake?.();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.ended) {
      return this.error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.error);
    }
    return new Promise((resolve, reject) => {
      this.takers.push(resolve);
      this.failures.push(reject);
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** @internal What a {@link Subscription} needs of its connection (a socket's or NATS's). */
export interface SubscriptionHost {
  hold(subscription: Subscription): Promise<void>;
  release(subscription: Subscription): Promise<void>;
}

/**
 * Pushes of some message types (or name patterns) on one connection: a scoped
 * resource. `await subscription.start()` (or `await using`) waits until the server
 * has acknowledged it; `close()` (or leaving the `await using` scope) unsubscribes,
 * once no other subscription of the connection wants the types. Its buffer is
 * bounded in pushes and in bytes: a consumer that falls behind loses the oldest
 * pushes, counted in `missed` (with those the server reports it dropped). A push
 * whose payload does not decode is skipped and counted in `undecodable`. A lost
 * connection rejects the consumer with {@link ConnectionClosed}.
 */
export class Subscription implements AsyncIterableIterator<Push> {
  private readonly channel = new Channel<Push>();
  private state: "new" | "starting" | "active" | "closed" = "new";
  private starting: Promise<void> | undefined;
  /** Pushes this subscription lost because it read too slowly (here or on the server). */
  missed = 0;
  /** Pushes skipped because their payload did not decode (as this client's type, or at all). */
  undecodable = 0;
  readonly types: readonly string[];
  readonly patterns: readonly string[];

  constructor(
    private readonly connection: SubscriptionHost,
    types: readonly string[],
    patterns: readonly string[],
  ) {
    this.types = [...new Set(types)];
    this.patterns = [...new Set(patterns)];
  }

  /** Whether a push of `messageType` belongs to this subscription. */
  wants(messageType: string): boolean {
    if (this.types.includes(messageType)) return true;
    return this.patterns.some((p) => (p.endsWith("*") ? messageType.startsWith(p.slice(0, -1)) : messageType === p));
  }

  /** Whether the server has acknowledged it and it has not ended. */
  get active(): boolean {
    return this.state === "active";
  }

  /** Subscribes on the server (unless another subscription holds the types) and waits for the acknowledgement. */
  async start(): Promise<this> {
    if (this.state === "new") {
      this.state = "starting";
      this.starting = this.connection.hold(this).then(
        () => {
          if (this.state === "starting") this.state = "active";
        },
        (error: unknown) => {
          this.state = "closed";
          throw error;
        },
      );
    }
    await this.starting;
    return this;
  }

  /** Stops receiving; the server stops sending once no subscription of the connection wants the types. */
  async close(): Promise<void> {
    const was = this.state;
    this.state = "closed";
    this.channel.end();
    if (was === "active" || was === "starting") await this.connection.release(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Payload bytes of the pushes waiting to be read. */
  get bufferedBytes(): number {
    return this.channel.bytes;
  }

  /** @internal Buffers a push of `bytes` payload bytes, dropping the oldest ones it does not leave room for. */
  offer(push: Push, bytes: number, bound: BufferBound): void {
    if (this.state !== "active") return;
    this.missed += push.dropped;
    while (this.channel.size > 0 && (this.channel.size >= bound.items || this.channel.bytes + bytes > bound.bytes)) {
      this.channel.dropOldest();
      this.missed += 1;
    }
    this.channel.push(push, bytes);
  }

  /** @internal */
  fail(error: ActonError): void {
    this.channel.end(error);
  }

  async next(): Promise<IteratorResult<Push>> {
    if (this.state === "new") await this.start();
    return this.channel.next();
  }

  async return(_value?: unknown): Promise<IteratorResult<Push>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * A {@link Subscription} whose pushes are decoded as `T`: what the
 * `subscribe<Type>()` methods of generated clients return.
 * `await using updates = await client.subscribePriceUpdate().start(); for await (const u of updates) ...`
 */
export class TypedSubscription<T> implements AsyncIterableIterator<T> {
  constructor(
    readonly subscription: Subscription,
    private readonly decode: (payload: unknown) => T,
  ) {}

  /** Pushes lost because the consumer read too slowly. */
  get missed(): number {
    return this.subscription.missed;
  }

  /** Pushes skipped because their payload did not decode as `T`. */
  get undecodable(): number {
    return this.subscription.undecodable;
  }

  /** Subscribes and waits for the server's acknowledgement. */
  async start(): Promise<this> {
    await this.subscription.start();
    return this;
  }

  /** Unsubscribes (see {@link Subscription.close}). */
  close(): Promise<void> {
    return this.subscription.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const result = await this.subscription.next();
      if (result.done === true) return { value: undefined, done: true };
      try {
        return { value: this.decode(result.value.payload), done: false };
      } catch {
        // One bad push (a hostile server, or a schema that drifted) is skipped, not the end.
        this.subscription.undecodable += 1;
      }
    }
  }

  async return(_value?: unknown): Promise<IteratorResult<T>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** @internal The error an error answer stands for: one of the `declared` errors when its code names one, else by protocol code. */
export function errorFrom(body: Record<string, unknown>, declared: readonly DeclaredErrorClass[] = []): ActonError {
  const code = typeof body["error_code"] === "string" ? body["error_code"] : "UNKNOWN";
  const message = typeof body["error"] === "string" ? body["error"] : "";
  const payload = body["payload"];
  for (const error of declared) {
    if (error.wireName !== code) continue;
    try {
      return error.fromFailure(message, payload);
    } catch {
      break; // fields that do not fit: report it by code
    }
  }
  if (code === "TIMEOUT") return new RequestTimeout(message);
  if (code === "RATE_LIMITED") {
    let retry: number | undefined;
    if (typeof payload === "object" && payload !== null) {
      const value = (payload as Record<string, unknown>)["retry_after_ms"];
      if (typeof value === "number" || typeof value === "bigint") retry = Number(value);
    }
    if (retry === undefined) {
      const found = /retry after (\d+) ?ms/.exec(message);
      if (found?.[1] !== undefined) retry = Number(found[1]);
    }
    return new RateLimited(message, retry);
  }
  return new ActonError(code, message);
}

/**
 * One connection to an acton server; many calls may run on it at once.
 *
 * - Every call has a deadline: `timeoutMs` by default (a stream, none), or the
 *   call's own (`{ timeoutMs: null }`: none).
 * - Leaving a stream early, aborting a call's `signal` or passing its deadline tells
 *   the server (CANCEL), which stops the handler; servers that do not understand
 *   CANCEL (those of the published crate) are left alone.
 * - A quiet connection sends a heartbeat every `keepaliveMs`, so that the server's
 *   idle timeout never cuts it.
 * - After the connection is lost, the next call opens a new one (unless
 *   `reconnect: false`); nothing is re-sent: calls in flight when it was lost
 *   rejected with {@link ConnectionClosed}.
 * - Buffers are bounded in items and in bytes (1024 and 16 MiB by default): a full
 *   stream buffer stops reading the socket (the server then slows this client's
 *   streams); a full subscription buffer drops its oldest pushes.
 * - A frame above `maxFrameSize` (16 MiB by default) closes the connection with a
 *   PROTOCOL_ERROR as soon as its header arrives.
 */
export class Connection {
  private socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly waiters = new Map<string, Waiter>();
  private readonly streams = new Map<string, Channel<Answer>>();
  private readonly subscriptions = new Set<Subscription>();
  private readonly held = new Map<string, number>();
  private closedError: ActonError | undefined;
  private userClosed = false;
  private canCancel = false;
  private lastSent = Date.now();
  private paused = false;
  private readonly keepalive: ReturnType<typeof setInterval> | undefined;
  private nextId = 1;
  private readonly prefix = `ts${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  /** PUSH frames received on this connection (for diagnostics). */
  pushesReceived = 0;
  /** PUSH frames whose payload did not decode at all (no subscription could be told). */
  pushesUndecodable = 0;
  readonly reconnects: boolean;
  readonly streamBuffer: number;
  readonly pushBuffer: number;
  /** How much one stream buffers before the client stops reading the socket. */
  readonly streamBound: BufferBound;
  /** How much one subscription buffers before it drops its oldest pushes. */
  readonly pushBound: BufferBound;
  /** The largest frame payload accepted from the server. */
  readonly maxFrameSize: number;
  private readonly requireServerUid: number | undefined;

  private constructor(
    socket: net.Socket,
    readonly path: string,
    readonly format: Format,
    public timeoutMs: number,
    private readonly codec: MessagePackCodec | undefined,
    options: ConnectOptions,
  ) {
    this.socket = socket;
    this.reconnects = options.reconnect ?? true;
    this.streamBound = bufferBound(options.streamBuffer, options.streamBufferBytes);
    this.pushBound = bufferBound(options.pushBuffer, options.pushBufferBytes);
    this.streamBuffer = this.streamBound.items;
    this.pushBuffer = this.pushBound.items;
    this.maxFrameSize = Math.max(0, Math.min(options.maxFrameSize ?? MAX_FRAME_SIZE, MAX_FRAME_SIZE));
    this.reader = new FrameReader(this.maxFrameSize);
    this.requireServerUid = options.requireServerUid;
    const keepaliveMs = options.keepaliveMs === undefined ? 10_000 : options.keepaliveMs;
    if (keepaliveMs !== null && keepaliveMs > 0) {
      this.keepalive = setInterval(() => this.beat(keepaliveMs), Math.max(50, Math.floor(keepaliveMs / 4)));
      this.keepalive.unref();
    }
    this.attach(socket);
  }

  /** Connects to the server listening on the Unix socket `path`. */
  static async connect(path: string, options: ConnectOptions = {}): Promise<Connection> {
    const format = options.format ?? Format.Json;
    const codec = format === Format.MessagePack ? await loadMessagePack() : undefined;
    const socket = await Connection.open(path, options.requireServerUid);
    const connection = new Connection(socket, path, format, options.timeoutMs ?? 30_000, codec, options);
    await connection.probe();
    return connection;
  }

  /** Connects; with `uid`, only to a socket file of that owner, the same file before and after connecting. */
  private static async open(path: string, uid?: number): Promise<net.Socket> {
    if (uid === undefined) return Connection.dial(path);
    const owner = async (): Promise<{ uid: number; file: string }> => {
      try {
        const stat = await fs.stat(path);
        return { uid: stat.uid, file: `${stat.dev}:${stat.ino}` };
      } catch (error) {
        throw new UnexpectedServer(path, uid, undefined, `its socket file cannot be checked (${String(error)})`);
      }
    };
    const before = await owner();
    if (before.uid !== uid) throw new UnexpectedServer(path, uid, before.uid, `its socket file belongs to uid ${before.uid}`);
    const socket = await Connection.dial(path);
    const after = await owner().catch((error: unknown) => {
      socket.destroy();
      throw error;
    });
    if (after.file !== before.file || after.uid !== uid) {
      socket.destroy();
      throw new UnexpectedServer(path, uid, after.uid, "its socket file was replaced while connecting");
    }
    return socket;
  }

  private static dial(path: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const fail = (error: Error): void => reject(new ConnectionClosed(`cannot connect to ${path}: ${error.message}`));
      socket.once("error", fail);
      socket.once("connect", () => {
        socket.off("error", fail);
        resolve(socket);
      });
    });
  }

  /** Asks the server what it supports (for CANCEL). */
  private async probe(): Promise<void> {
    try {
      const answer = await this.control(Kind.Discover, { correlation_id: this.id(), include_actors: false, include_message_types: false });
      const version = answer["protocol_version"];
      const capabilities = typeof version === "object" && version !== null ? (version as Record<string, unknown>)["capabilities"] : undefined;
      this.canCancel = typeof capabilities === "object" && capabilities !== null && (capabilities as Record<string, unknown>)["cancel"] === true;
    } catch {
      this.canCancel = false;
    }
  }

  private attach(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.failAll(new ConnectionClosed(error.message)));
    socket.on("close", () => this.failAll(new ConnectionClosed()));
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Closes the connection; pending calls reject with {@link ConnectionClosed}. */
  close(): void {
    this.userClosed = true;
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.failAll(new ConnectionClosed("the connection was closed by the client"));
    this.socket.destroy();
  }

  /**
   * Opens a new socket now, after the connection was lost. Nothing is re-sent:
   * only the caller knows whether repeating a call is safe. Subscriptions ended
   * with the old socket (their consumers saw {@link ConnectionClosed}).
   */
  async reconnect(): Promise<void> {
    if (this.closedError === undefined) return;
    const socket = await Connection.open(this.path, this.requireServerUid);
    this.socket = socket;
    this.reader.clear();
    this.closedError = undefined;
    this.userClosed = false;
    this.paused = false;
    this.held.clear();
    this.lastSent = Date.now();
    this.attach(socket);
    await this.probe();
  }

  /** Reopens a lost connection before a call, when allowed. */
  private async ensureOpen(): Promise<void> {
    if (this.closedError !== undefined && this.reconnects && !this.userClosed) await this.reconnect();
  }

  private id(): string {
    return `${this.prefix}-${this.nextId++}`;
  }

  private write(kind: Kind, payload: unknown): void {
    if (this.closedError !== undefined) throw this.closedError;
    this.socket.write(encodeFrame(kind, this.format, payload, this.codec));
    this.lastSent = Date.now();
  }

  private beat(keepaliveMs: number): void {
    if (this.closedError !== undefined || Date.now() - this.lastSent < keepaliveMs) return;
    try {
      this.write(Kind.Heartbeat, undefined);
    } catch {
      // the connection is gone; the next call reconnects or fails
    }
  }

  /** Tells the server a request's answers are no longer wanted (never waits). */
  private cancel(id: string): void {
    if (!this.canCancel || this.closedError !== undefined) return;
    try {
      this.write(Kind.Cancel, { correlation_id: id });
    } catch {
      // nothing to cancel on a closed connection
    }
  }

  /** A call's deadline in milliseconds, or `undefined` for none. */
  private limit(options: CallOptions | undefined, stream: boolean): number | undefined {
    return deadlineOf(options, this.timeoutMs, stream);
  }

  private exchange(kind: Kind, payload: Record<string, unknown>, limit: number | undefined, signal?: AbortSignal): Promise<Answer> {
    const id = String(payload["correlation_id"]);
    return new Promise<Answer>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiters.delete(id);
      };
      const giveUp = (error: unknown): void => {
        settle();
        if (kind === Kind.Request) this.cancel(id);
        reject(error);
      };
      const onAbort = (): void => giveUp(signal?.reason ?? new Error("aborted"));
      if (signal?.aborted === true) {
        reject(signal.reason ?? new Error("aborted"));
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      if (limit !== undefined) {
        // A little longer than the server's own deadline, whose TIMEOUT answer says more.
        timer = setTimeout(() => giveUp(new RequestTimeout(`no answer within ${limit + 1000} ms`)), limit + 1000);
      }
      this.waiters.set(id, {
        resolve: (answer) => {
          settle();
          resolve(answer);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      try {
        this.write(kind, payload);
      } catch (error) {
        settle();
        reject(error);
      }
    });
  }

  private envelope(
    target: string,
    messageType: string,
    payload: unknown,
    reply: boolean,
    stream: boolean,
    limit: number | undefined,
  ): Record<string, unknown> {
    return {
      correlation_id: this.id(),
      target,
      message_type: messageType,
      payload,
      expects_reply: reply,
      expects_stream: stream,
      // A bigint: beyond 2^32 a number would go out as a float in MessagePack.
      response_timeout_ms: limit === undefined ? BigInt(NO_DEADLINE_MS) : Math.max(1, Math.floor(limit)),
    };
  }

  /**
   * Request-response: the reply's payload (decoded), or rejects with {@link ActonError}
   * (one of the `errors` the method declares, when its code names one).
   */
  async request(
    target: string,
    messageType: string,
    payload: unknown,
    options?: CallOptions,
    errors: readonly DeclaredErrorClass[] = [],
  ): Promise<unknown> {
    await this.ensureOpen();
    const limit = this.limit(options, false);
    const envelope = this.envelope(target, messageType, payload, true, false, limit);
    const answer = await this.exchange(Kind.Request, envelope, limit, options?.signal);
    if (answer.kind !== Kind.Response || answer.body["success"] !== true) throw errorFrom(answer.body, errors);
    return answer.body["payload"] ?? null;
  }

  /** Fire-and-forget: resolves once the target's mailbox accepted the message. */
  async send(target: string, messageType: string, payload: unknown, options?: CallOptions): Promise<void> {
    await this.ensureOpen();
    const limit = this.limit(options, false);
    const envelope = this.envelope(target, messageType, payload, false, false, limit);
    const answer = await this.exchange(Kind.Request, envelope, limit, options?.signal);
    if (answer.kind !== Kind.Response || answer.body["success"] !== true) throw errorFrom(answer.body);
  }

  /**
   * Request-stream: yields each item's payload; throws {@link ActonError} (one of the
   * `errors` the method declares, when its code names one) if the stream fails. The
   * deadline, when given, is the whole stream's; leaving the loop early (or aborting
   * the signal) cancels the stream on the server.
   */
  async *stream(
    target: string,
    messageType: string,
    payload: unknown,
    options?: CallOptions,
    errors: readonly DeclaredErrorClass[] = [],
  ): AsyncGenerator<unknown> {
    await this.ensureOpen();
    const limit = this.limit(options, true);
    const envelope = this.envelope(target, messageType, payload, false, true, limit);
    const id = String(envelope["correlation_id"]);
    const frames = new Channel<Answer>();
    frames.onTake = () => this.maybeResume();
    this.streams.set(id, frames);
    const timer =
      limit === undefined
        ? undefined
        : setTimeout(() => frames.end(new RequestTimeout(`the stream did not end within ${limit + 1000} ms`)), limit + 1000);
    const signal = options?.signal;
    const onAbort = (): void => frames.end(new ActonError("CANCELLED", "the stream was aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    let finished = false;
    try {
      if (signal?.aborted === true) throw signal.reason ?? new Error("aborted");
      this.write(Kind.Request, envelope);
      for await (const frame of frames) {
        if (frame.kind !== Kind.Stream) {
          finished = true;
          throw errorFrom(frame.body, errors);
        }
        if (frame.body["is_final"] === true) {
          finished = true;
          if (typeof frame.body["error_code"] === "string") throw errorFrom(frame.body, errors);
          return;
        }
        yield frame.body["payload"] ?? null;
      }
      finished = true; // the connection ended it
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      this.streams.delete(id);
      if (!finished) this.cancel(id);
      this.maybeResume();
    }
  }

  /** Resumes reading once no stream buffer is full. */
  private maybeResume(): void {
    if (!this.paused) return;
    for (const stream of this.streams.values()) if (stream.full(this.streamBound)) return;
    this.paused = false;
    this.socket.resume();
  }

  /**
   * A subscription to broadcasts of these types (and patterns such as `prices.*`),
   * not yet started: `await subscription.start()`, or read it.
   */
  subscription(messageTypes: readonly string[], patterns: readonly string[] = []): Subscription {
    return new Subscription(this, messageTypes, patterns);
  }

  /** Subscribes to broadcasts of these types (and patterns) and waits for the acknowledgement. */
  async subscribe(messageTypes: readonly string[], patterns: readonly string[] = []): Promise<Subscription> {
    return this.subscription(messageTypes, patterns).start();
  }

  /** @internal Counts a subscription in; subscribes on the server to what nothing held yet. */
  async hold(subscription: Subscription): Promise<void> {
    await this.ensureOpen();
    if (this.closedError !== undefined) throw this.closedError;
    const newTypes = subscription.types.filter((t) => (this.held.get(`t:${t}`) ?? 0) === 0);
    const newPatterns = subscription.patterns.filter((p) => (this.held.get(`p:${p}`) ?? 0) === 0);
    this.subscriptions.add(subscription);
    for (const t of subscription.types) this.held.set(`t:${t}`, (this.held.get(`t:${t}`) ?? 0) + 1);
    for (const p of subscription.patterns) this.held.set(`p:${p}`, (this.held.get(`p:${p}`) ?? 0) + 1);
    try {
      if (newTypes.length > 0) await this.control(Kind.Subscribe, { correlation_id: this.id(), message_types: newTypes });
      if (newPatterns.length > 0) await this.control(Kind.SubscribePatterns, { correlation_id: this.id(), patterns: newPatterns });
    } catch (error) {
      await this.release(subscription);
      throw error;
    }
  }

  /** @internal Counts a subscription out; unsubscribes on the server from what nothing holds. */
  async release(subscription: Subscription): Promise<void> {
    if (!this.subscriptions.delete(subscription)) return;
    const goneTypes: string[] = [];
    const gonePatterns: string[] = [];
    for (const [names, prefix, gone] of [
      [subscription.types, "t:", goneTypes],
      [subscription.patterns, "p:", gonePatterns],
    ] as const) {
      for (const name of names) {
        const count = (this.held.get(prefix + name) ?? 0) - 1;
        if (count <= 0) {
          this.held.delete(prefix + name);
          gone.push(name);
        } else {
          this.held.set(prefix + name, count);
        }
      }
    }
    if (this.closedError !== undefined) return;
    try {
      if (goneTypes.length > 0) await this.control(Kind.Unsubscribe, { correlation_id: this.id(), message_types: goneTypes });
      if (gonePatterns.length > 0) await this.control(Kind.UnsubscribePatterns, { correlation_id: this.id(), patterns: gonePatterns });
    } catch {
      // the connection went away meanwhile: nothing is subscribed any more
    }
  }

  /** Ends server-side subscriptions (all of them for an empty list), whatever local subscriptions hold; returns those left. */
  async unsubscribe(messageTypes: readonly string[] = []): Promise<string[]> {
    const answer = await this.control(Kind.Unsubscribe, { correlation_id: this.id(), message_types: [...messageTypes] });
    const left = answer["subscribed_types"];
    return Array.isArray(left) ? left.map(String) : [];
  }

  /** What the server offers: actors, message types, protocol version. */
  async discover(): Promise<Record<string, unknown>> {
    await this.ensureOpen();
    return this.control(Kind.Discover, { correlation_id: this.id(), include_actors: true, include_message_types: true });
  }

  /** What the server offers, with its schema (`schema`, `schema_fingerprint`; absent from servers that serve none). */
  async discoverSchema(): Promise<Record<string, unknown>> {
    await this.ensureOpen();
    return this.control(Kind.Discover, {
      correlation_id: this.id(),
      include_actors: true,
      include_message_types: true,
      include_schema: true,
    });
  }

  /** Whether the server's schema fits this client's (`document`, with its `fingerprint`) for `services`. */
  async checkSchema(document: string, fingerprint: string, services: readonly string[]): Promise<SchemaCheck> {
    return schemaCheckOf(await this.discoverSchema(), document, fingerprint, services);
  }

  /** Sends a heartbeat and waits for the server's. */
  heartbeat(timeoutMs = 5000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete("__heartbeat__");
        reject(new RequestTimeout(`no heartbeat within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set("__heartbeat__", {
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete("__heartbeat__");
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          this.waiters.delete("__heartbeat__");
          reject(error);
        },
      });
      try {
        this.write(Kind.Heartbeat, undefined);
      } catch (error) {
        clearTimeout(timer);
        reject(error);
      }
    });
  }

  private async control(kind: Kind, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await this.exchange(kind, payload, this.timeoutMs);
    if (answer.kind !== Kind.Response || answer.body["success"] !== true) throw errorFrom(answer.body);
    return answer.body;
  }

  private failAll(error: ActonError): void {
    if (this.closedError === undefined) this.closedError = error;
    for (const waiter of [...this.waiters.values()]) waiter.reject(error);
    this.waiters.clear();
    for (const stream of this.streams.values()) stream.end(error);
    for (const subscription of this.subscriptions) subscription.fail(error);
    this.subscriptions.clear();
    this.held.clear();
  }

  private onData(chunk: Buffer): void {
    let frames: RawFrame[];
    try {
      frames = this.reader.take(chunk);
    } catch (error) {
      this.failAll(error instanceof ActonError ? error : new ConnectionClosed(String(error)));
      this.socket.destroy();
      return;
    }
    for (const frame of frames) this.route(frame);
  }

  private route(frame: RawFrame): void {
    if (frame.kind === Kind.Heartbeat) {
      this.waiters.get("__heartbeat__")?.resolve({ kind: frame.kind, body: {} });
      return;
    }
    let body: unknown;
    try {
      body = decodePayload(frame.format, frame.payload, this.codec);
    } catch {
      if (frame.kind === Kind.Push) this.pushesUndecodable += 1;
      return;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      if (frame.kind === Kind.Push) this.pushesUndecodable += 1;
      return;
    }
    const record = body as Record<string, unknown>;
    if (frame.kind === Kind.Push) {
      this.pushesReceived += 1;
      const dropped = record["dropped"];
      const push: Push = {
        messageType: String(record["message_type"] ?? ""),
        payload: record["payload"] ?? null,
        notificationId: String(record["notification_id"] ?? ""),
        timestampMs: Number(record["timestamp_ms"] ?? 0),
        dropped: typeof dropped === "number" || typeof dropped === "bigint" ? Number(dropped) : 0,
      };
      for (const subscription of this.subscriptions) {
        if (subscription.wants(push.messageType)) subscription.offer(push, frame.payload.length, this.pushBound);
      }
      return;
    }
    const id = String(record["correlation_id"] ?? "");
    if (id === CONNECTION_REJECTED) {
      this.failAll(errorFrom(record));
      return;
    }
    const stream = this.streams.get(id);
    if (stream !== undefined) {
      stream.push({ kind: frame.kind, body: record }, frame.payload.length);
      // A full stream buffer stops the reading: the server, writing into a socket
      // nobody reads, slows this client's streams.
      if (stream.full(this.streamBound) && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    this.waiters.get(id)?.resolve({ kind: frame.kind, body: record });
  }
}

// --- Helpers of generated code: checked conversions from the wire form. ---

function shapeError(expected: string, value: unknown): ActonError {
  const found = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  return new ActonError("SERIALIZATION_ERROR", `expected ${expected}, got ${found}`);
}

/** `value` as a record, or an error naming what was expected. */
export function expectRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw shapeError(`an object for ${what}`, value);
  }
  return value as Record<string, unknown>;
}

/** A required field's value. */
/**
 * A field's value, or `undefined` when it is absent; `aliases` (its former names)
 * are tried in order after `name`. Only the object's own properties count: a field
 * named `constructor` is never `Object.prototype`'s.
 */
export function fieldOf(fields: Record<string, unknown>, name: string, aliases: readonly string[] = []): unknown {
  const key = oneOf(fields, name, aliases);
  return key === undefined ? undefined : fields[key];
}

/** Which of `name` and its `aliases` `fields` holds; two at once are refused, as every reader refuses them. */
function oneOf(fields: Record<string, unknown>, name: string, aliases: readonly string[]): string | undefined {
  if (aliases.length === 0) return Object.hasOwn(fields, name) ? name : undefined;
  const present = [name, ...aliases].filter((key) => Object.hasOwn(fields, key));
  if (present.length > 1) {
    throw new ActonError("SERIALIZATION_ERROR", `duplicate field \`${name}\` (given as ${present.join(", ")})`);
  }
  return present[0];
}

/** A required field's value (under `name` or one of its `aliases`). */
export function required(
  fields: Record<string, unknown>,
  name: string,
  owner: string,
  aliases: readonly string[] = [],
): unknown {
  const key = oneOf(fields, name, aliases);
  if (key === undefined) throw new ActonError("SERIALIZATION_ERROR", `${owner} has no field \`${name}\``);
  return fields[key];
}

/** A decoder of lists. */
export const listOf =
  <T>(item: (value: unknown) => T) =>
  (value: unknown): T[] => {
    if (!Array.isArray(value)) throw shapeError("a list", value);
    return value.map(item);
  };

/** A decoder of string-keyed maps. */
export const mapOf =
  <T>(item: (value: unknown) => T) =>
  (value: unknown): Record<string, T> => {
    const record = expectRecord(value, "a map");
    const out: Record<string, T> = {};
    for (const [key, element] of Object.entries(record)) out[key] = item(element);
    return out;
  };

/** A decoder of optional values (`null` and absence become `undefined`). */
export const optionalOf =
  <T>(item: (value: unknown) => T) =>
  (value: unknown): T | undefined =>
    value === null || value === undefined ? undefined : item(value);

export function decodeBool(value: unknown): boolean {
  if (typeof value !== "boolean") throw shapeError("a boolean", value);
  return value;
}

/** An integer of at most 32 bits, as a `number`. */
export function decodeInt(value: unknown): number {
  if (typeof value === "bigint" && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(value);
  }
  if (typeof value !== "number" || !Number.isInteger(value)) throw shapeError("an integer", value);
  return value;
}

/** A 64-bit integer, as a `bigint`; a JSON number that lost precision is refused. */
export function decodeBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value !== "number" || !Number.isInteger(value)) throw shapeError("an integer", value);
  if (!Number.isSafeInteger(value)) {
    throw new ActonError(
      "SERIALIZATION_ERROR",
      `the integer ${value} is beyond 2^53 and lost precision in JSON; use MessagePack for such values`,
    );
  }
  return BigInt(value);
}

export function decodeFloat(value: unknown): number {
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "number") throw shapeError("a number", value);
  return value;
}

export function decodeString(value: unknown): string {
  if (typeof value !== "string") throw shapeError("a string", value);
  return value;
}

/** Binary data: bin in MessagePack, a base64 string in JSON. */
export function decodeBytes(value: unknown): Uint8Array {
  // A Buffer (a view into a whole received message) becomes a plain copy of its own.
  if (value instanceof Uint8Array) return Object.getPrototypeOf(value) === Uint8Array.prototype ? value : new Uint8Array(value);
  if (typeof value === "string") return new Uint8Array(Buffer.from(value, "base64"));
  throw shapeError("binary data", value);
}

/** Any JSON value. */
export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export function decodeJson(value: unknown): Json {
  return value as Json;
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const DURATION = /^(\d+)(?:\.(\d{1,9}))?s$/;

/** `.5`, `.25`: a fraction of a second (from its 9 digits) without trailing zeros; "" for 0. */
function fraction(nineDigits: string): string {
  const trimmed = nineDigits.replace(/0+$/, "");
  return trimmed === "" ? "" : `.${trimmed}`;
}

/**
 * A `timestamp`: an RFC 3339 string, as a `Date`. A `Date` keeps milliseconds:
 * digits beyond the third are dropped.
 */
export function decodeTimestamp(value: unknown): Date {
  const match = typeof value === "string" ? TIMESTAMP.exec(value) : null;
  if (match === null) throw shapeError("an RFC 3339 timestamp such as 2026-11-28T07:03:53Z", value);
  const [, year, month, day, hour, minute, second, digits, sign, offsetHours, offsetMinutes] = match.map((part) =>
    part === undefined ? "" : part,
  ) as [string, string, string, string, string, string, string, string, string, string, string];
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const ms = Number(digits.slice(0, 3).padEnd(3, "0"));
  const offset = sign === "" ? 0 : (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  // setUTCFullYear, unlike Date.UTC, takes years below 100 as they are.
  const check = new Date(0);
  check.setUTCFullYear(y, mo - 1, d);
  check.setUTCHours(h, mi, s, ms);
  // Dates roll over (February 30th becomes March 2nd): refuse what is not a date.
  if (
    y === 0 ||
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    Number(offsetHours) > 23 ||
    Number(offsetMinutes) > 59
  ) {
    throw new ActonError("SERIALIZATION_ERROR", `${JSON.stringify(value)} is not a valid date and time`);
  }
  return new Date(check.getTime() - offset * 60_000);
}

/** The wire form of a `timestamp`: RFC 3339 in UTC (`2026-11-28T07:03:53.5Z`). */
export function encodeTimestamp(value: Date): string {
  const time = value.getTime();
  if (!Number.isFinite(time)) throw new ActonError("SERIALIZATION_ERROR", "an invalid Date is not a timestamp");
  const text = value.toISOString();
  if (text.length !== 24) {
    throw new ActonError("SERIALIZATION_ERROR", `${text} is outside the years 0001 to 9999 a timestamp covers`);
  }
  return `${text.slice(0, 19)}${fraction(`${text.slice(20, 23)}000000`)}Z`;
}

/**
 * A `duration`: seconds with an `s` (`1.5s`), as a number of milliseconds (with
 * a fraction below a millisecond; exact to the nanosecond up to about 104 days).
 */
export function decodeDuration(value: unknown): number {
  const match = typeof value === "string" ? DURATION.exec(value) : null;
  if (match === null) throw shapeError('a duration such as "1.5s"', value);
  const seconds = Number(match[1]);
  const nanos = Number((match[2] ?? "").padEnd(9, "0"));
  return seconds * 1000 + nanos / 1_000_000;
}

/** The wire form of a `duration` given in milliseconds: seconds with an `s` (`1.5s`). */
export function encodeDuration(milliseconds: number): string {
  if (!Number.isFinite(milliseconds) || milliseconds < 0) {
    throw new ActonError("SERIALIZATION_ERROR", `${milliseconds} ms is not a duration (a finite length of time, never negative)`);
  }
  let seconds = Math.floor(milliseconds / 1000);
  let nanos = Math.round((milliseconds - seconds * 1000) * 1_000_000);
  if (nanos >= 1_000_000_000) {
    seconds += 1;
    nanos -= 1_000_000_000;
  }
  return `${seconds}${fraction(String(nanos).padStart(9, "0"))}s`;
}

/**
 * A value of an open enum, or a variant of an open union, that this code does not
 * know: added to the schema after it was generated. `wire` is its wire form (the
 * value's name, or the variant's whole object); it is sent back as it came.
 */
export class Unknown {
  constructor(readonly wire: unknown) {}
}

/**
 * Whether a client fits the server it talks to, by the rules of `acton-gen diff`:
 * compatible; degraded (some of its methods are missing on the server);
 * incompatible (some calls would fail or be misread); unknown (the server serves
 * no schema). `differences` says what differs.
 */
export interface SchemaCheck {
  readonly status: "compatible" | "degraded" | "incompatible" | "unknown";
  readonly differences: string[];
}

type Doc = Record<string, unknown>;

const SCHEMA_SCALARS = new Set([
  "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64",
  "string", "bytes", "json", "timestamp", "duration", "list", "map",
]);

function items(value: unknown, key: string): Doc[] {
  const found = value !== null && typeof value === "object" ? (value as Doc)[key] : undefined;
  return Array.isArray(found) ? (found as Doc[]) : [];
}

function text(value: unknown, key: string): string {
  const found = value !== null && typeof value === "object" ? (value as Doc)[key] : undefined;
  return typeof found === "string" ? found : "";
}

function findIn(document: unknown, list: string, key: string, name: string): Doc | undefined {
  return items(document, list).find((item) => text(item, key) === name);
}

/** @internal How a discovery answer's schema fits the client's `document` (with its `fingerprint`) for `services`. */
export function schemaCheckOf(
  discovered: Record<string, unknown>,
  document: string,
  fingerprint: string,
  services: readonly string[],
): SchemaCheck {
  const served = discovered["schema"];
  if (served === null || typeof served !== "object") {
    return { status: "unknown", differences: ["the server serves no schema"] };
  }
  if (discovered["schema_fingerprint"] === fingerprint) return { status: "compatible", differences: [] };
  return compareSchemas(JSON.parse(document) as unknown, served, services);
}

/** The differences between a client's schema document and a server's, for the client's `services`. */
export function compareSchemas(client: unknown, server: unknown, services: readonly string[]): SchemaCheck {
  const incompatible: string[] = [];
  const degraded: string[] = [];
  const compatible: string[] = [];
  const used = new Set<string>();
  for (const name of services) {
    const ours = findIn(client, "services", "name", name);
    const theirs = findIn(server, "services", "name", name);
    if (ours === undefined) continue;
    const subject = `service ${name}`;
    if (theirs === undefined) {
      incompatible.push(`${subject}: missing on the server`);
      continue;
    }
    for (const method of items(ours, "methods")) {
      const methodSubject = `${subject} method ${text(method, "name")}`;
      for (const key of ["request", "answer"]) if (typeof method[key] === "string") used.add(method[key] as string);
      for (const error of items(method, "errors")) if (typeof error === "string") used.add(error);
      const served = items(theirs, "methods").find((m) => text(m, "name") === text(method, "name"));
      if (served === undefined) {
        degraded.push(`${methodSubject}: missing on the server`);
        continue;
      }
      for (const key of ["kind", "request", "answer"]) {
        if (method[key] !== served[key]) {
          const shown = (v: unknown) => (typeof v === "string" ? v : "nothing");
          incompatible.push(`${methodSubject}: its ${key} is ${shown(served[key])} on the server, ${shown(method[key])} here`);
        }
      }
    }
    for (const served of items(theirs, "methods")) {
      if (!items(ours, "methods").some((m) => text(m, "name") === text(served, "name"))) {
        compatible.push(`${subject} method ${text(served, "name")}: offered by the server, unknown here`);
      }
    }
    for (const push of items(ours, "pushes")) if (typeof push === "string") used.add(push);
  }
  const pending = [...used];
  for (let wire = pending.pop(); wire !== undefined; wire = pending.pop()) {
    const definition = findIn(client, "types", "wire_name", wire);
    const fields = [...items(definition, "fields"), ...items(definition, "variants").flatMap((v) => items(v, "fields"))];
    for (const field of fields) {
      for (const part of text(field, "type").split(/[<>,? ]/)) {
        if (part !== "" && !SCHEMA_SCALARS.has(part) && !used.has(part)) {
          used.add(part);
          pending.push(part);
        }
      }
    }
  }
  for (const wire of [...used].sort()) {
    const ours = findIn(client, "types", "wire_name", wire);
    if (ours !== undefined) compareType(ours, findIn(server, "types", "wire_name", wire), wire, incompatible, compatible);
  }
  const status = incompatible.length > 0 ? "incompatible" : degraded.length > 0 ? "degraded" : "compatible";
  return { status, differences: [...incompatible, ...degraded, ...compatible] };
}

function compareType(ours: Doc, theirs: Doc | undefined, wire: string, incompatible: string[], compatible: string[]): void {
  const subject = `type ${wire}`;
  if (theirs === undefined) {
    incompatible.push(`${subject}: unknown to the server`);
    return;
  }
  const kind = text(ours, "kind");
  if (kind !== text(theirs, "kind")) {
    incompatible.push(`${subject}: is a ${text(theirs, "kind")} on the server, a ${kind} here`);
    return;
  }
  const open = ours["open"] === true;
  if (kind === "enum") {
    compareNames(subject, "value", items(ours, "values"), items(theirs, "values"), open, incompatible, compatible);
  } else if (kind === "union") {
    const ourVariants = items(ours, "variants");
    const theirVariants = items(theirs, "variants");
    compareNames(subject, "variant", ourVariants, theirVariants, open, incompatible, compatible);
    for (const variant of ourVariants) {
      const served = theirVariants.find((v) => text(v, "name") === text(variant, "name"));
      if (served !== undefined) {
        const variantSubject = `${subject} variant ${text(variant, "name")}`;
        compareFields(variantSubject, items(variant, "fields"), items(served, "fields"), incompatible, compatible);
      }
    }
  } else {
    compareFields(subject, items(ours, "fields"), items(theirs, "fields"), incompatible, compatible);
  }
}

function compareNames(
  subject: string,
  what: string,
  ours: Doc[],
  theirs: Doc[],
  open: boolean,
  incompatible: string[],
  compatible: string[],
): void {
  const own = ours.map((v) => text(v, "name"));
  const served = theirs.map((v) => text(v, "name"));
  for (const name of served) {
    if (own.includes(name)) continue;
    const message = `${subject} ${what} ${name}: sent by the server, unknown here`;
    if (open) compatible.push(`${message} (read as Unknown)`);
    else incompatible.push(message);
  }
  for (const name of own) if (!served.includes(name)) incompatible.push(`${subject} ${what} ${name}: unknown to the server`);
}

function compareFields(subject: string, ours: Doc[], theirs: Doc[], incompatible: string[], compatible: string[]): void {
  const mayBeAbsent = (f: Doc) => f["has_default"] === true || text(f, "type").endsWith("?");
  for (const own of ours) {
    const field = `${subject} field ${text(own, "name")}`;
    const served = theirs.find((f) => text(f, "name") === text(own, "name"));
    if (served === undefined) {
      if (mayBeAbsent(own)) compatible.push(`${field}: unknown to the server (may be absent here)`);
      else incompatible.push(`${field}: unknown to the server, required here`);
    } else if (text(served, "type") !== text(own, "type")) {
      incompatible.push(`${field}: is ${text(served, "type")} on the server, ${text(own, "type")} here`);
    }
  }
  for (const served of theirs) {
    if (ours.some((f) => text(f, "name") === text(served, "name"))) continue;
    const field = `${subject} field ${text(served, "name")}`;
    if (mayBeAbsent(served)) compatible.push(`${field}: added on the server (may be absent)`);
    else incompatible.push(`${field}: required by the server, unknown here`);
  }
}

/** An encoder of lists whose items `item` encodes. */
export const listTo =
  <T>(item: (value: T) => unknown) =>
  (value: readonly T[]): unknown[] =>
    value.map(item);

/** An encoder of string-keyed maps whose values `item` encodes. */
export const mapTo =
  <T>(item: (value: T) => unknown) =>
  (value: Readonly<Record<string, T>>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, element] of Object.entries(value)) out[key] = item(element);
    return out;
  };

/** An encoder of optional values (absence and `null` become `null`). */
export const optionalTo =
  <T>(item: (value: T) => unknown) =>
  (value: T | null | undefined): unknown =>
    value === null || value === undefined ? null : item(value);

/** A value that is either absent or present. */
export function isPresent<T>(value: T | null | undefined): value is T {
  return value !== null && value !== undefined;
}
