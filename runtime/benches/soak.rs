//! Soak test of the IPC server: a mixed, partly hostile workload over the real
//! socket for a bounded time, watching the server's memory and checking that
//! well-behaved clients are always served.
//!
//! `cargo bench -p acton-reactive --all-features --bench soak -- --minutes N`
//! (or `--seconds S` for a short run; default 1 minute).
//!
//! Unit and integration tests prove each behaviour once; leaks, stuck tasks and
//! slowly growing queues only show after the server has taken a long mix of good
//! and bad traffic. So this binary re-executes itself with `--serve PATH` to run a
//! server in its own process (an actor with Add, a Count stream and a Log
//! fire-and-forget handler, and a task broadcasting `Tick`s every few ms), and
//! drives it at once with:
//! (a) well-behaved clients whose every answer is checked,
//! (b) stream consumers checking every stream is complete and in order,
//! (c) subscribers counting pushes,
//! (d) slow readers that open a stream and a subscription and never read,
//! (e) clients that disconnect mid-stream,
//! (f) malformed frames, each on a fresh connection,
//! (g) connection floods beyond `max_connections`.
//!
//! Every 5 s it prints the server's RSS and the counters. It exits non-zero when a
//! well-behaved request, stream, subscription or fire-and-forget message was lost,
//! or when the server process died. RSS growth is reported, not judged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use acton_reactive::ipc::client::{ClientOptions, IpcClient};
use acton_reactive::ipc::{Format, IpcConfig, IpcListenerHandle, IpcOptions};
use acton_reactive::prelude::*;
use futures_util::future::join_all;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------
// Messages

/// Request-response: answered with [`Sum`].
#[acton_message(ipc)]
struct Add {
    a: i64,
    b: i64,
}

#[acton_message(ipc)]
struct Sum {
    sum: i64,
}

/// Request-stream: answered with `up_to` [`Counted`] items, `delay_ms` apart.
#[acton_message(ipc)]
struct Count {
    up_to: u32,
    delay_ms: u64,
}

#[acton_message(ipc)]
struct Counted {
    n: u32,
}

/// Fire-and-forget: the server counts them.
#[acton_message(ipc)]
struct Log {
    line: String,
}

/// Broadcast by the server every [`TICK_EVERY`].
#[acton_message(ipc)]
struct Tick {
    seq: u64,
}

/// Asks the server for its counters: answered with [`ServerReport`].
#[acton_message(ipc)]
struct Report;

#[acton_message(ipc)]
struct ServerReport {
    logs_handled: u64,
    connections_accepted: u64,
    connections_active: u64,
    connections_rejected: u64,
    requests: u64,
    errors: u64,
    protocol_errors: u64,
    answers_over_budget: u64,
    slow_peers_closed: u64,
    requests_abandoned: u64,
    deadlines_capped: u64,
    pushes_sent: u64,
    pushes_dropped: u64,
}

// ---------------------------------------------------------------------------
// Settings

const TARGET: &str = "soak";
const MAX_CONNECTIONS: usize = 128;
const TICK_EVERY: Duration = Duration::from_millis(5);
/// The server closes a peer that accepts no bytes for this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

const WELL_BEHAVED_CONNECTIONS: usize = 2;
const TASKS_PER_CONNECTION: usize = 4;
const STREAM_CONSUMERS: usize = 2;
const SUBSCRIBERS: usize = 2;
/// A new slow reader this often; each holds its connection for `SLOW_READER_HOLD`.
const SLOW_READER_EVERY: Duration = Duration::from_secs(1);
const SLOW_READER_HOLD: Duration = Duration::from_secs(6);
const DISCONNECT_EVERY: Duration = Duration::from_millis(50);
const MALFORMED_EVERY: Duration = Duration::from_millis(10);
const FLOOD_EVERY: Duration = Duration::from_secs(5);
const FLOOD_SIZE: usize = MAX_CONNECTIONS + 64;
/// How long a flood connection waits for its first answer.
const FLOOD_PATIENCE: Duration = Duration::from_secs(3);
/// How long a raw client waits for the server's answers before it gives up.
const RAW_PATIENCE: Duration = Duration::from_millis(500);
/// Errors of well-behaved clients printed in full; the rest are only counted.
const ERRORS_SHOWN: u64 = 10;

// ---------------------------------------------------------------------------
// Entry point

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(socket) = value("--serve") {
        runtime.block_on(serve(PathBuf::from(socket)));
        return;
    }
    let seconds = value("--seconds")
        .and_then(|s| s.parse::<f64>().ok())
        .or_else(|| {
            value("--minutes")
                .and_then(|m| m.parse::<f64>().ok())
                .map(|m| m * 60.0)
        })
        .unwrap_or(60.0);
    let passed = runtime.block_on(drive(Duration::from_secs_f64(seconds.max(1.0))));
    // Tasks still blocked on a dead server must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !passed {
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The server process

static LOGS_HANDLED: AtomicU64 = AtomicU64::new(0);

async fn serve(socket: PathBuf) {
    let runtime = ActonApp::launch();
    let registry = runtime.ipc_registry();
    registry.register::<Add>("Add");
    registry.register::<Sum>("Sum");
    registry.register::<Count>("Count");
    registry.register::<Counted>("Counted");
    registry.register::<Log>("Log");
    registry.register::<Tick>("Tick");
    registry.register::<Report>("Report");
    registry.register::<ServerReport>("ServerReport");

    let listener_cell = Arc::new(OnceLock::new());
    let actor = build_actor(&runtime, Arc::clone(&listener_cell));
    runtime.ipc_expose(TARGET, actor.start().await);
    let listener = runtime
        .start_ipc_listener_with_options(server_config(socket), server_options())
        .await
        .expect("the soak server's listener starts");
    let _ = listener_cell.set(listener);

    let broker = runtime.broker();
    let mut ticks = tokio::time::interval(TICK_EVERY);
    for seq in 0.. {
        ticks.tick().await;
        broker.broadcast(Tick { seq }).await;
    }
}

fn server_config(socket: PathBuf) -> IpcConfig {
    IpcConfig {
        socket_path: socket,
        max_connections: MAX_CONNECTIONS,
        connection_timeout: Duration::from_secs(10),
        rate_limit: None,
    }
}

fn server_options() -> IpcOptions {
    IpcOptions::default()
        .max_outbound_bytes(256 * 1024)
        .write_timeout(WRITE_TIMEOUT)
        .max_request_timeout(Duration::from_secs(30))
}

fn build_actor(
    runtime: &ActorRuntime,
    listener: Arc<OnceLock<IpcListenerHandle>>,
) -> ActorBuilder<()> {
    let mut actor = runtime.new_actor::<()>();
    actor
        .act_on::<Add>(|_actor, ctx| {
            let sum = ctx.message().a.wrapping_add(ctx.message().b);
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(Sum { sum }).await })
        })
        .act_on::<Count>(|_actor, ctx| {
            let Count { up_to, delay_ms } = ctx.message().clone();
            let reply = ctx.reply_envelope();
            Reply::pending(async move {
                for n in 0..up_to {
                    if delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    }
                    // Stop producing once nobody reads the stream.
                    if reply.deliver(Counted { n }).await.is_err() {
                        break;
                    }
                }
            })
        })
        .act_on::<Log>(|_actor, _ctx| {
            LOGS_HANDLED.fetch_add(1, Ordering::Relaxed);
            Reply::ready()
        })
        .act_on::<Report>(move |_actor, ctx| {
            let report = server_report(listener.get());
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(report).await })
        });
    actor
}

fn server_report(listener: Option<&IpcListenerHandle>) -> ServerReport {
    let stats = listener.map(IpcListenerHandle::stats).unwrap_or_default();
    ServerReport {
        logs_handled: LOGS_HANDLED.load(Ordering::Relaxed),
        connections_accepted: stats.connections_accepted,
        connections_active: stats.connections_active,
        connections_rejected: stats.connections_rejected,
        requests: stats.requests,
        errors: stats.errors,
        protocol_errors: stats.protocol_errors,
        answers_over_budget: stats.answers_over_budget,
        slow_peers_closed: stats.slow_peers_closed,
        requests_abandoned: stats.requests_abandoned,
        deadlines_capped: stats.deadlines_capped,
        pushes_sent: stats.pushes_sent,
        pushes_dropped: stats.pushes_dropped,
    }
}

/// The server's child process; killed (and its socket removed) when dropped.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    async fn spawn() -> Self {
        let socket = std::env::temp_dir().join(format!("acton-soak-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let child = Command::new(std::env::current_exe().expect("path of this executable"))
            .arg("--serve")
            .arg(&socket)
            .spawn()
            .expect("spawn the server process");
        let server = Self { child, socket };
        for _ in 0..500 {
            if UnixStream::connect(&server.socket).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server did not start listening within 5 s");
    }

    /// Whether the process is still running.
    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident set size, in KiB (`VmRSS` in `/proc/<pid>/status`).
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

// ---------------------------------------------------------------------------
// Counters the driver's tasks share

#[derive(Default)]
struct Tally {
    requests_ok: AtomicU64,
    requests_lost: AtomicU64,
    logs_acknowledged: AtomicU64,
    streams_ok: AtomicU64,
    streams_broken: AtomicU64,
    pushes: AtomicU64,
    tick_gaps: AtomicU64,
    subscriptions_cut: AtomicU64,
    slow_readers: AtomicU64,
    disconnects: AtomicU64,
    refused_at_limit: AtomicU64,
    malformed: AtomicU64,
    floods: AtomicU64,
    flood_accepted: AtomicU64,
    flood_rejected: AtomicU64,
    flood_connect_failed: AtomicU64,
    flood_closed: AtomicU64,
    flood_timed_out: AtomicU64,
}

fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Tally {
    /// Answers well-behaved clients did not get (or got wrong).
    fn lost(&self) -> u64 {
        get(&self.requests_lost) + get(&self.streams_broken) + get(&self.subscriptions_cut)
    }

    /// Counts a failure of a well-behaved client, printing the first few.
    fn lose(&self, counter: &AtomicU64, what: &str, detail: impl std::fmt::Display) {
        bump(counter);
        let total = self.lost();
        if total <= ERRORS_SHOWN {
            eprintln!("LOST #{total}: {what}: {detail}");
        }
    }
}

/// A small deterministic generator (splitmix64): no dependency, reproducible runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What every driver task gets.
#[derive(Clone)]
struct Ctx {
    socket: PathBuf,
    tally: Arc<Tally>,
    deadline: tokio::time::Instant,
}

impl Ctx {
    fn running(&self) -> bool {
        tokio::time::Instant::now() < self.deadline
    }

    /// Sleeps `period`, or less when the deadline comes first.
    async fn pause(&self, period: Duration) {
        tokio::time::sleep_until(self.deadline.min(tokio::time::Instant::now() + period)).await;
    }
}

// ---------------------------------------------------------------------------
// The driver

async fn drive(duration: Duration) -> bool {
    let mut server = Server::spawn().await;
    println!(
        "soak: {:.0} s against server pid {} on {} (max_connections {MAX_CONNECTIONS})",
        duration.as_secs_f64(),
        server.child.id(),
        server.socket.display()
    );
    let ctx = Ctx {
        socket: server.socket.clone(),
        tally: Arc::new(Tally::default()),
        deadline: tokio::time::Instant::now() + duration,
    };
    let tasks = spawn_workload(&ctx).await;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut died = false;
    while ctx.running() {
        ctx.pause(SAMPLE_EVERY).await;
        samples.push(sample(&server, &ctx.tally, started.elapsed(), false));
        if !server.is_alive() {
            println!("the server process died");
            died = true;
            break;
        }
    }
    let tasks_finished = finish(tasks).await;
    let report = if died { None } else { final_report(&ctx).await };
    died |= !server.is_alive();
    if !died {
        samples.push(sample(&server, &ctx.tally, started.elapsed(), true));
    }
    summarize(&ctx.tally, &samples, report.as_ref(), died, tasks_finished)
}

async fn spawn_workload(ctx: &Ctx) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for connection in 0..WELL_BEHAVED_CONNECTIONS {
        // One connection of each format.
        let format = if connection % 2 == 0 {
            Format::Json
        } else {
            Format::MessagePack
        };
        let client = connect(ctx, format).await;
        for task in 0..TASKS_PER_CONNECTION {
            let seed = (connection * TASKS_PER_CONNECTION + task) as u64;
            tasks.push(tokio::spawn(well_behaved(
                ctx.clone(),
                client.clone(),
                seed,
            )));
        }
    }
    for seed in 0..STREAM_CONSUMERS as u64 {
        let client = connect(ctx, Format::Json).await;
        tasks.push(tokio::spawn(stream_consumer(ctx.clone(), client, seed)));
    }
    for n in 0..SUBSCRIBERS {
        let client = connect(ctx, Format::Json).await;
        tasks.push(tokio::spawn(subscriber(ctx.clone(), client, n % 2 == 1)));
    }
    tasks.push(tokio::spawn(slow_readers(ctx.clone())));
    tasks.push(tokio::spawn(disconnectors(ctx.clone())));
    tasks.push(tokio::spawn(malformed(ctx.clone())));
    tasks.push(tokio::spawn(floods(ctx.clone())));
    tasks
}

async fn connect(ctx: &Ctx, format: Format) -> IpcClient {
    let options = ClientOptions {
        format,
        ..ClientOptions::default()
    };
    IpcClient::connect_with(&ctx.socket, options)
        .await
        .expect("a well-behaved client connects")
}

/// Waits for the tasks to end (they stop at the deadline); false when some hang.
async fn finish(tasks: Vec<JoinHandle<()>>) -> bool {
    // Longer than a client's own timeout (30 s + 1 s), so a hung request shows
    // up as lost rather than as a task that never ends.
    let patience = Duration::from_secs(45);
    match tokio::time::timeout(patience, join_all(tasks)).await {
        Ok(results) => results.iter().all(Result::is_ok),
        Err(_) => {
            println!("some driver tasks did not finish within {patience:?} of the deadline");
            false
        }
    }
}

/// Prints one progress line and returns (elapsed, RSS in KiB).
fn sample(server: &Server, tally: &Tally, elapsed: Duration, end: bool) -> (Duration, Option<u64>) {
    let rss = server.rss_kib();
    let when = if end {
        "end".to_owned()
    } else {
        format!("{:.0} s", elapsed.as_secs_f64())
    };
    println!(
        "[{when:>5}] server RSS {:>8} | requests ok {:>8} | lost {} | streams ok {:>6} | pushes {:>7} | malformed {:>6} | floods {}",
        rss.map_or_else(|| "?".to_owned(), |kib| format!("{:.1} MiB", mib(kib))),
        get(&tally.requests_ok),
        tally.lost(),
        get(&tally.streams_ok),
        get(&tally.pushes),
        get(&tally.malformed),
        get(&tally.floods),
    );
    (elapsed, rss)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Asks the server for its counters on a fresh connection (which also shows it
/// still serves), once the fire-and-forget messages had time to be handled and
/// the driver's other connections had time to close (up to 10 s).
async fn final_report(ctx: &Ctx) -> Option<ServerReport> {
    let client = IpcClient::connect(&ctx.socket).await.ok()?;
    let acknowledged = get(&ctx.tally.logs_acknowledged);
    let mut report = None;
    for _ in 0..100 {
        match client
            .request::<_, ServerReport>(TARGET, "Report", &Report)
            .await
        {
            Ok(answer) => {
                // This connection is the only one left open.
                let settled = answer.logs_handled >= acknowledged && answer.connections_active <= 1;
                report = Some(answer);
                if settled {
                    break;
                }
            }
            Err(error) => println!("the final report request failed: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report
}

fn summarize(
    tally: &Tally,
    samples: &[(Duration, Option<u64>)],
    report: Option<&ServerReport>,
    died: bool,
    tasks_finished: bool,
) -> bool {
    println!("\n== summary");
    summarize_rss(samples);
    println!(
        "well-behaved: {} requests ok, {} lost; {} streams ok, {} broken; {} subscriptions cut",
        get(&tally.requests_ok),
        get(&tally.requests_lost),
        get(&tally.streams_ok),
        get(&tally.streams_broken),
        get(&tally.subscriptions_cut),
    );
    println!(
        "pushes received: {} ({} gaps in Tick sequence, drops are allowed)",
        get(&tally.pushes),
        get(&tally.tick_gaps)
    );
    println!(
        "hostile: {} slow readers, {} mid-stream disconnects ({} of them refused at the limit), {} malformed frames",
        get(&tally.slow_readers),
        get(&tally.disconnects),
        get(&tally.refused_at_limit),
        get(&tally.malformed),
    );
    println!(
        "floods: {} of {FLOOD_SIZE} connections: {} served, {} refused (CONNECTION_LIMIT_REACHED), {} closed without a frame (the server sends it to 64 refused connections at a time), {} no frame within {FLOOD_PATIENCE:?}, {} connect failed",
        get(&tally.floods),
        get(&tally.flood_accepted),
        get(&tally.flood_rejected),
        get(&tally.flood_closed),
        get(&tally.flood_timed_out),
        get(&tally.flood_connect_failed),
    );
    let acknowledged = get(&tally.logs_acknowledged);
    let logs_lost = match report {
        Some(report) => {
            print_report(report, acknowledged);
            acknowledged.saturating_sub(report.logs_handled)
        }
        None => {
            println!("server report: unavailable (the server did not answer)");
            0
        }
    };
    let lost = tally.lost() + logs_lost;
    println!("total lost answers: {lost}");
    let passed = lost == 0 && !died && tasks_finished && report.is_some();
    println!(
        "result: {}",
        if passed {
            "PASS"
        } else if died {
            "FAIL (the server process died)"
        } else {
            "FAIL"
        }
    );
    passed
}

fn summarize_rss(samples: &[(Duration, Option<u64>)]) {
    let values: Vec<u64> = samples.iter().filter_map(|(_, rss)| *rss).collect();
    let (Some(min), Some(max), Some(last)) = (
        values.iter().min(),
        values.iter().max(),
        values.last().copied(),
    ) else {
        println!("server RSS: no samples");
        return;
    };
    println!(
        "server RSS: min {:.1} MiB, max {:.1} MiB, last {:.1} MiB",
        mib(*min),
        mib(*max),
        mib(last)
    );
    // The sample at (or just after) half of the run against the last one.
    let half = samples.last().map_or(Duration::ZERO, |(at, _)| *at / 2);
    let midpoint = samples
        .iter()
        .find(|(at, rss)| *at >= half && rss.is_some())
        .and_then(|(_, rss)| *rss);
    match midpoint {
        Some(mid) if mid > 0 => {
            let growth = (last as f64 - mid as f64) / mid as f64 * 100.0;
            println!(
                "server RSS over the last half: {:.1} MiB -> {:.1} MiB ({growth:+.1}%): {}",
                mib(mid),
                mib(last),
                if growth > 20.0 {
                    "GREW by more than 20% (worth a look)"
                } else {
                    "no growth above 20%"
                }
            );
        }
        _ => println!("server RSS over the last half: not enough samples"),
    }
}

fn print_report(report: &ServerReport, logs_acknowledged: u64) {
    println!(
        "fire-and-forget: {logs_acknowledged} acknowledged, {} handled by the server",
        report.logs_handled
    );
    println!(
        "server: {} connections accepted, {} still open besides the report's own, {} refused; {} requests, {} errors, {} protocol errors",
        report.connections_accepted,
        report.connections_active.saturating_sub(1),
        report.connections_rejected,
        report.requests,
        report.errors,
        report.protocol_errors,
    );
    println!(
        "server: {} slow peers closed, {} answers over budget, {} requests abandoned, {} deadlines capped, {} pushes sent, {} pushes dropped",
        report.slow_peers_closed,
        report.answers_over_budget,
        report.requests_abandoned,
        report.deadlines_capped,
        report.pushes_sent,
        report.pushes_dropped,
    );
}

// ---------------------------------------------------------------------------
// (a)-(c): well-behaved clients

/// Add requests (and now and then a Log), every answer checked. Stops when its
/// connection is gone: nothing more would reach the server on it.
async fn well_behaved(ctx: Ctx, client: IpcClient, seed: u64) {
    let mut rng = Rng(seed);
    let tally = &ctx.tally;
    while ctx.running() && !client.is_closed() {
        let a = rng.next() as i64 >> 2;
        let b = rng.next() as i64 >> 2;
        match client.request::<_, Sum>(TARGET, "Add", &Add { a, b }).await {
            Ok(Sum { sum }) if sum == a + b => {
                bump(&tally.requests_ok);
            }
            Ok(Sum { sum }) => tally.lose(
                &tally.requests_lost,
                "Add",
                format!("{a} + {b} answered {sum}"),
            ),
            Err(error) => tally.lose(&tally.requests_lost, "Add", error),
        }
        if rng.below(16) == 0 {
            let line = format!("log {}", rng.next());
            match client.send(TARGET, "Log", &Log { line }).await {
                Ok(()) => {
                    bump(&tally.logs_acknowledged);
                }
                Err(error) => tally.lose(&tally.requests_lost, "Log", error),
            }
        }
    }
}

/// Whole streams, each checked for every item in order and a clean end. Stops
/// when its connection is gone.
async fn stream_consumer(ctx: Ctx, client: IpcClient, seed: u64) {
    let mut rng = Rng(seed ^ 0x5eed);
    let tally = &ctx.tally;
    while ctx.running() && !client.is_closed() {
        let request = Count {
            up_to: rng.below(200) as u32 + 1,
            delay_ms: rng.below(3),
        };
        match read_whole_stream(&client, &request).await {
            Ok(()) => {
                bump(&tally.streams_ok);
            }
            Err(problem) => tally.lose(&tally.streams_broken, "Count stream", problem),
        }
    }
}

async fn read_whole_stream(client: &IpcClient, request: &Count) -> Result<(), String> {
    let mut stream = client
        .stream::<_, Counted>(TARGET, "Count", request)
        .await
        .map_err(|error| error.to_string())?;
    let mut expected = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Counted { n }) if n == expected => expected += 1,
            Ok(Counted { n }) => return Err(format!("item {n} where {expected} was due")),
            Err(error) => return Err(format!("after {expected} items: {error}")),
        }
    }
    if expected == request.up_to {
        Ok(())
    } else {
        Err(format!("ended after {expected} of {} items", request.up_to))
    }
}

/// Counts Tick pushes (by exact name, or by pattern), and gaps in their sequence.
async fn subscriber(ctx: Ctx, client: IpcClient, by_pattern: bool) {
    let tally = &ctx.tally;
    let subscription = if by_pattern {
        client.subscribe_patterns::<Tick>(&["Ti*"]).await
    } else {
        client.subscribe::<Tick>(&["Tick"]).await
    };
    let mut subscription = match subscription {
        Ok(subscription) => subscription,
        Err(error) => return tally.lose(&tally.subscriptions_cut, "subscribe", error),
    };
    let mut last: Option<u64> = None;
    loop {
        let push = match tokio::time::timeout_at(ctx.deadline, subscription.next()).await {
            Err(_) => return,
            Ok(Some(Ok(push))) => push,
            Ok(Some(Err(error))) => {
                return tally.lose(&tally.subscriptions_cut, "Tick push", error)
            }
            Ok(None) => {
                return tally.lose(&tally.subscriptions_cut, "Tick", "the subscription ended")
            }
        };
        bump(&tally.pushes);
        let seq = push.payload.seq;
        if last.is_some_and(|last| seq != last + 1) {
            bump(&tally.tick_gaps);
        }
        last = Some(seq);
    }
}

// ---------------------------------------------------------------------------
// (d)-(g): hostile clients, on raw sockets

const REQUEST: u8 = 0x01;
const ERROR: u8 = 0x03;
const HEARTBEAT: u8 = 0x04;
const SUBSCRIBE: u8 = 0x06;
const JSON: u8 = 0x01;
const MSGPACK: u8 = 0x02;

/// A version-2 frame: 4-byte big-endian length, version, kind, format, payload.
fn frame(kind: u8, format: u8, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("a test frame fits a u32 length");
    let mut bytes = Vec::with_capacity(7 + payload.len());
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&[0x02, kind, format]);
    bytes.extend_from_slice(payload);
    bytes
}

fn json_frame(kind: u8, value: &serde_json::Value) -> Vec<u8> {
    frame(kind, JSON, value.to_string().as_bytes())
}

fn stream_request(correlation_id: &str, up_to: u32) -> Vec<u8> {
    json_frame(
        REQUEST,
        &serde_json::json!({
            "correlation_id": correlation_id,
            "target": TARGET,
            "message_type": "Count",
            "payload": {"up_to": up_to, "delay_ms": 0},
            "expects_reply": false,
            "expects_stream": true,
            "response_timeout_ms": 60_000,
        }),
    )
}

/// Reads (and drops) whatever the server sends until it closes, for at most
/// `RAW_PATIENCE`.
async fn drain(stream: &mut UnixStream) {
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(RAW_PATIENCE, stream.read_to_end(&mut sink)).await;
}

/// (d) Clients that subscribe and open a big stream, then never read: the
/// server must cut them (write timeout) without stalling anyone else.
async fn slow_readers(ctx: Ctx) {
    let mut n = 0u64;
    while ctx.running() {
        n += 1;
        let tally = Arc::clone(&ctx.tally);
        let socket = ctx.socket.clone();
        tokio::spawn(async move {
            if let Ok(mut stream) = UnixStream::connect(&socket).await {
                let mut bytes = json_frame(
                    SUBSCRIBE,
                    &serde_json::json!({"correlation_id": "s", "message_types": ["Tick"]}),
                );
                bytes.extend(stream_request(&format!("slow-{n}"), 1_000_000));
                if stream.write_all(&bytes).await.is_ok() {
                    bump(&tally.slow_readers);
                }
                tokio::time::sleep(SLOW_READER_HOLD).await;
            }
        });
        ctx.pause(SLOW_READER_EVERY).await;
    }
}

/// (e) Clients that read part of a stream and hang up.
async fn disconnectors(ctx: Ctx) {
    let mut rng = Rng(0xd15c);
    while ctx.running() {
        if let Ok(client) = IpcClient::connect(&ctx.socket).await {
            let request = Count {
                up_to: 500,
                delay_ms: 1,
            };
            if let Ok(mut stream) = client.stream::<_, Counted>(TARGET, "Count", &request).await {
                let wanted = rng.below(20) + 1;
                for _ in 0..wanted {
                    match stream.next().await {
                        Some(Ok(_)) => {}
                        Some(Err(error)) => {
                            if is_refusal(&error) {
                                bump(&ctx.tally.refused_at_limit);
                            }
                            break;
                        }
                        None => break,
                    }
                }
            }
            client.close();
            bump(&ctx.tally.disconnects);
        }
        ctx.pause(DISCONNECT_EVERY).await;
    }
}

fn is_refusal(error: &acton_reactive::ipc::client::ClientError) -> bool {
    matches!(
        error,
        acton_reactive::ipc::client::ClientError::Rejected { .. }
    )
}

/// (f) One malformed frame per fresh connection.
async fn malformed(ctx: Ctx) {
    let mut rng = Rng(0xbad);
    while ctx.running() {
        let bytes = malformed_bytes(&mut rng);
        if let Ok(mut stream) = UnixStream::connect(&ctx.socket).await {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            drain(&mut stream).await;
            bump(&ctx.tally.malformed);
        }
        ctx.pause(MALFORMED_EVERY).await;
    }
}

fn malformed_bytes(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        // Random garbage.
        0 => {
            let len = rng.below(512) as usize + 1;
            rng.bytes(len)
        }
        // A header cut short.
        1 => {
            let whole = frame(REQUEST, JSON, b"{}");
            whole[..rng.below(7) as usize].to_vec()
        }
        // A length above any limit.
        2 => {
            let mut bytes = frame(REQUEST, JSON, b"{}");
            let length = 16 * 1024 * 1024 + rng.below(u64::from(u32::MAX) / 2) as u32;
            bytes[..4].copy_from_slice(&length.to_be_bytes());
            bytes
        }
        // A payload shorter than its header announced.
        3 => {
            let mut bytes = frame(REQUEST, JSON, br#"{"correlation_id":"#);
            bytes[..4].copy_from_slice(&1000u32.to_be_bytes());
            bytes
        }
        // Unknown version, kind or format.
        4 => {
            let mut bytes = frame(REQUEST, JSON, b"{}");
            let at = 4 + rng.below(3) as usize;
            bytes[at] = 0x40 | rng.next() as u8;
            bytes
        }
        // Random bytes as a MessagePack REQUEST.
        5 => {
            let len = rng.below(256) as usize;
            frame(REQUEST, MSGPACK, &rng.bytes(len))
        }
        // Deep nesting in an envelope's payload.
        6 => {
            let depth = rng.below(20_000) as usize;
            let payload = format!(
                r#"{{"correlation_id":"deep","target":"{TARGET}","message_type":"Add","expects_reply":true,"payload":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            frame(REQUEST, JSON, payload.as_bytes())
        }
        // JSON that is not a valid envelope.
        _ => {
            const ENVELOPES: [&str; 8] = [
                "{",
                "[]",
                "null",
                r#"{"correlation_id": 5}"#,
                r#"{"correlation_id":"x","target":"soak"}"#,
                r#"{"correlation_id":"x","target":"soak","message_type":"Add","payload":{"a":"no"},"expects_reply":true}"#,
                r#"{"correlation_id":"x","target":"nobody","message_type":"Nope","payload":{},"expects_stream":true}"#,
                "\u{feff}{\"correlation_id\":\"bom\"}",
            ];
            let text = ENVELOPES[rng.below(ENVELOPES.len() as u64) as usize];
            frame(REQUEST, JSON, text.as_bytes())
        }
    }
}

/// (g) Opens more connections than the server serves, all at once, then closes
/// them. Each sends a heartbeat: a served one gets a heartbeat back, one above
/// the limit gets the CONNECTION_LIMIT_REACHED error.
async fn floods(ctx: Ctx) {
    while ctx.running() {
        ctx.pause(FLOOD_EVERY).await;
        if !ctx.running() {
            break;
        }
        let opened = join_all((0..FLOOD_SIZE).map(|_| flood_connection(&ctx.socket))).await;
        bump(&ctx.tally.floods);
        let tally = &ctx.tally;
        for (_, outcome) in &opened {
            bump(match outcome {
                FloodOutcome::Served => &tally.flood_accepted,
                FloodOutcome::Refused => &tally.flood_rejected,
                FloodOutcome::ConnectFailed => &tally.flood_connect_failed,
                FloodOutcome::Closed => &tally.flood_closed,
                FloodOutcome::TimedOut => &tally.flood_timed_out,
            });
        }
        // Every connection of the flood closes here, at once.
        drop(opened);
    }
}

/// What became of one connection of a flood.
enum FloodOutcome {
    /// Its heartbeat was answered.
    Served,
    /// It got an ERROR frame (CONNECTION_LIMIT_REACHED).
    Refused,
    /// `connect` failed (the listen backlog was full, for instance).
    ConnectFailed,
    /// The server closed it without a frame.
    Closed,
    /// No frame within `FLOOD_PATIENCE`.
    TimedOut,
}

async fn flood_connection(socket: &Path) -> (Option<UnixStream>, FloodOutcome) {
    let Ok(mut stream) = UnixStream::connect(socket).await else {
        return (None, FloodOutcome::ConnectFailed);
    };
    // A refused connection may be closed before the heartbeat is written.
    let _ = stream.write_all(&frame(HEARTBEAT, JSON, b"")).await;
    let mut header = [0u8; 7];
    let outcome = match tokio::time::timeout(FLOOD_PATIENCE, stream.read_exact(&mut header)).await {
        Err(_) => FloodOutcome::TimedOut,
        Ok(Err(_)) => FloodOutcome::Closed,
        Ok(Ok(_)) if header[5] == ERROR => FloodOutcome::Refused,
        Ok(Ok(_)) => FloodOutcome::Served,
    };
    (Some(stream), outcome)
}
