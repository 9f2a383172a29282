//! The Rust client in long-running programs, over a real socket: per-call
//! deadlines, CANCEL when a stream or call is given up, keepalive, subscriptions
//! that unsubscribe when dropped, bounded stream buffers; and against a hostile
//! server (a fake one in the test): a 16 MiB frame in 4 KiB writes, a header above
//! the caller's maximum frame size, stream items and pushes beyond the byte bounds,
//! a push that does not decode, a server running as another user.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::protocol::{Frame, FrameCodec, MessageKind};
use acton_reactive::ipc::{Format, IpcConfig, IpcOptions};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;

#[tokio::test]
async fn a_stream_has_no_deadline_unless_given_one() {
    let server = default_server("lc-deadline").await;
    let client = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    // Longer than the connection's timeout: a stream has none by default.
    let slow = CountRequest {
        up_to: 10,
        delay_ms: 100,
    };
    let items: Vec<Number> = client
        .stream::<_, Number>("calculator", "CountRequest", &slow)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(items.len(), 10);
    // A deadline given is the whole stream's.
    let hasty = client.with_timeout(Some(Duration::from_millis(300)));
    let mut items = hasty
        .stream::<_, Number>("calculator", "CountRequest", &slow)
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = items.next().await {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(ClientError::Server { ref code, .. })) if code == "TIMEOUT" )
            || matches!(last, Some(Err(ClientError::Timeout(_)))),
        "{last:?}"
    );
    // A call without a deadline waits as long as it takes.
    let patient = client.with_timeout(None);
    let answer: Number = patient
        .request("calculator", "Sleep", &Sleep { ms: 600 })
        .await
        .unwrap();
    assert_eq!(answer.value, 600);
    server.stop().await;
}

#[tokio::test]
async fn dropping_a_stream_cancels_it_on_the_server() {
    let server = default_server("lc-cancel").await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let mut items = client
        .stream::<_, Number>(
            "calculator",
            "CountRequest",
            &CountRequest {
                up_to: 1_000_000_000,
                delay_ms: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(items.next().await.unwrap().unwrap().value, 0);
    drop(items);
    wait_until(|| server.listener.stats().requests_cancelled == 1).await;
    // A call whose future is dropped is cancelled too.
    let call = client.request::<_, Number>("calculator", "Sleep", &Sleep { ms: 5_000 });
    assert!(tokio::time::timeout(Duration::from_millis(100), call)
        .await
        .is_err());
    wait_until(|| server.listener.stats().requests_cancelled == 2).await;
    // The connection keeps serving.
    still_serving(&server.path).await;
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_client_is_kept_alive_by_heartbeats() {
    let config = IpcConfig {
        connection_timeout: Duration::from_millis(300),
        ..IpcConfig::default()
    };
    let server = start_server("lc-keepalive", config, IpcOptions::default()).await;
    let kept = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            keepalive: Some(Duration::from_millis(100)),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let idle = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            keepalive: None,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!kept.is_closed());
    let sum: AddResponse = kept
        .request("calculator", "AddRequest", &AddRequest { a: 1, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 3);
    assert!(idle.is_closed(), "without heartbeats the server cuts it");
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_subscription_unsubscribes_once_nobody_wants_the_type() {
    let server = default_server("lc-subscribe").await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let mut first = client
        .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
        .await
        .unwrap();
    let mut second = client
        .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
        .await
        .unwrap();
    let update = PriceUpdate {
        symbol: "ACME".into(),
        price: 1.0,
    };
    server.runtime.broker().broadcast(update.clone()).await;
    assert_eq!(first.next().await.unwrap().unwrap().payload, update);
    drop(first);
    // The other subscription still receives.
    server.runtime.broker().broadcast(update.clone()).await;
    let mut seen = 0;
    while seen < 2 {
        let push = tokio::time::timeout(PATIENCE, second.next()).await.unwrap();
        assert_eq!(push.unwrap().unwrap().payload, update);
        seen += 1;
    }
    drop(second);
    // Nobody wants it any more: the server stops sending.
    let sent = server.listener.stats().pushes_sent;
    wait_until(|| {
        let before = server.listener.stats().pushes_sent;
        before == sent
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.runtime.broker().broadcast(update.clone()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.listener.stats().pushes_sent, sent);
    server.stop().await;
}

#[tokio::test]
async fn a_subscription_ends_with_an_error_when_the_connection_is_lost() {
    let server = default_server("lc-lost").await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let mut updates = client
        .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
        .await
        .unwrap();
    server.stop().await;
    let last = tokio::time::timeout(PATIENCE, updates.next())
        .await
        .unwrap();
    assert!(matches!(last, Some(Err(ClientError::Closed))), "{last:?}");
    assert!(updates.next().await.is_none());
}

#[tokio::test]
async fn a_slow_consumer_slows_the_server_and_loses_nothing() {
    let server = default_server("lc-slow").await;
    let client = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            stream_buffer: 64,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let mut items = client
        .stream::<_, Number>(
            "calculator",
            "CountRequest",
            &CountRequest {
                up_to: 200_000,
                delay_ms: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(items.next().await.unwrap().unwrap().value, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut expected = 1;
    while let Some(item) = items.next().await {
        assert_eq!(item.unwrap().value, expected);
        expected += 1;
    }
    assert_eq!(expected, 200_000);
    server.stop().await;
}

#[tokio::test]
async fn the_next_call_after_a_lost_connection_reconnects() {
    let config = IpcConfig {
        connection_timeout: Duration::from_millis(200),
        ..IpcConfig::default()
    };
    let server = start_server("lc-reconnect", config, IpcOptions::default()).await;
    let quiet = ClientOptions {
        keepalive: None,
        ..ClientOptions::default()
    };
    let client = IpcClient::connect_with(&server.path, quiet.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(client.is_closed(), "the server cut the idle connection");
    // Every clone shares the new connection.
    let clone = client.clone();
    let sum: AddResponse = clone
        .request("calculator", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 2);
    assert!(!client.is_closed());

    let strict = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            reconnect: false,
            ..quiet
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let error = strict
        .request::<_, AddResponse>("calculator", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Closed), "{error}");
    // A client closed on purpose stays closed.
    client.close();
    let error = client
        .request::<_, AddResponse>("calculator", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Closed), "{error}");
    server.stop().await;
}

// --- a hostile server: frames in small pieces, too large, too many bytes, undecodable --

/// What a fake server writes for a frame it received (its kind and JSON body):
/// `None` for the usual success answer, else these writes, in this order.
type Script = dyn Fn(MessageKind, &Value) -> Option<Vec<Vec<u8>>> + Send + Sync;

/// A JSON frame's bytes.
fn frame(kind: MessageKind, body: &Value) -> Vec<u8> {
    Frame::new(kind, Format::Json, serde_json::to_vec(body).unwrap())
        .to_bytes()
        .unwrap()
}

/// A Unix socket server speaking just enough of the protocol, doing what `script`
/// says; `written` counts the writes it finished.
fn fake_server(name: &str, script: Arc<Script>, written: Arc<AtomicUsize>) -> PathBuf {
    let path = socket_path(name);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (read, mut write) = socket.into_split();
            let (script, written) = (Arc::clone(&script), Arc::clone(&written));
            tokio::spawn(async move {
                let mut frames = FramedRead::new(read, FrameCodec::new(1 << 20));
                while let Some(Ok(received)) = frames.next().await {
                    let body: Value =
                        serde_json::from_slice(&received.payload).unwrap_or(Value::Null);
                    let writes = match (script)(received.kind, &body) {
                        Some(writes) => writes,
                        None if received.kind == MessageKind::Heartbeat => continue,
                        None => vec![frame(
                            MessageKind::Response,
                            &json!({"correlation_id": body["correlation_id"], "success": true}),
                        )],
                    };
                    for bytes in writes {
                        if write.write_all(&bytes).await.is_err() {
                            return;
                        }
                        written.fetch_add(1, AtomicOrdering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                }
            });
        }
    });
    path
}

const MIB: usize = 1024 * 1024;

fn hostile_options() -> ClientOptions {
    ClientOptions {
        keepalive: None,
        reconnect: false,
        ..ClientOptions::default()
    }
}

/// A JSON frame whose `field` is a string of `size` bytes.
fn big_frame(kind: MessageKind, mut body: Value, field: &str, size: usize) -> Vec<u8> {
    body[field] = Value::String("x".repeat(size));
    frame(kind, &body)
}

#[tokio::test]
async fn a_16_mib_frame_in_4_kib_writes_arrives_in_time_linear_in_its_size() {
    let script: Arc<Script> = Arc::new(|kind, body| {
        (kind == MessageKind::Request).then(|| {
            let size: usize = body["target"].as_str().unwrap().parse().unwrap();
            let reply = json!({"correlation_id": body["correlation_id"], "success": true});
            let bytes = big_frame(MessageKind::Response, reply, "payload", size);
            bytes.chunks(4096).map(<[u8]>::to_vec).collect()
        })
    });
    let path = fake_server("linear", script, Arc::default());
    let client = IpcClient::connect_with(&path, hostile_options())
        .await
        .unwrap();
    let time_of = |size: usize| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let answer: String = client.request(&size.to_string(), "Big", &()).await.unwrap();
            assert_eq!(answer.len(), size);
            started.elapsed()
        }
    };
    time_of(MIB).await; // warm up
    let small = time_of(4 * MIB).await;
    let large = time_of(16 * MIB - 100).await;
    // Linear: about 4 times as long; quadratic: 16 times.
    assert!(
        large.as_secs_f64() / small.as_secs_f64() < 8.0,
        "4 MiB in {small:?}, 16 MiB in {large:?}"
    );
}

#[tokio::test]
async fn a_frame_header_above_max_frame_size_closes_the_connection_with_a_clear_error() {
    let script: Arc<Script> = Arc::new(|kind, _body| {
        // 2049 bytes announced, none sent.
        (kind == MessageKind::Request).then(|| vec![vec![0, 0, 0x08, 0x01, 0x02, 0x02, 0x01]])
    });
    let path = fake_server("max-frame", script, Arc::default());
    let client = IpcClient::connect_with(
        &path,
        ClientOptions {
            max_frame_size: 2048,
            ..hostile_options()
        },
    )
    .await
    .unwrap();
    let refused = client.request::<_, Value>("x", "X", &()).await;
    match refused {
        Err(ClientError::Protocol(reason)) => {
            assert!(
                reason.contains("frame of 2049 bytes exceeds the maximum of 2048 bytes"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(client.is_closed());
}

#[tokio::test]
async fn a_streams_buffer_is_bounded_in_bytes_and_nothing_is_lost() {
    const ITEMS: usize = 24;
    let script: Arc<Script> = Arc::new(|kind, body| {
        (kind == MessageKind::Request).then(|| {
            let id = &body["correlation_id"];
            let mut writes: Vec<Vec<u8>> = (0..ITEMS)
                .map(|sequence| {
                    let head =
                        json!({"correlation_id": id, "sequence": sequence, "is_final": false});
                    big_frame(MessageKind::Stream, head, "payload", MIB)
                })
                .collect();
            let last = json!({"correlation_id": id, "sequence": ITEMS, "is_final": true});
            writes.push(frame(MessageKind::Stream, &last));
            writes
        })
    });
    let written = Arc::new(AtomicUsize::new(0));
    let path = fake_server("stream-bytes", script, Arc::clone(&written));
    let bound = 4 * MIB;
    let client = IpcClient::connect_with(
        &path,
        ClientOptions {
            stream_buffer_bytes: bound,
            ..hostile_options()
        },
    )
    .await
    .unwrap();
    let before = written.load(AtomicOrdering::Relaxed);
    let mut items = client.stream::<_, String>("s", "S", &()).await.unwrap();
    let first = items.next().await.unwrap().unwrap();
    // The consumer holds the first item while the server keeps writing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled = written.load(AtomicOrdering::Relaxed) - before - 1;
    // The bound (4 items of 1 MiB and a little), the one the reader waits to
    // buffer, the one being read, and what the socket holds: not all 24.
    assert!(
        stalled <= 4 + 4,
        "the server wrote {stalled} items while the consumer held one"
    );
    let mut received = 1;
    assert_eq!(first.len(), MIB);
    while let Some(item) = items.next().await {
        assert_eq!(item.unwrap().len(), MIB);
        received += 1;
    }
    assert_eq!(received, ITEMS, "nothing lost");
}

#[tokio::test]
async fn a_subscriptions_buffer_is_bounded_in_bytes_and_counts_what_it_drops() {
    let script: Arc<Script> = Arc::new(|kind, body| {
        (kind == MessageKind::Request).then(|| {
            let answer = json!({"correlation_id": body["correlation_id"], "success": true});
            let mut writes = vec![frame(MessageKind::Response, &answer)];
            let push = |n: usize, size: usize| {
                let head = json!({"message_type": "Big", "notification_id": format!("n{n}"), "timestamp_ms": n});
                big_frame(MessageKind::Push, head, "payload", size)
            };
            match body["target"].as_str().unwrap() {
                "many" => writes.extend((0..10).map(|n| push(n, MIB))),
                _ => writes.push(push(99, 6 * MIB)),
            }
            writes
        })
    });
    let path = fake_server("push-bytes", script, Arc::default());
    let client = IpcClient::connect_with(
        &path,
        ClientOptions {
            subscription_buffer_bytes: 3 * MIB,
            ..hostile_options()
        },
    )
    .await
    .unwrap();
    let mut pushes = client.subscribe::<String>(&["Big"]).await.unwrap();
    client.send("many", "Many", &()).await.unwrap();
    // Two pushes of a little more than 1 MiB fit in 3 MiB: the other eight are dropped.
    let started = Instant::now();
    while pushes.missed() < 8 {
        assert!(started.elapsed() < PATIENCE, "missed {}", pushes.missed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for n in 0..2 {
        let push = pushes.next().await.unwrap().unwrap();
        assert_eq!(push.notification_id, format!("n{n}"));
    }
    let nothing = tokio::time::timeout(Duration::from_millis(200), pushes.next()).await;
    assert!(nothing.is_err(), "only two were buffered");
    assert_eq!(pushes.missed(), 8);
    // One push alone larger than the bound is still taken: progress is possible.
    client.send("huge", "Huge", &()).await.unwrap();
    let huge = pushes.next().await.unwrap().unwrap();
    assert_eq!(huge.payload.len(), 6 * MIB);
    assert_eq!(pushes.missed(), 8);
}

#[tokio::test]
async fn a_push_that_does_not_decode_is_counted_and_skipped() {
    let script: Arc<Script> = Arc::new(|kind, body| {
        (kind == MessageKind::Request).then(|| {
            let answer = json!({"correlation_id": body["correlation_id"], "success": true});
            let push = |payload: Value| {
                frame(
                    MessageKind::Push,
                    &json!({"message_type": "prices.PriceUpdate", "notification_id": "n", "timestamp_ms": 1, "payload": payload}),
                )
            };
            vec![
                frame(MessageKind::Response, &answer),
                push(json!({"symbol": "ACME", "price": "not a number"})),
                // Whose type cannot be read at all.
                frame(
                    MessageKind::Push,
                    &json!({"message_type": 7, "notification_id": "n", "timestamp_ms": 1}),
                ),
                push(json!({"symbol": "ACME", "price": 42.5})),
            ]
        })
    });
    let path = fake_server("undecodable", script, Arc::default());
    let client = IpcClient::connect_with(&path, hostile_options())
        .await
        .unwrap();
    let mut prices = client
        .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
        .await
        .unwrap();
    client.send("go", "Go", &()).await.unwrap();
    let push = tokio::time::timeout(PATIENCE, prices.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!((push.payload.price - 42.5).abs() < f64::EPSILON);
    assert_eq!(prices.undecodable(), 2);
    assert!(!client.is_closed());
}

#[tokio::test]
async fn require_server_uid_reads_the_peers_credentials_not_the_files_owner() {
    use std::os::unix::process::CommandExt;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return; // starting a server as another user needs root
    }
    let path = socket_path("other-user");
    let dir = path.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let serve = "import socket, sys\ns = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\nprint('ready', flush=True)\nconns = []\nwhile True: conns.append(s.accept()[0])\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", serve])
        .arg(&path)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");
    // The file is root's now; the process that serves it is not.
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    let refused = IpcClient::connect_with(&path, hostile_options().server_uid(0)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    match refused {
        Err(ClientError::UnexpectedServer {
            expected: 0,
            actual: Some(65534),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}
