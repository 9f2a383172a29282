//! The desk as a server process: `desk-server [SOCKET]` (default
//! `/tmp/acton-desk.sock`). Broadcasts a price update every 100 ms; stops on
//! Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use acton_reactive::prelude::*;
use example_messages::{PriceUpdate, Quote, Side};

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let socket = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("/tmp/acton-desk.sock"), PathBuf::from);
    let mut runtime = ActonApp::launch();
    let listener = desk::start(&runtime, &socket).await?;
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
