//! A call over NATS beside the same call over the Unix socket, and beside NATS's own
//! request-reply floor, in one run on one machine.
//!
//! `cargo bench -p acton-reactive --all-features --bench nats [-- --seconds S --rounds R]`
//!
//! Needs `nats-server` on the PATH (or in /usr/sbin; scripts/test.sh installs
//! Debian's package). One process holds the server side — a runtime whose
//! calculator actor is served on a socket and through a NATS bridge — and the
//! clients; a `nats-server` runs beside it. Three ways to add two numbers, each
//! with one call in flight and with 32 in flight:
//! - NATS echo: a plain async-nats responder that answers each request with its
//!   payload (what NATS itself costs: two hops through `nats-server`);
//! - acton, socket: `IpcClient::connect` to the listener;
//! - acton, NATS: `IpcClient::connect_nats` through the bridge.
//!
//! Each figure is the median of `--rounds` (3) rounds of `--seconds` (2) each, the
//! three interleaved in every round.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::ipc::IpcConfig;
use acton_reactive::nats::NatsConfig;
use acton_reactive::prelude::*;
use futures_util::StreamExt;

#[acton_message(ipc)]
struct AddRequest {
    a: i64,
    b: i64,
}

#[acton_message(ipc)]
struct AddResponse {
    sum: i64,
}

struct NatsServer(Child);

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats_server() -> (NatsServer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let binary = if std::path::Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    };
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server runs (apt-get install nats-server)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (NatsServer(child), format!("nats://127.0.0.1:{port}"))
}

/// One way to make a call.
#[derive(Clone)]
enum Caller {
    Echo(async_nats::Client),
    Acton(IpcClient),
}

impl Caller {
    async fn call(&self, a: i64) {
        match self {
            Self::Echo(client) => {
                let answer = client
                    .request(
                        "bench-echo",
                        bytes::Bytes::from(format!("{{\"a\":{a},\"b\":1}}")),
                    )
                    .await
                    .expect("the echo answers");
                assert!(!answer.payload.is_empty());
            }
            Self::Acton(client) => {
                let answer: AddResponse = client
                    .request("calculator", "AddRequest", &AddRequest { a, b: 1 })
                    .await
                    .expect("the calculator answers");
                assert_eq!(answer.sum, a + 1);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Calls for `seconds` with `in_flight` calls at a time; rate and latencies.
async fn measure(caller: &Caller, in_flight: usize, seconds: f64) -> Figures {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..in_flight)
        .map(|worker| {
            let caller = caller.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut a = worker as i64;
                while Instant::now() < until {
                    let started = Instant::now();
                    caller.call(a).await;
                    latencies.push(started.elapsed());
                    a += 1;
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("a worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(index)
            .map_or(0.0, |latency| latency.as_secs_f64() * 1e6)
    };
    Figures {
        rate: latencies.len() as f64 / elapsed,
        p50_us: at(0.50),
        p99_us: at(0.99),
    }
}

fn median(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    runs[runs.len() / 2]
}

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let seconds = value("--seconds").unwrap_or(2.0);
    let rounds = value("--rounds").map_or(3, |r| r.max(1.0) as usize);

    let (_nats_server, url) = start_nats_server();
    let mut runtime = ActonApp::launch();
    runtime.ipc_registry().register::<AddRequest>("AddRequest");
    runtime
        .ipc_registry()
        .register::<AddResponse>("AddResponse");
    let mut calculator = runtime.new_actor_with_name::<()>("calculator");
    calculator.act_on::<AddRequest>(|_actor, ctx| {
        let sum = ctx.message().a + ctx.message().b;
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(AddResponse { sum }).await })
    });
    runtime.ipc_expose("calculator", calculator.start().await);
    let socket = std::env::temp_dir().join(format!("acton-bench-nats-{}.sock", std::process::id()));
    let listener = runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: socket.clone(),
            ..IpcConfig::default()
        })
        .await?;
    let bridge = runtime
        .start_nats_bridge(NatsConfig::new(url.as_str()).prefix("bench"))
        .await?;

    // NATS's floor: a responder that sends each payload back.
    let responder = async_nats::connect(url.as_str()).await?;
    let mut requests = responder.subscribe("bench-echo").await?;
    let echo_task = {
        let responder = responder.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = responder.publish(reply, request.payload).await;
                }
            }
        })
    };
    let echo_client = async_nats::connect(url.as_str()).await?;
    // Make sure the echo's subscription is in place.
    echo_client.flush().await?;
    responder.flush().await?;

    let callers: Vec<(&str, Caller)> = vec![
        ("NATS echo (floor)", Caller::Echo(echo_client)),
        (
            "acton, socket",
            Caller::Acton(IpcClient::connect(&socket).await?),
        ),
        (
            "acton, NATS",
            Caller::Acton(IpcClient::connect_nats(&url, "bench").await?),
        ),
    ];
    for (_, caller) in &callers {
        measure(caller, 1, 0.2).await; // warm up
    }
    println!(
        "NATS vs Unix socket, {rounds} round(s) of {seconds} s, median by rate; client and server share this process"
    );
    for in_flight in [1usize, 32] {
        let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); callers.len()];
        for _ in 0..rounds {
            for (index, (_, caller)) in callers.iter().enumerate() {
                runs[index].push(measure(caller, in_flight, seconds).await);
            }
        }
        println!("\n{in_flight} call(s) in flight:");
        println!(
            "  {:<20} {:>10} {:>10} {:>10}",
            "", "calls/s", "p50 µs", "p99 µs"
        );
        let figures: Vec<Figures> = runs.into_iter().map(median).collect();
        for ((name, _), figures) in callers.iter().zip(&figures) {
            println!(
                "  {name:<20} {:>10.0} {:>10.0} {:>10.0}",
                figures.rate, figures.p50_us, figures.p99_us
            );
        }
        let ratio = |a: usize, b: usize| figures[a].rate / figures[b].rate.max(f64::MIN_POSITIVE);
        println!(
            "  acton over NATS: {:.2} of the NATS echo, {:.2} of acton over the socket",
            ratio(2, 0),
            ratio(2, 1)
        );
    }
    echo_task.abort();
    bridge.shutdown().await;
    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}
