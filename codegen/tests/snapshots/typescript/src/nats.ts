/**
 * The NATS transport of the generated clients: the same calls as {@link Connection},
 * to servers that serve their actors on NATS (`desk-server --nats URL`), as
 * docs/nats.md specifies. Needs the `nats` package (an optional dependency of this
 * package), loaded only when `connectNats` is called.
 */

import { createHash, randomBytes } from "node:crypto";

import {
  ActonError,
  Channel,
  ConnectionClosed,
  Format,
  NO_DEADLINE_MS,
  RequestTimeout,
  Subscription,
  bufferBound,
  decodePayload,
  deadlineOf,
  encodePayload,
  errorFrom,
  loadMessagePack,
  loadOptional,
  schemaCheckOf,
  type BufferBound,
  type CallOptions,
  type DeclaredErrorClass,
  type MessagePackCodec,
  type SchemaCheck,
} from "./runtime.js";

/** The header names of docs/nats.md. */
export const NATS_HEADERS = {
  format: "Acton-Format",
  call: "Acton-Call",
  timeoutMs: "Acton-Timeout-Ms",
  sequence: "Acton-Sequence",
  final: "Acton-Final",
  cancelDigest: "Acton-Cancel-Digest",
  cancelSecret: "Acton-Cancel-Secret",
  notificationId: "Acton-Notification-Id",
  timestampMs: "Acton-Timestamp-Ms",
  error: "Nats-Service-Error",
  errorCode: "Nats-Service-Error-Code",
} as const;

/** Options of {@link NatsConnection.connect}. */
export interface NatsConnectOptions {
  /** The subject prefix the servers serve under (default `acton`). */
  readonly prefix?: string;
  /** Payload encoding of the requests (default JSON). */
  readonly format?: Format;
  /** Deadline of each call, in milliseconds (default 30 000); also sent to the server. A stream has none unless it gives one. */
  readonly timeoutMs?: number;
  /** A NATS credentials file's contents (JWT and NKey seed). */
  readonly credentials?: string;
  /** A token. */
  readonly token?: string;
  /** The connection's name, as the NATS server shows it. */
  readonly name?: string;
  /** Items a stream may leave unread before it fails with STREAM_ERROR (default 1024). */
  readonly streamBuffer?: number;
  /** Payload bytes a stream may leave unread before it fails with STREAM_ERROR (default 16 MiB; one larger item is taken when nothing else waits). */
  readonly streamBufferBytes?: number;
  /** Pushes a subscription buffers before it drops the oldest (default 1024). */
  readonly pushBuffer?: number;
  /** Payload bytes a subscription buffers before it drops the oldest (default 16 MiB; one larger push is kept when nothing else waits). */
  readonly pushBufferBytes?: number;
}

// The parts of the `nats` package (nats.js 2.x) used here, so that this file
// compiles without it.
interface NatsHeaders {
  get(key: string): string;
  set(key: string, value: string): void;
  readonly code: number;
}
interface NatsMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: NatsHeaders;
}
interface NatsSubscription {
  unsubscribe(): void;
}
interface NatsClient {
  request(subject: string, data: Uint8Array, options: { timeout: number; headers?: NatsHeaders }): Promise<NatsMsg>;
  publish(subject: string, data?: Uint8Array, options?: { reply?: string; headers?: NatsHeaders }): void;
  subscribe(subject: string, options: { callback: (error: Error | null, msg: NatsMsg) => void }): NatsSubscription;
  flush(): Promise<void>;
  drain(): Promise<void>;
  isClosed(): boolean;
}
interface NatsModule {
  connect(options: Record<string, unknown>): Promise<NatsClient>;
  headers(): NatsHeaders;
  createInbox(): string;
  credsAuthenticator(creds: Uint8Array): unknown;
}

function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

const FORMAT_NAMES: Record<Format, string> = { [Format.Json]: "json", [Format.MessagePack]: "msgpack" };

/**
 * One connection to a NATS server, reaching the actors served under `prefix`. Calls,
 * streams, sends and push subscriptions work as on {@link Connection}. What differs:
 * NATS has no back-pressure, so a stream read too slowly loses items, which fails it
 * with STREAM_ERROR rather than skipping them silently. Leaving a stream early
 * cancels it on the server. NATS reconnects by itself; calls in flight while it is
 * away time out.
 */
export class NatsConnection {
  private readonly held = new Map<Subscription, NatsSubscription[]>();
  /** Pushes received, over all subscriptions. */
  pushesReceived = 0;

  private constructor(
    private readonly client: NatsClient,
    private readonly nats: NatsModule,
    readonly prefix: string,
    readonly format: Format,
    readonly timeoutMs: number,
    private readonly codec: MessagePackCodec | undefined,
    /** How much one stream may leave unread before it fails with STREAM_ERROR. */
    readonly streamBound: BufferBound,
    /** How much one subscription buffers before it drops its oldest pushes. */
    readonly pushBound: BufferBound,
  ) {}

  /** Connects to the NATS server(s) at `servers` (`nats://host:4222`). */
  static async connect(servers: string | readonly string[], options: NatsConnectOptions = {}): Promise<NatsConnection> {
    const nats = await loadOptional<NatsModule>("nats", "NATS", "CONNECTION_CLOSED");
    const format = options.format ?? Format.Json;
    const codec = format === Format.MessagePack ? await loadMessagePack() : undefined;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const list = typeof servers === "string" ? [servers] : [...servers];
    let client: NatsClient;
    try {
      client = await nats.connect({
        servers: list,
        name: options.name ?? "acton-client",
        token: options.token,
        authenticator:
          options.credentials === undefined ? undefined : nats.credsAuthenticator(new TextEncoder().encode(options.credentials)),
        reconnect: true,
        maxReconnectAttempts: -1,
        timeout: Math.min(timeoutMs, 10_000),
      });
    } catch (error) {
      throw new ConnectionClosed(`cannot connect to NATS at ${list.join(", ")}: ${String(error)}`);
    }
    return new NatsConnection(
      client,
      nats,
      options.prefix ?? "acton",
      format,
      timeoutMs,
      codec,
      bufferBound(options.streamBuffer, options.streamBufferBytes),
      bufferBound(options.pushBuffer, options.pushBufferBytes),
    );
  }

  /** Items one stream may leave unread (see {@link streamBound}). */
  get streamBuffer(): number {
    return this.streamBound.items;
  }

  /** Pushes one subscription buffers (see {@link pushBound}). */
  get pushBuffer(): number {
    return this.pushBound.items;
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.client.isClosed();
  }

  /** Ends the subscriptions and closes the connection after sending what is queued. */
  close(): void {
    for (const subscription of [...this.held.keys()]) void subscription.close();
    if (!this.client.isClosed()) void this.client.drain().catch(() => undefined);
  }

  /** NATS reconnects by itself; this only checks that the connection was not closed for good. */
  reconnect(): Promise<void> {
    return this.client.isClosed() ? Promise.reject(new ConnectionClosed("the NATS connection was closed")) : Promise.resolve();
  }

  private subject(target: string, messageType: string): string {
    return `${this.prefix}.${target}.${messageType}`;
  }

  private headers(call: string, limit: number | undefined): NatsHeaders {
    const headers = this.nats.headers();
    headers.set(NATS_HEADERS.format, FORMAT_NAMES[this.format]);
    headers.set(NATS_HEADERS.call, call);
    headers.set(NATS_HEADERS.timeoutMs, String(limit === undefined ? NO_DEADLINE_MS : Math.max(1, Math.floor(limit))));
    return headers;
  }

  private payload(msg: NatsMsg): unknown {
    const name = msg.headers?.get(NATS_HEADERS.format) || "json";
    const format = name === "json" ? Format.Json : name === "msgpack" ? Format.MessagePack : undefined;
    if (format === undefined) throw new ActonError("PROTOCOL_ERROR", `the server answered in an unknown format \`${name}\``);
    return decodePayload(format, msg.data, this.codec);
  }

  /** The error an answer carries, if it is one. */
  private failure(msg: NatsMsg, declared: readonly DeclaredErrorClass[] = []): ActonError | undefined {
    const code = msg.headers?.get(NATS_HEADERS.errorCode);
    if (code === undefined || code === "") return undefined;
    const message = msg.headers?.get(NATS_HEADERS.error) ?? "";
    return errorFrom({ error_code: code, error: message, payload: this.payload(msg) }, declared);
  }

  private notServed(target: string): ActonError {
    return new ActonError("ACTOR_NOT_FOUND", `no server serves \`${target}\` on NATS under the prefix \`${this.prefix}\``);
  }

  private async call(
    call: string,
    target: string,
    messageType: string,
    payload: unknown,
    options: CallOptions | undefined,
  ): Promise<NatsMsg> {
    if (this.client.isClosed()) throw new ConnectionClosed("the NATS connection is closed");
    if (options?.signal?.aborted === true) throw options.signal.reason ?? new Error("aborted");
    const limit = deadlineOf(options, this.timeoutMs, false);
    // A little longer than the server's own deadline, whose TIMEOUT says more.
    const wait = limit === undefined ? NO_DEADLINE_MS : limit + 1000;
    const body = encodePayload(this.format, payload, this.codec);
    try {
      return await this.client.request(this.subject(target, messageType), body, {
        timeout: Math.min(wait, 2_147_483_647),
        headers: this.headers(call, limit),
      });
    } catch (error) {
      const code = errorCodeOf(error);
      if (code === "503") throw this.notServed(target);
      if (code === "TIMEOUT") throw new RequestTimeout(`no answer within ${wait} ms`);
      if (code === "MAX_PAYLOAD_EXCEEDED") throw new ActonError("LIMIT_EXCEEDED", `the request is larger than the NATS server takes`);
      throw new ConnectionClosed(`the NATS request failed: ${String(error)}`);
    }
  }

  /** Request-response: the reply's payload (decoded), or rejects with {@link ActonError}. */
  async request(
    target: string,
    messageType: string,
    payload: unknown,
    options?: CallOptions,
    errors: readonly DeclaredErrorClass[] = [],
  ): Promise<unknown> {
    const msg = await this.call("reply", target, messageType, payload, options);
    const failure = this.failure(msg, errors);
    if (failure !== undefined) throw failure;
    return this.payload(msg);
  }

  /** Fire-and-forget: resolves once the target's mailbox accepted the message. */
  async send(target: string, messageType: string, payload: unknown, options?: CallOptions): Promise<void> {
    const msg = await this.call("send", target, messageType, payload, options);
    const failure = this.failure(msg);
    if (failure !== undefined) throw failure;
  }

  /**
   * Request-stream: yields each item's payload; throws {@link ActonError} if the stream
   * fails, or with STREAM_ERROR when items were lost because they were read too slowly.
   */
  async *stream(
    target: string,
    messageType: string,
    payload: unknown,
    options?: CallOptions,
    errors: readonly DeclaredErrorClass[] = [],
  ): AsyncGenerator<unknown> {
    if (this.client.isClosed()) throw new ConnectionClosed("the NATS connection is closed");
    const limit = deadlineOf(options, this.timeoutMs, true);
    const inbox = this.nats.createInbox();
    const arrived = new Channel<NatsMsg>();
    let lost = false;
    const replies = this.client.subscribe(inbox, {
      callback: (error, msg) => {
        if (lost) return;
        if (error !== null && errorCodeOf(error) !== "503") {
          arrived.end(new ConnectionClosed(`the NATS subscription failed: ${String(error)}`));
          return;
        }
        if (arrived.size > 0 && (arrived.size >= this.streamBound.items || arrived.bytes + msg.data.length > this.streamBound.bytes)) {
          lost = true;
          arrived.end(
            new ActonError(
              "STREAM_ERROR",
              `the stream was dropped: more than ${this.streamBound.items} items or ${this.streamBound.bytes} bytes waited unread`,
            ),
          );
          return;
        }
        arrived.push(msg, msg.data.length);
      },
    });
    const timer =
      limit === undefined
        ? undefined
        : setTimeout(() => arrived.end(new RequestTimeout(`the stream did not end within ${limit + 1000} ms`)), limit + 1000);
    const signal = options?.signal;
    const onAbort = (): void => arrived.end(new ActonError("CANCELLED", "the stream was aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    let ended = false; // by the server: nothing to cancel
    let expected = 0;
    const cancelSecret = randomBytes(16).toString("hex");
    try {
      if (signal?.aborted === true) throw signal.reason ?? new Error("aborted");
      const body = encodePayload(this.format, payload, this.codec);
      const headers = this.headers("stream", limit);
      // Only its digest travels with the request: only this caller can cancel it.
      headers.set(NATS_HEADERS.cancelDigest, createHash("sha256").update(cancelSecret).digest("hex"));
      this.client.publish(this.subject(target, messageType), body, { reply: inbox, headers });
      for await (const msg of arrived) {
        if (msg.headers?.code === 503) {
          ended = true;
          throw this.notServed(target);
        }
        const sequence = Number(msg.headers?.get(NATS_HEADERS.sequence) || "0");
        if (sequence !== expected) {
          throw new ActonError("STREAM_ERROR", `${sequence - expected} items of the stream were lost (read too slowly)`);
        }
        if (msg.headers?.get(NATS_HEADERS.final) === "true") {
          ended = true;
          const failure = this.failure(msg, errors);
          if (failure !== undefined) throw failure;
          return;
        }
        expected += 1;
        yield this.payload(msg);
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (!this.client.isClosed()) {
        replies.unsubscribe();
        // Given up on (left early, read too slowly, timed out): the server stops producing it.
        if (!ended) {
          const headers = this.nats.headers();
          headers.set(NATS_HEADERS.cancelSecret, cancelSecret);
          this.client.publish(`${this.prefix}._cancel`, new TextEncoder().encode(inbox), { headers });
        }
      }
    }
  }

  /** A subscription to broadcasts of these types (and patterns such as `prices.*`), not yet started. */
  subscription(messageTypes: readonly string[], patterns: readonly string[] = []): Subscription {
    return new Subscription(this, messageTypes, patterns);
  }

  /** Subscribes to broadcasts of these types (and patterns); resolves once the NATS server has the subscription. */
  async subscribe(messageTypes: readonly string[], patterns: readonly string[] = []): Promise<Subscription> {
    return this.subscription(messageTypes, patterns).start();
  }

  /** @internal */
  async hold(subscription: Subscription): Promise<void> {
    if (this.client.isClosed()) throw new ConnectionClosed("the NATS connection is closed");
    const pushPrefix = `${this.prefix}.push.`;
    const deliver = (error: Error | null, msg: NatsMsg): void => {
      if (error !== null) {
        subscription.fail(new ConnectionClosed(`the NATS subscription failed: ${String(error)}`));
        return;
      }
      const messageType = msg.subject.slice(pushPrefix.length);
      if (!subscription.wants(messageType)) return;
      this.pushesReceived += 1;
      let payload: unknown;
      try {
        payload = this.payload(msg);
      } catch {
        // Skipped and counted: one bad message on a push subject is not the end of the subscription.
        subscription.undecodable += 1;
        return;
      }
      subscription.offer(
        {
          messageType,
          payload,
          notificationId: msg.headers?.get(NATS_HEADERS.notificationId) ?? "",
          timestampMs: Number(msg.headers?.get(NATS_HEADERS.timestampMs) || "0"),
          dropped: 0,
        },
        msg.data.length,
        this.pushBound,
      );
    };
    // Patterns are matched here: one subscription to every push covers them.
    const subjects = subscription.patterns.length > 0 ? [`${pushPrefix}>`] : subscription.types.map((t) => pushPrefix + t);
    this.held.set(
      subscription,
      subjects.map((subject) => this.client.subscribe(subject, { callback: deliver })),
    );
    await this.client.flush();
  }

  /** @internal */
  async release(subscription: Subscription): Promise<void> {
    for (const held of this.held.get(subscription) ?? []) if (!this.client.isClosed()) held.unsubscribe();
    this.held.delete(subscription);
    return Promise.resolve();
  }

  /** The served schema (`schema`, `schema_fingerprint`; absent from servers that serve none), the exposed actors and registered types. */
  async discoverSchema(): Promise<Record<string, unknown>> {
    let msg: NatsMsg;
    try {
      msg = await this.client.request(`${this.prefix}._discover`, new Uint8Array(), { timeout: this.timeoutMs });
    } catch (error) {
      if (errorCodeOf(error) === "503") throw new ActonError("ACTOR_NOT_FOUND", `no server serves on NATS under \`${this.prefix}\``);
      throw new RequestTimeout(`no discovery answer within ${this.timeoutMs} ms`);
    }
    const answer = JSON.parse(new TextDecoder().decode(msg.data)) as unknown;
    if (answer === null || typeof answer !== "object") throw new ActonError("PROTOCOL_ERROR", "the discovery answer is not an object");
    return answer as Record<string, unknown>;
  }

  /** Whether the server's schema fits this client's for `services`. */
  async checkSchema(document: string, fingerprint: string, services: readonly string[]): Promise<SchemaCheck> {
    return schemaCheckOf(await this.discoverSchema(), document, fingerprint, services);
  }
}
