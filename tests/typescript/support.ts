/** A desk-server process for the tests (the example services, built from the generated Rust traits). */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// dist/tests/typescript/support.js -> the repository root.
export const ROOT = resolve(fileURLToPath(import.meta.url), "../../../../../..");

function listening(path: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = net.createConnection(path);
    probe.once("connect", () => {
      probe.destroy();
      done(true);
    });
    probe.once("error", () => done(false));
  });
}

export class Server {
  readonly process: ChildProcess;

  private constructor(readonly socket: string, extra: string[]) {
    const binary = process.env["ACTON_DESK_SERVER"] ?? join(ROOT, "target", "debug", "desk-server");
    if (!existsSync(binary)) throw new Error(`no desk-server at ${binary}: build it with cargo build -p desk --bins`);
    this.process = spawn(binary, [socket, ...extra], { stdio: "ignore" });
  }

  static async start(extra: string[] = [], socket?: string): Promise<Server> {
    const path = socket ?? join(mkdtempSync(join(tmpdir(), "acton-ts-")), "desk.sock");
    const server = new Server(path, extra);
    const deadline = Date.now() + 20_000;
    while (!(await listening(path))) {
      if (Date.now() > deadline || server.process.exitCode !== null) throw new Error("desk-server did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
    return server;
  }

  kill(): Promise<void> {
    return this.signal("SIGKILL");
  }

  stop(): Promise<void> {
    return this.signal("SIGTERM");
  }

  private signal(signal: NodeJS.Signals): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve();
    return new Promise((done) => {
      this.process.once("exit", () => done());
      this.process.kill(signal);
    });
  }
}

/** A real `nats-server` (Debian's package) on a free localhost port. */
export class NatsServer {
  private constructor(
    readonly process: ChildProcess,
    readonly url: string,
  ) {}

  /**
   * Test files run in parallel, each with servers of its own: a port another server
   * took between the probe and the start makes this one exit, and another is tried.
   */
  static async start(): Promise<NatsServer> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = await NatsServer.tryStart();
      if (server !== undefined) return server;
    }
    throw new Error("nats-server did not start on any of 5 free ports");
  }

  private static async tryStart(): Promise<NatsServer | undefined> {
    const port = await new Promise<number>((done, fail) => {
      const probe = net.createServer();
      probe.once("error", fail);
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address();
        probe.close(() => done(typeof address === "object" && address !== null ? address.port : 0));
      });
    });
    const binary = existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
    const child = spawn(binary, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    const deadline = Date.now() + 20_000;
    const open = (): Promise<boolean> =>
      new Promise((done) => {
        const probe = net.createConnection(port, "127.0.0.1");
        probe.once("connect", () => {
          probe.destroy();
          done(true);
        });
        probe.once("error", () => done(false));
      });
    while (!(await open())) {
      if (child.exitCode !== null) return undefined;
      if (Date.now() > deadline) throw new Error("nats-server did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
    // The port answers: make sure it is this server that answers.
    await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode !== null) return undefined;
    return new NatsServer(child, `nats://127.0.0.1:${port}`);
  }

  stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve();
    return new Promise((done) => {
      this.process.once("exit", () => done());
      this.process.kill("SIGKILL");
    });
  }
}
