//! `actonctl` against a real server (the desk's services, on a socket of their
//! own): its output, and its exit status for each way of failing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use acton_reactive::prelude::*;

struct Desk {
    runtime: ActorRuntime,
    socket: PathBuf,
    /// The listener runs while its handle lives.
    _listener: acton_reactive::ipc::IpcListenerHandle,
}

async fn desk(name: &str) -> Desk {
    let dir = std::env::temp_dir().join(format!("actonctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("desk.sock");
    let runtime = ActonApp::launch();
    let listener = desk::start(&runtime, &socket).await.unwrap();
    Desk {
        runtime,
        socket,
        _listener: listener,
    }
}

/// Runs actonctl (off the test's runtime, which serves it).
async fn actonctl(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_actonctl"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_every_kind_of_method_and_says_how_it_failed() {
    let mut desk = desk("calls").await;
    let socket = desk.socket.to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut all = vec!["--socket", &socket];
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|a| (*a).to_owned()).collect();
        async move { actonctl(&all.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    let found = run(&["discover"]).await;
    assert!(found.status.success(), "{}", stderr(&found));
    assert!(stdout(&found).contains("count            stream           CountRequest → Counted"));

    // The payload gets its defaults (`b`) from the schema the server serves.
    let sum = run(&["call", "calculator.add", r#"{"a": 40}"#]).await;
    assert_eq!(
        (sum.status.code(), stdout(&sum)),
        (Some(0), "{\"sum\":40}\n".to_owned())
    );
    let sum = run(&[
        "--format",
        "msgpack",
        "call",
        "calculator.add",
        r#"{"a": 1, "b": 2}"#,
    ])
    .await;
    assert_eq!(stdout(&sum), "{\"sum\":3}\n");

    let items = run(&["call", "calculator.count", r#"{"up_to": 3}"#]).await;
    assert_eq!(stdout(&items).lines().count(), 3, "{}", stdout(&items));

    let logged = run(&["call", "calculator.log", r#"{"line": "hello"}"#]).await;
    assert_eq!(stdout(&logged), "{\"status\":\"delivered\"}\n");

    // Exit 2: the payload does not fit, located; an unknown method.
    let bad = run(&["call", "calculator.add", r#"{"a": "one"}"#]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("field a: expected i64, got a string"),
        "{}",
        stderr(&bad)
    );
    let bad = run(&["call", "calculator.ad", "{}"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("has no method `ad`; methods: add"),
        "{}",
        stderr(&bad)
    );
    let bad = run(&["call", "calculator.add", "{a: 1}"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("the payload is not JSON"));

    // Exit 4: the server's declared error, with its fields.
    let failed = run(&[
        "call",
        "calculator.divide",
        r#"{"dividend": 7, "divisor": 0}"#,
    ])
    .await;
    assert_eq!(failed.status.code(), Some(4));
    assert!(
        stderr(&failed).contains("DivisionByZero"),
        "{}",
        stderr(&failed)
    );
    assert!(stderr(&failed).contains("{\"dividend\":7}"));

    // Raw, without the schema.
    let raw = run(&[
        "call",
        "--target",
        "calculator",
        "--type",
        "AddRequest",
        r#"{"a": 2, "b": 2}"#,
    ])
    .await;
    assert_eq!(stdout(&raw), "{\"sum\":4}\n");

    // Pushes as JSON lines.
    let ticker = {
        let runtime = desk.runtime.clone();
        tokio::spawn(async move {
            for sequence in 0.. {
                desk::publish(
                    &runtime,
                    example_messages::PriceUpdate {
                        quote: example_messages::Quote {
                            symbol: "ACME".into(),
                            price: 1.0,
                            size: 1,
                            side: example_messages::Side::Buy,
                            venue: None,
                            tags: vec![],
                            attributes: Default::default(),
                            extra: None,
                        },
                        sequence,
                    },
                )
                .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let pushes = run(&["subscribe", "PriceUpdate", "--count", "2"]).await;
    ticker.abort();
    assert_eq!(pushes.status.code(), Some(0), "{}", stderr(&pushes));
    assert_eq!(stdout(&pushes).lines().count(), 2);
    assert!(stdout(&pushes).contains("\"type\":\"PriceUpdate\""));

    let described = run(&["describe", "AddRequest"]).await;
    assert!(
        stdout(&described).contains("b: i64 = 0"),
        "{}",
        stdout(&described)
    );
    desk.runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn no_server_is_exit_3_and_a_schema_file_needs_none() {
    let gone = actonctl(&["--socket", "/nonexistent/acton.sock", "discover"]).await;
    assert_eq!(gone.status.code(), Some(3));
    assert!(stderr(&gone).contains("cannot reach /nonexistent/acton.sock"));
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/messages.yaml");
    let described = actonctl(&["--schema", schema, "describe", "calculator"]).await;
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(
        stdout(&described).contains("divide           reply            DivideRequest → Quotient")
    );
    let help = actonctl(&["--help"]).await;
    assert!(stdout(&help).contains("Exit status:") && stdout(&help).contains("Examples:"));
    let completions = actonctl(&["completions", "bash"]).await;
    assert!(stdout(&completions).contains("_actonctl"));
    let usage = actonctl(&["call"]).await;
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn reaches_the_server_through_nats() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats_server = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server runs (scripts/test.sh installs the Debian package)");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("nats://127.0.0.1:{port}");
    let mut desk = desk("nats").await;
    let bridge = desk
        .runtime
        .start_nats_bridge(acton_reactive::nats::NatsConfig::new(&url).prefix("desk"))
        .await
        .unwrap();
    let nats = ["--nats", url.as_str(), "--nats-prefix", "desk"];
    let run = |args: &[&str]| {
        let mut all = nats.to_vec();
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|a| (*a).to_owned()).collect();
        async move { actonctl(&all.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let found = run(&["discover"]).await;
    assert!(found.status.success(), "{}", stderr(&found));
    assert!(
        stdout(&found).contains("CountRequest → Counted"),
        "{}",
        stdout(&found)
    );
    let sum = run(&["call", "calculator.add", r#"{"a": 40}"#]).await;
    assert_eq!(
        (sum.status.code(), stdout(&sum)),
        (Some(0), "{\"sum\":40}\n".to_owned())
    );
    let counted = run(&["call", "calculator.count", r#"{"up_to": 2}"#]).await;
    assert_eq!(stdout(&counted), "{\"value\":0}\n{\"value\":1}\n");
    let missing = run(&["call", "kv_store.get", r#"{"key": "nope"}"#]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("NotFound"),
        "{}",
        stderr(&missing)
    );
    let elsewhere = actonctl(&[
        "--nats",
        &url,
        "--nats-prefix",
        "elsewhere",
        "call",
        "--target",
        "calculator",
        "--type",
        "AddRequest",
        "{}",
    ])
    .await;
    assert_eq!(elsewhere.status.code(), Some(4), "{}", stderr(&elsewhere));
    assert!(
        stderr(&elsewhere).contains("ACTOR_NOT_FOUND"),
        "{}",
        stderr(&elsewhere)
    );
    let _ = nats_server.kill();
    let _ = nats_server.wait();
    let gone = run(&["call", "calculator.add", r#"{"a": 1}"#]).await;
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));
    bridge.shutdown().await;
    desk.runtime.shutdown_all().await.unwrap();
}
