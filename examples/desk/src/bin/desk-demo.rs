//! The demo: starts the desk on a socket, then talks to it through the generated
//! clients exactly as another process would — every method kind and a push.
//! `desk-demo --connect SOCKET` talks to a desk already running there (such as
//! `desk-server`) instead.

use std::time::Duration;

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::ipc::wire::Bytes;
use acton_reactive::prelude::*;
use example_messages::*;
use futures_util::StreamExt;

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let connect = match args.as_slice() {
        [] => None,
        [flag, socket] if flag == "--connect" => Some(std::path::PathBuf::from(socket)),
        _ => anyhow::bail!("usage: desk-demo [--connect SOCKET]"),
    };
    let mut runtime = ActonApp::launch();
    let (socket, listener) = match connect {
        Some(socket) => (socket, None),
        None => {
            let socket =
                std::env::temp_dir().join(format!("acton-desk-demo-{}.sock", std::process::id()));
            let listener = desk::start(&runtime, &socket).await?;
            println!("desk listening on {}", socket.display());
            (socket, Some(listener))
        }
    };

    let connection = IpcClient::connect(&socket).await?;
    let calculator = CalculatorClient::new(connection.clone());
    let kv = KvStoreClient::new(connection.clone());
    let prices = PricesClient::new(connection);

    let sum = calculator.add(AddRequest { a: 40, b: 2 }).await?;
    println!("calculator.add(40, 2)        -> {}", sum.sum);

    match calculator
        .divide(DivideRequest {
            dividend: 7,
            divisor: 0,
        })
        .await
    {
        Err(DivideError::DivisionByZero(error)) => {
            println!(
                "calculator.divide(7, 0)      -> DivisionByZero (dividend {})",
                error.dividend
            );
        }
        other => anyhow::bail!("expected DivisionByZero, got {other:?}"),
    }

    let mut count = calculator
        .count(CountRequest {
            up_to: 5,
            delay_ms: 10,
        })
        .await?;
    let mut numbers = Vec::new();
    while let Some(item) = count.next().await {
        numbers.push(item?.value);
    }
    println!("calculator.count(5)          -> {numbers:?} (streamed)");

    calculator
        .log(LogEvent {
            level: Level::Info,
            line: "demo started".into(),
        })
        .await?;
    println!("calculator.log(..)           -> delivered (fire-and-forget)");

    let health = calculator.health(HealthCheck {}).await?;
    println!(
        "calculator.health()          -> {} (up {} ms)",
        health.status, health.uptime_ms
    );

    kv.put(Put {
        key: "greeting".into(),
        value: Bytes::from(b"hello".to_vec()),
        ttl_ms: None,
    })
    .await?;
    let got = kv
        .get(Get {
            key: "greeting".into(),
        })
        .await?;
    let text = String::from_utf8_lossy(&got.value).into_owned();
    println!("kv_store.put/get(greeting)   -> {text:?}");
    match kv
        .get(Get {
            key: "nothing".into(),
        })
        .await
    {
        Err(GetError::NotFound(missing)) => {
            println!(
                "kv_store.get(nothing)        -> NotFound (key {:?})",
                missing.key
            );
        }
        other => anyhow::bail!("expected NotFound, got {other:?}"),
    }

    let accepted = prices
        .place(Order::Limit {
            symbol: "ACME".into(),
            side: Side::Buy,
            size: 100,
            price: 99.5,
        })
        .await?;
    println!(
        "prices.place(limit order)    -> accepted as #{}",
        accepted.id
    );

    let mut updates = prices.subscribe_price_update().await?;
    let quote = Quote {
        symbol: "ACME".into(),
        side: Side::Sell,
        price: 100.25,
        size: 300,
        venue: Some("XNAS".into()),
        tags: Vec::new(),
        attributes: Default::default(),
        extra: None,
    };
    // In process, the demo broadcasts; desk-server broadcasts on its own.
    if listener.is_some() {
        desk::publish(&runtime, PriceUpdate { quote, sequence: 1 }).await;
    }
    if let Ok(Some(push)) = tokio::time::timeout(Duration::from_secs(5), updates.next()).await {
        let push = push?;
        println!(
            "push {:<23} -> {} {:?} {} @ {}",
            push.message_type,
            push.payload.quote.symbol,
            push.payload.quote.side,
            push.payload.quote.size,
            push.payload.quote.price
        );
    }

    drop(updates);
    if let Some(listener) = listener {
        listener.shutdown().await?;
        runtime.shutdown_all().await?;
        println!("desk stopped cleanly");
    } else {
        runtime.shutdown_all().await?;
    }
    Ok(())
}
