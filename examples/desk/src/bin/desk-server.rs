//! The desk as a server process: the example schema's services (calculator,
//! key-value store, quotes, log) on a Unix socket (and with `--nats URL` on NATS
//! too), with a price update broadcast every 100 ms. Stops on Ctrl-C or SIGTERM. `desk-server --help` for its options.

use std::path::PathBuf;
use std::time::Duration;

use acton_reactive::ipc::{IpcConfig, RateLimitConfig};
use acton_reactive::nats::NatsConfig;
use acton_reactive::prelude::*;
use clap::Parser;
use example_messages::{PriceUpdate, Quote, Side};

/// Serve the example schema's services on a Unix socket.
#[derive(Debug, Parser)]
#[command(
    name = "desk-server",
    version,
    about = "Serve the example schema's services (calculator, kv store, quotes, log) on a Unix socket.",
    after_help = "Examples:\n  desk-server\n  desk-server --socket /tmp/desk.sock --rate-limit 100 20\n  desk-server --nats nats://127.0.0.1:4222 --nats-prefix desk\n  actonctl --socket /tmp/acton-desk.sock call calculator.add '{\"a\": 1, \"b\": 2}'"
)]
struct Args {
    /// The socket to listen on (also accepted as the first argument).
    #[arg(long, default_value = "/tmp/acton-desk.sock", conflicts_with = "path")]
    socket: PathBuf,
    /// The socket, as the first argument (as older scripts give it).
    #[arg(hide = true)]
    path: Option<PathBuf>,
    /// Limit each connection to RPS requests a second, with bursts of BURST.
    #[arg(long, num_args = 2, value_names = ["RPS", "BURST"])]
    rate_limit: Option<Vec<u32>>,
    /// Close connections idle this long (milliseconds; default 30 000).
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// Serve the same services on NATS as well (`nats://host:port`).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// The NATS subject prefix: requests go to `P.<service>.<Type>`. Servers with
    /// the same prefix share the requests.
    #[arg(long, value_name = "P", default_value = "acton", requires = "nats")]
    nats_prefix: String,
}

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let socket = args.path.unwrap_or(args.socket);
    let rate_limit = match args.rate_limit.as_deref() {
        Some([requests_per_second, burst_size]) => Some(RateLimitConfig {
            requests_per_second: *requests_per_second,
            burst_size: *burst_size,
        }),
        _ => None,
    };
    let idle = args.idle_timeout_ms.map_or(
        IpcConfig::default().connection_timeout,
        Duration::from_millis,
    );
    let mut runtime = ActonApp::launch();
    let config = IpcConfig {
        socket_path: socket.clone(),
        rate_limit,
        connection_timeout: idle,
        ..IpcConfig::default()
    };
    desk::serve_all(&runtime).await;
    // NATS first: once the socket exists, the services answer on NATS too
    // (scripts and tests wait for the socket).
    let bridge = match &args.nats {
        Some(url) => {
            let mut config = NatsConfig::new(url.as_str()).prefix(args.nats_prefix.as_str());
            if let Some(limit) = rate_limit {
                config = config.rate_limit(limit);
            }
            let bridge = runtime.start_nats_bridge(config).await?;
            println!(
                "desk-server serving on NATS at {url} under `{}` (id {})",
                bridge.prefix(),
                bridge.id()
            );
            Some(bridge)
        }
        None => None,
    };
    let listener = runtime.start_ipc_listener_with_config(config).await?;
    println!("desk-server listening on {}", socket.display());

    let ticker = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let mut sequence = 0u64;
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                sequence += 1;
                let price = 100.0 + (sequence % 20) as f64 * 0.25;
                let quote = Quote {
                    symbol: "ACME".to_owned(),
                    side: if sequence % 2 == 0 {
                        Side::Buy
                    } else {
                        Side::Sell
                    },
                    price,
                    size: 100 * sequence,
                    venue: Some("XNAS".to_owned()),
                    tags: Vec::new(),
                    attributes: Default::default(),
                    extra: None,
                };
                desk::publish(&runtime, PriceUpdate { quote, sequence }).await;
            }
        })
    };

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    ticker.abort();
    if let Some(bridge) = bridge {
        bridge.shutdown().await;
    }
    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}
