//! IPC request-response throughput and latency, and memory per idle connection,
//! against two baselines measured in the same run with the same client.
//!
//! `cargo bench -p acton-reactive --all-features --bench ipc [-- --seconds S --rounds R --shapes abc --idle N]`
//!
//! Each server runs in its own process (this binary, re-executed with `--serve`).
//! One client drives three shapes against each:
//! (a) one request in flight on one connection,
//! (b) 32 connections with one request in flight each,
//! (c) 64 requests pipelined on one connection.
//! The client does the same work for every server: encode a REQUEST frame, write it,
//! read a frame, find its `correlation_id`. The servers:
//! - raw echo: sends each frame back as it arrives (the physical limit of the
//!   socket and the client);
//! - one-hop echo: the raw echo with each frame passed from the connection's reader
//!   task to one shared task and back to the connection's writer task over bounded
//!   Tokio channels — the floor of any design with an actor in the middle;
//! - acton: decodes the envelope, routes it to an actor, encodes the actor's reply.
//!
//! Every measurement is repeated `--rounds` times (3), the servers interleaved in
//! each round, and the round with the median rate is reported.
//!
//! Memory: `--idle N` (1000) connections are opened to each server and left idle;
//! the growth of the server's resident set divided by N is the cost of one.
//!
//! Instructions: `--instructions N` runs each server under valgrind's callgrind
//! instead (valgrind must be installed) and counts the instructions the server
//! executes for N requests pipelined 64 deep on one connection, after a warm-up:
//! a figure that, unlike time on a shared machine, is the same on every run.
//! `-- --instructions 20000 --shapes x --idle 0` runs only that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use acton_reactive::ipc::protocol::{CorrelationId, Frame, IpcEnvelope, MessageKind};
use acton_reactive::ipc::{Format, IpcConfig};
use acton_reactive::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{UnixListener, UnixStream};

#[acton_message(ipc)]
struct AddRequest {
    a: i64,
    b: i64,
}

#[acton_message(ipc)]
struct AddResponse {
    sum: i64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = std::env::var("BENCH_SERVER_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        if value("--serve").is_some() {
            builder.worker_threads(threads);
        }
    }
    let runtime = builder.enable_all().build().expect("tokio");
    if let Some(kind) = value("--serve") {
        let socket = PathBuf::from(value("--socket").expect("--socket"));
        runtime.block_on(async move {
            match kind.as_str() {
                "acton" => serve_acton(&socket).await,
                "hop" => serve_hop(&socket).await,
                _ => serve_echo(&socket).await,
            }
        });
        return;
    }
    let seconds: f64 = value("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let shapes = value("--shapes").unwrap_or_else(|| "abc".to_owned());
    let rounds: usize = value("--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let idle: usize = value("--idle").and_then(|s| s.parse().ok()).unwrap_or(1000);
    if let Some(requests) = value("--instructions").and_then(|n| n.parse().ok()) {
        runtime.block_on(instructions(requests));
    }
    runtime.block_on(drive(Duration::from_secs_f64(seconds), rounds, &shapes));
    if idle > 0 {
        runtime.block_on(idle_memory(idle));
    }
}

async fn serve_acton(socket: &Path) {
    let runtime = ActonApp::launch();
    runtime.ipc_registry().register::<AddRequest>("AddRequest");
    runtime
        .ipc_registry()
        .register::<AddResponse>("AddResponse");
    let mut calculator = runtime.new_actor::<()>();
    calculator.act_on::<AddRequest>(|_actor, ctx| {
        let sum = ctx.message().a + ctx.message().b;
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(AddResponse { sum }).await })
    });
    runtime.ipc_expose("calculator", calculator.start().await);
    let _listener = runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: socket.to_path_buf(),
            max_connections: 4096,
            ..IpcConfig::default()
        })
        .await
        .expect("listener");
    std::future::pending::<()>().await;
}

async fn serve_echo(socket: &Path) {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).expect("bind");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            let mut read = BufReader::with_capacity(64 * 1024, read);
            let mut write = BufWriter::with_capacity(64 * 1024, write);
            let mut header = [0u8; 7];
            let mut payload = Vec::new();
            loop {
                if read.read_exact(&mut header).await.is_err() {
                    return;
                }
                let length =
                    u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
                payload.resize(length, 0);
                if read.read_exact(&mut payload).await.is_err() {
                    return;
                }
                // Answer with a RESPONSE frame of the same payload.
                header[5] = MessageKind::Response.as_byte();
                let _ = write.write_all(&header).await;
                let _ = write.write_all(&payload).await;
                if read.buffer().is_empty() && write.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The raw echo with one hop through a shared task: the connection's reader task
/// sends each frame to one task (standing for an actor), which sends it to the
/// connection's writer task; both channels bounded.
async fn serve_hop(socket: &Path) {
    type Hop = (Vec<u8>, tokio::sync::mpsc::Sender<Vec<u8>>);
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).expect("bind");
    let (to_actor, mut actor) = tokio::sync::mpsc::channel::<Hop>(1024);
    tokio::spawn(async move {
        while let Some((frame, back)) = actor.recv().await {
            let _ = back.send(frame).await;
        }
    });
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let to_actor = to_actor.clone();
        let (read, write) = stream.into_split();
        let (to_writer, mut writer) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
        tokio::spawn(async move {
            let mut write = BufWriter::with_capacity(64 * 1024, write);
            while let Some(frame) = writer.recv().await {
                let _ = write.write_all(&frame).await;
                while let Ok(frame) = writer.try_recv() {
                    let _ = write.write_all(&frame).await;
                }
                if write.flush().await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let mut read = BufReader::with_capacity(64 * 1024, read);
            let mut header = [0u8; 7];
            loop {
                if read.read_exact(&mut header).await.is_err() {
                    return;
                }
                let length =
                    u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let mut frame = vec![0; 7 + length];
                if read.read_exact(&mut frame[7..]).await.is_err() {
                    return;
                }
                header[5] = MessageKind::Response.as_byte();
                frame[..7].copy_from_slice(&header);
                if to_actor.send((frame, to_writer.clone())).await.is_err() {
                    return;
                }
            }
        });
    }
}

struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    /// The server process's resident set, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// CPU time the server process has used so far.
    fn cpu_time(&self) -> CpuTime {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Linux reports in clock ticks of 1/100 s on every mainstream configuration.
        let field = |index: usize| {
            let ticks = fields.get(index).and_then(|f| f.parse::<u64>().ok());
            Duration::from_millis(ticks.unwrap_or(0) * 10)
        };
        CpuTime {
            user: field(11),
            system: field(12),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn spawn_server(kind: &str) -> Server {
    let exe = std::env::current_exe().expect("exe");
    start_server(Command::new(exe), kind, 400).await
}

/// Starts `command --serve kind --socket S` and waits (`attempts` × 10 ms at
/// most) until the socket answers.
async fn start_server(mut command: Command, kind: &str, attempts: usize) -> Server {
    let socket =
        std::env::temp_dir().join(format!("acton-bench-{kind}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let child = command
        .args(["--serve", kind, "--socket"])
        .arg(&socket)
        .spawn()
        .expect("spawn server");
    for _ in 0..attempts {
        if UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Server { child, socket }
}

/// One connection's client side: writes REQUEST frames, reads answer frames.
struct Conn {
    read: BufReader<tokio::net::unix::OwnedReadHalf>,
    write: tokio::net::unix::OwnedWriteHalf,
    format: Format,
    buffer: Vec<u8>,
}

impl Conn {
    async fn open(socket: &Path, format: Format) -> Self {
        let (read, write) = UnixStream::connect(socket)
            .await
            .expect("connect")
            .into_split();
        Self {
            read: BufReader::with_capacity(64 * 1024, read),
            write,
            format,
            buffer: Vec::new(),
        }
    }

    fn frame(&self, n: u64) -> Vec<u8> {
        let envelope = IpcEnvelope {
            correlation_id: n.to_string(),
            target: "calculator".to_owned(),
            message_type: "AddRequest".to_owned(),
            payload: AddRequest { a: n as i64, b: 1 },
            expects_reply: true,
            expects_stream: false,
            response_timeout_ms: 30_000,
        };
        Frame::new(
            MessageKind::Request,
            self.format,
            self.format.encode(&envelope).expect("encode"),
        )
        .to_bytes()
        .expect("frame")
    }

    async fn send(&mut self, n: u64) {
        let frame = self.frame(n);
        self.write.write_all(&frame).await.expect("write");
    }

    /// Reads one frame and returns its correlation id as a number.
    async fn receive(&mut self) -> u64 {
        let mut header = [0u8; 7];
        self.read
            .read_exact(&mut header)
            .await
            .expect("read header");
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        self.buffer.resize(length, 0);
        self.read
            .read_exact(&mut self.buffer)
            .await
            .expect("read payload");
        assert_eq!(
            header[5],
            MessageKind::Response.as_byte(),
            "an answer, not an error"
        );
        let format = Format::from_byte(header[6]).expect("format");
        let id: CorrelationId = format.decode(&self.buffer).expect("correlation id");
        id.correlation_id.parse().expect("numeric id")
    }
}

/// A process's CPU time: its own code (user) and the kernel's on its behalf
/// (system: the socket calls, waiting for events, waking threads).
#[derive(Default, Clone, Copy)]
struct CpuTime {
    user: Duration,
    system: Duration,
}

impl CpuTime {
    fn since(self, before: Self) -> Self {
        Self {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
        }
    }
}

#[derive(Default)]
struct Sample {
    requests: u64,
    server_cpu: CpuTime,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Sample {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per request, in microseconds: user and system.
    fn cpu_per_request(&self) -> (f64, f64) {
        let per_request = |time: Duration| time.as_secs_f64() * 1e6 / self.requests.max(1) as f64;
        (
            per_request(self.server_cpu.user),
            per_request(self.server_cpu.system),
        )
    }

    fn percentile(&mut self, p: f64) -> u32 {
        self.latencies_us.sort_unstable();
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(index).copied().unwrap_or(0)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// (a), and each connection of (b): one request at a time.
async fn sequential(socket: PathBuf, format: Format, until: Instant) -> Sample {
    let mut conn = Conn::open(&socket, format).await;
    let mut sample = Sample::default();
    let started = Instant::now();
    let mut n = 0;
    while Instant::now() < until {
        let sent = Instant::now();
        conn.send(n).await;
        assert_eq!(conn.receive().await, n);
        sample.latencies_us.push(micros(sent.elapsed()));
        n += 1;
    }
    sample.requests = n;
    sample.elapsed = started.elapsed();
    sample
}

async fn concurrent(
    socket: &Path,
    format: Format,
    connections: usize,
    duration: Duration,
) -> Sample {
    let until = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(sequential(socket.to_path_buf(), format, until)))
        .collect();
    let mut total = Sample::default();
    for task in tasks {
        let sample = task.await.expect("client task");
        total.requests += sample.requests;
        total.latencies_us.extend(sample.latencies_us);
    }
    total.elapsed = started.elapsed();
    total
}

async fn pipelined(socket: &Path, format: Format, window: u64, duration: Duration) -> Sample {
    let mut conn = Conn::open(socket, format).await;
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut sample = Sample::default();
    let until = Instant::now() + duration;
    let started = Instant::now();
    let mut next = 0;
    for _ in 0..window {
        sent_at.insert(next, Instant::now());
        conn.send(next).await;
        next += 1;
    }
    while !sent_at.is_empty() {
        let id = conn.receive().await;
        let sent = sent_at
            .remove(&id)
            .expect("an answer to a request in flight");
        sample.latencies_us.push(micros(sent.elapsed()));
        sample.requests += 1;
        if Instant::now() < until {
            sent_at.insert(next, Instant::now());
            conn.send(next).await;
            next += 1;
        }
    }
    sample.elapsed = started.elapsed();
    sample
}

/// `count` requests, `window` in flight at a time, on one connection.
async fn pipelined_count(socket: &Path, format: Format, window: u64, count: u64) {
    let mut conn = Conn::open(socket, format).await;
    let mut next = 0;
    let mut answered = 0;
    while next < count.min(window) {
        conn.send(next).await;
        next += 1;
    }
    while answered < count {
        conn.receive().await;
        answered += 1;
        if next < count {
            conn.send(next).await;
            next += 1;
        }
    }
}

/// Instructions each server executes per request (callgrind), for `requests`
/// requests pipelined 64 deep after a warm-up of a tenth as many.
async fn instructions(requests: u64) {
    let requests = requests.max(100);
    let dir = std::env::temp_dir().join(format!("acton-bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("callgrind directory");
    println!("instructions per request (callgrind), {requests} requests pipelined 64 deep");
    println!("{:<14} {:>14} {:>8}", "server", "per request", "vs hop");
    let mut hop = None;
    for (name, kind, format) in [
        ("raw echo", "echo", Format::Json),
        ("one-hop echo", "hop", Format::Json),
        ("acton json", "acton", Format::Json),
        ("acton msgpack", "acton", Format::MessagePack),
    ] {
        let mut valgrind = Command::new("valgrind");
        valgrind
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}/{kind}.%p", dir.display()))
            .arg(std::env::current_exe().expect("exe"))
            .stderr(std::process::Stdio::null());
        // Under valgrind a server takes seconds to start.
        let server = start_server(valgrind, kind, 6000).await;
        let pid = server.child.id().to_string();
        pipelined_count(&server.socket, format, 64, requests / 10).await;
        let control = |command: &str| {
            let status = Command::new("callgrind_control")
                .args([command, &pid])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("callgrind_control (valgrind) installed");
            assert!(status.success(), "callgrind_control {command} failed");
        };
        control("-z");
        pipelined_count(&server.socket, format, 64, requests).await;
        control("-d");
        let dump = std::fs::read_dir(&dir)
            .expect("callgrind directory")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with(&format!("{kind}.{pid}.1")))
            .expect("the callgrind dump");
        let total: u64 = std::fs::read_to_string(&dump)
            .expect("read the dump")
            .lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("a totals line");
        let _ = std::fs::remove_file(&dump);
        let per_request = total as f64 / requests as f64;
        let vs_hop = hop.map_or(String::new(), |hop: f64| {
            format!("{:.1}×", per_request / hop)
        });
        if kind == "hop" {
            hop = Some(per_request);
        }
        println!("{name:<14} {per_request:>14.0} {vs_hop:>8}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn measure(server: &Server, format: Format, shape: &str, duration: Duration) -> Sample {
    let cpu_before = server.cpu_time();
    let mut sample = measure_shape(&server.socket, format, shape, duration).await;
    sample.server_cpu = server.cpu_time().since(cpu_before);
    sample
}

async fn measure_shape(socket: &Path, format: Format, shape: &str, duration: Duration) -> Sample {
    match shape {
        "a" => concurrent(socket, format, 1, duration).await,
        "b" => concurrent(socket, format, 32, duration).await,
        _ => pipelined(socket, format, 64, duration).await,
    }
}

async fn drive(duration: Duration, rounds: usize, only: &str) {
    if !only.contains(['a', 'b', 'c']) {
        return;
    }
    let echo = spawn_server("echo").await;
    let hop = spawn_server("hop").await;
    let acton = spawn_server("acton").await;
    let servers = [
        ("raw echo", &echo, Format::Json),
        ("one-hop echo", &hop, Format::Json),
        ("acton json", &acton, Format::Json),
        ("acton msgpack", &acton, Format::MessagePack),
    ];
    let shapes = [
        ("a", "(a) 1 in flight"),
        ("b", "(b) 32 connections"),
        ("c", "(c) 64 pipelined"),
    ];
    println!(
        "IPC request-response, {:.1} s per measurement, median of {rounds} rounds, same client for every server",
        duration.as_secs_f64()
    );
    println!(
        "{:<20} {:<14} {:>10} {:>9} {:>9} {:>13} {:>11} {:>8} {:>8}",
        "shape",
        "server",
        "req/s",
        "p50 µs",
        "p99 µs",
        "server µs/req",
        "user + sys",
        "vs raw",
        "vs hop"
    );
    let warm_up = Duration::from_millis(200);
    for (shape, label) in shapes.into_iter().filter(|(shape, _)| only.contains(shape)) {
        for (_, server, format) in &servers {
            let _ = measure(server, *format, shape, warm_up).await;
        }
        // Each round measures every server, one after the other.
        let mut samples: Vec<Vec<Sample>> = servers.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for ((_, server, format), samples) in servers.iter().zip(&mut samples) {
                samples.push(measure(server, *format, shape, duration).await);
            }
        }
        let mut medians: Vec<Sample> = samples.into_iter().map(median).collect();
        let raw_rps = medians[0].rps();
        let hop_rps = medians[1].rps();
        for ((name, _, _), sample) in servers.iter().zip(&mut medians) {
            let (user, system) = sample.cpu_per_request();
            println!(
                "{label:<20} {name:<14} {:>10.0} {:>9} {:>9} {:>13.1} {:>11} {:>7.0}% {:>7.0}%",
                sample.rps(),
                sample.percentile(0.5),
                sample.percentile(0.99),
                user + system,
                format!("{user:.1} + {system:.1}"),
                100.0 * sample.rps() / raw_rps,
                100.0 * sample.rps() / hop_rps,
            );
        }
    }
}

/// The sample with the median rate.
fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    let middle = samples.len() / 2;
    samples.swap_remove(middle)
}

/// Server memory per idle connection: `count` connections opened, one request
/// answered on each (so that every buffer a connection keeps exists), then idle.
async fn idle_memory(count: usize) {
    println!("\nmemory per idle connection ({count} connections, after one request each)");
    println!(
        "{:<14} {:>12} {:>14}",
        "server", "RSS before", "per connection"
    );
    for (name, kind) in [
        ("raw echo", "echo"),
        ("one-hop echo", "hop"),
        ("acton", "acton"),
    ] {
        let server = spawn_server(kind).await;
        // Let the server settle, then measure.
        let mut warm = Conn::open(&server.socket, Format::Json).await;
        warm.send(0).await;
        warm.receive().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = server.rss();
        let mut connections = Vec::with_capacity(count);
        for n in 0..count {
            let mut conn = Conn::open(&server.socket, Format::Json).await;
            conn.send(n as u64).await;
            connections.push(conn);
        }
        for conn in &mut connections {
            conn.receive().await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss();
        println!(
            "{name:<14} {:>9} KiB {:>10.1} KiB",
            before / 1024,
            after.saturating_sub(before) as f64 / 1024.0 / count as f64
        );
        drop(connections);
    }
}
