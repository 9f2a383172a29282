//! The generated Rust server side (handler traits) and clients, end to end over a
//! real socket: request, stream, fire-and-forget, push — in process, and against
//! the `desk-server` binary in its own process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use acton_reactive::ipc::client::{ClientOptions, IpcClient};
use acton_reactive::ipc::protocol::ErrorCode;
use acton_reactive::ipc::wire::Bytes;
use acton_reactive::ipc::Format;
use acton_reactive::prelude::*;
use example_messages::*;
use futures_util::StreamExt;

const PATIENCE: Duration = Duration::from_secs(10);

fn socket(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acton-desk-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("desk.sock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_kind_through_the_generated_code() {
    let path = socket("kinds");
    let mut runtime = ActonApp::launch();
    let listener = desk::start(&runtime, &path).await.unwrap();

    for format in [Format::Json, Format::MessagePack] {
        let connection = IpcClient::connect_with(
            &path,
            ClientOptions {
                format,
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let calculator = CalculatorClient::new(connection.clone());
        let kv = KvStoreClient::new(connection.clone());
        let prices = PricesClient::new(connection);

        // Request-response, with a defaulted field left out by the schema's default.
        let sum = calculator.add(AddRequest { a: 40, b: 2 }).await.unwrap();
        assert_eq!(sum, AddResponse { sum: 42 });
        let health = calculator.health(HealthCheck {}).await.unwrap();
        assert_eq!(health.status, "ok");

        // The server serves the schema the client was built from: same contract.
        let check = calculator.check_schema().await.unwrap();
        assert_eq!(
            check.status,
            acton_reactive::ipc::client::schema_check::Compatibility::Compatible,
            "{check:?}"
        );

        // Stream.
        let counted: Vec<u32> = calculator
            .count(CountRequest {
                up_to: 25,
                delay_ms: 0,
            })
            .await
            .unwrap()
            .map(|item| item.unwrap().value)
            .collect()
            .await;
        assert_eq!(counted, (0..25).collect::<Vec<_>>());

        // Fire-and-forget.
        calculator
            .log(LogEvent {
                level: Level::Warn,
                line: format!("hello over {format}"),
            })
            .await
            .unwrap();

        // Bytes and optionals through the key-value store.
        let key = format!("key-{format}");
        let stored = kv
            .put(Put {
                key: key.clone(),
                value: Bytes::from(vec![0, 1, 2, 255]),
                ttl_ms: None,
            })
            .await
            .unwrap();
        assert!(!stored.replaced);
        let found = kv.get(Get { key: key.clone() }).await.unwrap();
        assert_eq!(found.value, Bytes::from(vec![0, 1, 2, 255]));
        // A declared error arrives typed, with its fields.
        let missing = kv.get(Get { key: "nope".into() }).await.unwrap_err();
        assert_eq!(missing, GetError::NotFound(NotFound { key: "nope".into() }));
        let divided = calculator
            .divide(DivideRequest {
                dividend: -7,
                divisor: 2,
            })
            .await
            .unwrap();
        assert_eq!((divided.quotient, divided.remainder), (-3, -1));
        let by_zero = calculator
            .divide(DivideRequest {
                dividend: 5,
                divisor: 0,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&by_zero, DivideError::DivisionByZero(e) if e.dividend == 5),
            "{by_zero:?}"
        );
        assert_eq!(by_zero.to_string(), "The divisor was zero (dividend: 5)");
        // A stream that ends with a declared error, after its items.
        let items: Vec<Result<Factorial, FactorialsError>> = calculator
            .factorials(FactorialsRequest { up_to: 30 })
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), 14, "0! ..= 12!, then the error");
        assert_eq!(
            items[12].as_ref().unwrap(),
            &Factorial {
                n: 12,
                value: 479_001_600
            }
        );
        assert_eq!(
            items[13].as_ref().unwrap_err(),
            &FactorialsError::Overflow(Overflow { at: 13 })
        );
        let keys: Vec<String> = kv
            .list_keys(ListKeys {
                prefix: "key-".into(),
            })
            .await
            .unwrap()
            .map(|k| k.unwrap().key)
            .collect()
            .await;
        assert!(keys.contains(&key));

        // A tagged union both ways.
        let order = Order::Limit {
            symbol: "ACME".into(),
            side: Side::Buy,
            size: 10,
            price: 99.5,
        };
        let accepted = prices.place(order.clone()).await.unwrap();
        assert_eq!(accepted.order, order);

        // Push.
        let mut updates = prices.subscribe_price_update().await.unwrap();
        let quote = Quote {
            symbol: "ACME".into(),
            side: Side::Sell,
            price: 101.25,
            size: 5,
            venue: None,
            tags: vec!["opening".into()],
            attributes: [("spread".to_string(), 0.5)].into_iter().collect(),
            extra: Some(serde_json::json!({"source": "test"})),
        };
        let update = PriceUpdate { quote, sequence: 7 };
        assert!(
            desk::publish(&runtime, update.clone()).await == 0,
            "no in-process subscriber"
        );
        let push = tokio::time::timeout(PATIENCE, updates.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(push.message_type, "PriceUpdate");
        assert_eq!(push.payload, update);
    }

    // A server error reaches the generated client with its code.
    let nobody = CalculatorClient::new(IpcClient::connect(&path).await.unwrap());
    runtime.ipc_hide("calculator");
    let error = nobody.add(AddRequest { a: 1, b: 1 }).await.unwrap_err();
    assert_eq!(error.protocol_code(), Some(ErrorCode::ActorNotFound));

    listener.shutdown().await.unwrap();
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_server_process_serves_the_generated_client() {
    let path = socket("process");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_desk-server"))
        .arg(&path)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut connection = None;
    for _ in 0..400 {
        if let Ok(client) = IpcClient::connect(&path).await {
            connection = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let connection = connection.expect("the server listens");
    let calculator = CalculatorClient::new(connection.clone());
    let prices = PricesClient::new(connection);

    let sum = tokio::time::timeout(PATIENCE, calculator.add(AddRequest { a: 2, b: 3 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sum.sum, 5);
    let mut updates = prices.subscribe_price_update().await.unwrap();
    let first = tokio::time::timeout(PATIENCE, updates.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(PATIENCE, updates.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.payload.quote.symbol, "ACME");
    assert!(second.payload.sequence > first.payload.sequence);

    let pid = server.id().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(PATIENCE, server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!path.exists(), "the server removed its socket");
}
