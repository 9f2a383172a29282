//! The generated Rust clients over NATS (`connect_nats`), against the desk served
//! by a NATS bridge on a real `nats-server`: the same typed calls as over the
//! socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use acton_reactive::ipc::client::schema_check::Compatibility;
use acton_reactive::nats::NatsConfig;
use acton_reactive::prelude::*;
use example_messages::*;
use futures_util::StreamExt;

const PATIENCE: Duration = Duration::from_secs(10);

/// A `nats-server` on a free localhost port, killed when dropped.
struct NatsServer(Child, String);

impl NatsServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (scripts/test.sh installs the Debian package)");
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, format!("nats://127.0.0.1:{port}"))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_clients_call_the_desk_over_nats() {
    let nats = NatsServer::start();
    let path = std::env::temp_dir().join(format!("acton-desk-nats-{}.sock", std::process::id()));
    let mut runtime = ActonApp::launch();
    let listener = desk::start(&runtime, &path).await.unwrap();
    let bridge = runtime
        .start_nats_bridge(NatsConfig::new(&nats.1).prefix("desk"))
        .await
        .unwrap();

    let calculator = CalculatorClient::connect_nats(&nats.1, "desk")
        .await
        .unwrap();
    assert_eq!(
        calculator.add(AddRequest { a: 40, b: 2 }).await.unwrap(),
        AddResponse { sum: 42 }
    );
    match calculator
        .divide(DivideRequest {
            dividend: 7,
            divisor: 0,
        })
        .await
    {
        Err(DivideError::DivisionByZero(error)) => assert_eq!(error.dividend, 7),
        other => panic!("expected DivisionByZero, got {other:?}"),
    }
    let counted: Vec<u32> = calculator
        .count(CountRequest {
            up_to: 3,
            delay_ms: 0,
        })
        .await
        .unwrap()
        .map(|item| item.unwrap().value)
        .collect()
        .await;
    assert_eq!(counted, [0, 1, 2]);
    let mut factorials = calculator
        .factorials(FactorialsRequest { up_to: 20 })
        .await
        .unwrap();
    let mut seen = 0;
    let overflow = loop {
        match factorials
            .next()
            .await
            .expect("the stream ends with Overflow")
        {
            Ok(_) => seen += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(seen, 13);
    assert!(
        matches!(overflow, FactorialsError::Overflow(Overflow { at: 13 })),
        "{overflow:?}"
    );
    calculator
        .log(LogEvent {
            level: Level::Info,
            line: "over NATS".into(),
        })
        .await
        .unwrap();
    let check = calculator.check_schema().await.unwrap();
    assert_eq!(check.status, Compatibility::Compatible, "{check:?}");

    let kv = KvStoreClient::new(calculator.client().clone());
    match kv
        .get(Get {
            key: "absent".into(),
        })
        .await
    {
        Err(GetError::NotFound(error)) => assert_eq!(error.key, "absent"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    let prices = PricesClient::connect_nats(&nats.1, "desk").await.unwrap();
    let mut updates = prices.subscribe_price_update().await.unwrap();
    let quote = Quote {
        symbol: "ACME".into(),
        side: Side::Buy,
        price: 101.5,
        size: 10,
        venue: None,
        tags: Vec::new(),
        attributes: Default::default(),
        extra: None,
    };
    desk::publish(&runtime, PriceUpdate { quote, sequence: 7 }).await;
    let update = tokio::time::timeout(PATIENCE, updates.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(update.payload.sequence, 7);

    bridge.shutdown().await;
    listener.shutdown().await.unwrap();
    runtime.shutdown_all().await.unwrap();
}
