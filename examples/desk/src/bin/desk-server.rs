//! The desk as a server process: `desk-server [SOCKET] [--rate-limit RPS BURST]
//! [--idle-timeout-ms MS]` (default socket `/tmp/acton-desk.sock`, no rate limit,
//! the default idle timeout of 30 s). Broadcasts a price update every 100 ms;
//! stops on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use acton_reactive::ipc::{IpcConfig, RateLimitConfig};
use acton_reactive::prelude::*;
use example_messages::{PriceUpdate, Quote, Side};

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("/tmp/acton-desk.sock"), PathBuf::from);
    let rate_limit = match args.iter().position(|a| a == "--rate-limit") {
        Some(at) => {
            let number = |i: usize| -> anyhow::Result<u32> {
                Ok(args
                    .get(at + i)
                    .ok_or_else(|| anyhow::anyhow!("--rate-limit needs RPS and BURST"))?
                    .parse()?)
            };
            Some(RateLimitConfig {
                requests_per_second: number(1)?,
                burst_size: number(2)?,
            })
        }
        None => None,
    };
    let idle = match args.iter().position(|a| a == "--idle-timeout-ms") {
        Some(at) => Duration::from_millis(
            args.get(at + 1)
                .ok_or_else(|| anyhow::anyhow!("--idle-timeout-ms needs MS"))?
                .parse()?,
        ),
        None => IpcConfig::default().connection_timeout,
    };
    let mut runtime = ActonApp::launch();
    let config = IpcConfig {
        socket_path: socket.clone(),
        rate_limit,
        connection_timeout: idle,
        ..IpcConfig::default()
    };
    let listener = desk::start_with(&runtime, config).await?;
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
    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}
