//! The server against hostile, slow and broken clients, over a real socket: each
//! test reproduces an attack and asserts its outcome — an error code or a clean
//! close, memory bounded, and the server alive for the next client.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::protocol::{ErrorCode, Frame, MessageKind};
use acton_reactive::ipc::{Format, IpcConfig, IpcError, IpcOptions, RateLimitConfig};
use acton_reactive::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use support::*;

/// Registered, but the calculator has no handler for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Unhandled;

/// Asks for a reply of `bytes` bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Huge {
    bytes: usize,
    stream: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Blob {
    text: String,
}

/// A type whose `Deserialize` panics.
#[derive(Debug, Clone, Serialize)]
struct PanicsOnDecode;

impl<'de> Deserialize<'de> for PanicsOnDecode {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("a user's Deserialize panicked");
    }
}

/// Asks for a reply whose `Serialize` panics.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AskPanickyReply;

#[derive(Debug, Clone, Deserialize)]
struct PanicsOnEncode;

impl Serialize for PanicsOnEncode {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("a user's Serialize panicked");
    }
}

/// The support server plus the hostile cases' types and a second actor.
async fn hostile_server(name: &str, config: IpcConfig, options: IpcOptions) -> Server {
    let server = start_server(name, config, options).await;
    let registry = server.runtime.ipc_registry();
    registry.register::<Unhandled>("Unhandled");
    registry.register::<Huge>("Huge");
    registry.register::<Blob>("Blob");
    registry.register::<PanicsOnDecode>("PanicsOnDecode");
    registry.register::<AskPanickyReply>("AskPanickyReply");
    registry.register::<PanicsOnEncode>("PanicsOnEncode");
    let mut odd = server.runtime.new_actor_with_name::<()>("odd");
    odd.act_on::<Huge>(|_actor, ctx| {
        let Huge { bytes, stream } = ctx.message().clone();
        let reply = ctx.reply_envelope();
        Reply::pending(async move {
            let blob = Blob {
                text: "x".repeat(bytes),
            };
            if stream {
                let _ = reply
                    .deliver(Blob {
                        text: "small".into(),
                    })
                    .await;
            }
            let _ = reply.deliver(blob).await;
        })
    })
    .act_on::<PanicsOnDecode>(|_actor, _ctx| Reply::ready())
    .act_on::<AskPanickyReply>(|_actor, ctx| {
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(PanicsOnEncode).await })
    });
    let odd = odd.start().await;
    server.runtime.ipc_expose("odd", odd);
    server
}

fn error_code(value: &serde_json::Value) -> &str {
    value["error_code"].as_str().unwrap_or("")
}

/// The resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// How long a well-behaved client waits for an answer now.
async fn latency(path: &std::path::Path) -> Duration {
    let started = Instant::now();
    still_serving(path).await;
    started.elapsed()
}

// --- the actor never waits on a client's socket ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_cannot_stall_an_actor_for_everyone() {
    // 20 connections each open 200 streams on one actor and never read.
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = hostile_server("slowreaders", IpcConfig::default(), options).await;
    let before = rss_kib();
    let mut sleepers = Vec::new();
    for c in 0..20 {
        let mut raw = Raw::connect(&server.path).await;
        let mut batch = Vec::new();
        for s in 0..200 {
            let request = envelope(
                &format!("c{c}s{s}"),
                "calculator",
                "CountRequest",
                json!({"up_to": 1_000_000}),
                false,
                true,
            );
            let payload = serde_json::to_vec(&request).unwrap();
            batch.extend_from_slice(
                &Frame::new(MessageKind::Request, Format::Json, payload)
                    .to_bytes()
                    .unwrap(),
            );
        }
        raw.write(&batch).await;
        sleepers.push(raw);
    }
    // Give the streams time to fill every buffer there is.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Another client of the same actor is served within normal latency, again
    // and again.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let took = latency(&server.path).await;
        assert!(took < Duration::from_secs(1), "answered after {took:?}");
        slowest = slowest.max(took);
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    eprintln!("slowest answer beside 4000 unread streams: {slowest:?}; RSS grew {grown_mib} MiB");
    // 20 connections × 64 KiB budget, plus socket buffers and 4000 parked streams.
    assert!(grown_mib < 200, "RSS grew {grown_mib} MiB");
    drop(sleepers);
    // The abandoned streams stop; the runtime shuts down in time.
    let mut runtime = server.runtime.clone();
    server.listener.shutdown().await.unwrap();
    tokio::time::timeout(PATIENCE, runtime.shutdown_all())
        .await
        .expect("every stream handler stopped")
        .unwrap();
}

#[tokio::test]
async fn a_slow_reader_slows_its_own_streams_and_loses_nothing() {
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = hostile_server("ownstream", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        envelope(
            "big",
            "calculator",
            "CountRequest",
            json!({"up_to": 50_000}),
            false,
            true,
        ),
    )
    .await;
    // Read slowly at first: the producer waits for us instead of failing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut expected = 0u64;
    loop {
        let (kind, frame) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Stream);
        assert_eq!(frame["sequence"], json!(expected), "{frame}");
        if frame["is_final"] == json!(true) {
            assert!(frame.get("error_code").is_none(), "{frame}");
            break;
        }
        assert_eq!(frame["payload"]["value"], json!(expected));
        expected += 1;
    }
    assert_eq!(expected, 50_000);
    server.stop().await;
}

#[tokio::test]
async fn answers_a_client_does_not_read_fail_instead_of_growing() {
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = hostile_server("budget", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    // 8 × 64 answers of 8 KiB each, not read until all are produced: far more
    // than the budget (64 KiB) and the socket buffers hold, so some are refused.
    for round in 0..8 {
        let mut batch = Vec::new();
        for i in 0..64 {
            let request = envelope(
                &format!("r{round}h{i}"),
                "odd",
                "Huge",
                json!({"bytes": 8 * 1024, "stream": false}),
                true,
                false,
            );
            batch.extend_from_slice(
                &Frame::new(
                    MessageKind::Request,
                    Format::Json,
                    serde_json::to_vec(&request).unwrap(),
                )
                .to_bytes()
                .unwrap(),
            );
        }
        raw.write(&batch).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..64 * 8 {
        let (kind, frame) = raw.next_json().await;
        match kind {
            MessageKind::Response => answered += 1,
            MessageKind::Error => {
                assert_eq!(error_code(&frame), "LIMIT_EXCEEDED", "{frame}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        answered > 0 && refused > 0,
        "{answered} answered, {refused} refused"
    );
    assert!(server.listener.stats().answers_over_budget > 0);
    still_serving(&server.path).await;
    server.stop().await;
}

// --- 1. subscriptions ------------------------------------------------------------

#[tokio::test]
async fn subscribe_floods_are_refused_small_and_cost_no_memory() {
    let server = hostile_server("subflood", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    let before = rss_kib();
    let names: Vec<String> = (0..70_000).map(|i| format!("Type{i:06}")).collect();
    for round in 0..40 {
        raw.send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": format!("s{round}"), "message_types": names}),
        )
        .await;
        let frame = raw.next().await;
        assert_eq!(frame.kind, MessageKind::Error);
        assert!(
            frame.payload.len() < 1024,
            "answer of {} bytes",
            frame.payload.len()
        );
        let answer = decode_any(&frame);
        assert_eq!(error_code(&answer), "UNKNOWN_MESSAGE_TYPE");
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 64, "RSS grew {grown_mib} MiB");
    // Patterns are bounded by length and count.
    raw.send_json(
        MessageKind::SubscribePatterns,
        json!({"correlation_id": "long", "patterns": ["p".repeat(10_000)]}),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "LIMIT_EXCEEDED")
    );
    let many: Vec<String> = (0..129).map(|i| format!("p{i}*")).collect();
    raw.send_json(
        MessageKind::SubscribePatterns,
        json!({"correlation_id": "many", "patterns": many}),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "LIMIT_EXCEEDED")
    );
    assert_eq!(server.listener.stats().subscriptions_refused, 42);
    still_serving(&server.path).await;
    server.stop().await;
}

// --- 2. correlation ids ----------------------------------------------------------

#[tokio::test]
async fn huge_correlation_ids_are_refused_not_kept_or_echoed() {
    let server = hostile_server("bigid", IpcConfig::default(), IpcOptions::default()).await;
    for format in [Format::Json, Format::MessagePack] {
        let mut raw = Raw::connect(&server.path).await;
        let id = "i".repeat(900 * 1024);
        raw.send(
            MessageKind::Request,
            format,
            &envelope(
                &id,
                "calculator",
                "Sleep",
                json!({"ms": 10_000}),
                true,
                false,
            ),
        )
        .await;
        let frame = raw.next().await;
        assert_eq!(frame.kind, MessageKind::Error);
        assert!(
            frame.payload.len() < 512,
            "answer of {} bytes",
            frame.payload.len()
        );
        let answer = decode_any(&frame);
        assert_eq!(answer["correlation_id"], json!("unknown"));
        assert_eq!(error_code(&answer), "LIMIT_EXCEEDED");
        // The same for a malformed envelope and a subscription.
        raw.send(
            MessageKind::Request,
            format,
            &json!({"correlation_id": id, "target": 5}),
        )
        .await;
        let answer = decode_any(&raw.next().await);
        assert_eq!(answer["correlation_id"], json!("unknown"));
        raw.send(
            MessageKind::Subscribe,
            format,
            &json!({"correlation_id": id, "message_types": []}),
        )
        .await;
        let answer = decode_any(&raw.next().await);
        assert_eq!(answer["correlation_id"], json!("unknown"));
        // The limit itself is fine.
        let id = "j".repeat(256);
        raw.send(
            MessageKind::Request,
            format,
            &envelope(
                &id,
                "calculator",
                "AddRequest",
                json!({"a": 1, "b": 2}),
                true,
                false,
            ),
        )
        .await;
        let answer = decode_any(&raw.next().await);
        assert_eq!(answer["correlation_id"], json!(id));
        assert_eq!(answer["payload"]["sum"], json!(3));
    }
    assert!(server.listener.stats().limit_refusals >= 2);
    server.stop().await;
}

#[tokio::test]
async fn duplicate_correlation_ids_in_flight_are_refused() {
    let server = hostile_server("dupid", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    for _ in 0..2 {
        raw.send_json(
            MessageKind::Request,
            envelope("d", "calculator", "Sleep", json!({"ms": 300}), true, false),
        )
        .await;
    }
    let (kind, refused) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Error);
    assert_eq!(refused["correlation_id"], json!("d"));
    assert_eq!(error_code(&refused), "LIMIT_EXCEEDED");
    let (kind, answer) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Response);
    assert_eq!(answer["payload"]["value"], json!(300));
    // Once answered, the id may be used again.
    raw.send_json(
        MessageKind::Request,
        envelope(
            "d",
            "calculator",
            "AddRequest",
            json!({"a": 1, "b": 1}),
            true,
            false,
        ),
    )
    .await;
    let (kind, _) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Response);
    server.stop().await;
}

// --- 3. answers above the frame limit ------------------------------------------------

#[tokio::test]
async fn replies_above_the_hard_frame_limit_fail_instead_of_breaking_the_client() {
    let server = hostile_server("huge", IpcConfig::default(), IpcOptions::default()).await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let error = client
        .request::<_, Blob>(
            "odd",
            "Huge",
            &Huge {
                bytes: 17 * 1024 * 1024,
                stream: false,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::SerializationError), "{error}");
    // The same connection keeps working.
    let sum: AddResponse = client
        .request("calculator", "AddRequest", &AddRequest { a: 1, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 3);
    // A stream item above the limit ends its stream with an error.
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        envelope(
            "hs",
            "odd",
            "Huge",
            json!({"bytes": 17 * 1024 * 1024, "stream": true}),
            false,
            true,
        ),
    )
    .await;
    let (_, first) = raw.next_json().await;
    assert_eq!(first["payload"]["text"], json!("small"));
    let (kind, last) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Stream);
    assert_eq!(last["is_final"], json!(true));
    assert_eq!(last["sequence"], json!(1));
    assert_eq!(error_code(&last), "SERIALIZATION_ERROR");
    assert!(server.listener.stats().answers_unencodable >= 2);
    server.stop().await;
}

// --- 4. socket placement -----------------------------------------------------------

#[tokio::test]
async fn the_socket_appears_only_with_its_mode_and_leaves_nothing_behind() {
    let path = socket_path("placed");
    let directory = path.parent().unwrap().to_path_buf();
    let runtime = ActonApp::launch();
    let listener = runtime
        .start_ipc_listener_with_options(
            IpcConfig {
                socket_path: path.clone(),
                ..IpcConfig::default()
            },
            IpcOptions::default().socket_mode(0o640),
        )
        .await
        .unwrap();
    let metadata = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(metadata.mode() & 0o777, 0o640);
    // Only the socket: the private directory it was bound in is gone.
    let entries: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(entries, [path.file_name().unwrap().to_owned()]);
    // A second server refuses the live socket and leaves it alone.
    let second = ActonApp::launch()
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: path.clone(),
            ..IpcConfig::default()
        })
        .await;
    assert!(
        matches!(second, Err(IpcError::AlreadyServing { .. })),
        "{second:?}"
    );
    assert_eq!(
        std::fs::symlink_metadata(&path).unwrap().ino(),
        metadata.ino()
    );
    listener.shutdown().await.unwrap();
    assert!(!path.exists());
}

/// Whether this process runs as root (needed to act as another user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

const CHILD_SOCKET: &str = "ACTON_HARDENING_CHILD_SOCKET";

/// Tries to serve on `path` as the user `nobody` (this test binary, re-run as the
/// child entry point below); returns what it printed.
fn serve_as_nobody(path: &std::path::Path) -> String {
    use std::os::unix::process::CommandExt;
    // A copy of this binary that `nobody` can run, wherever the checkout lives.
    let directory = path.parent().unwrap();
    let binary = directory.join("hardening-child");
    std::fs::copy(std::env::current_exe().unwrap(), &binary).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = std::process::Command::new(&binary)
        .args([
            "--exact",
            "cross_user_child_entry",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_SOCKET, path)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&binary);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn another_users_server_never_takes_over_or_deletes_a_socket() {
    if !is_root() {
        eprintln!("acting as another user needs root: ran the single-user checks only");
        return;
    }
    // A shared directory, like /tmp.
    let directory = std::env::temp_dir().join(format!("acton-shared-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::set_permissions(
        &directory,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();

    // Server A (root, socket 0600) is live: B's probe gets EACCES, not "refused".
    let path = directory.join("a.sock");
    let server_a = ActonApp::launch();
    let listener = server_a
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: path.clone(),
            ..IpcConfig::default()
        })
        .await
        .unwrap();
    let inode = std::fs::symlink_metadata(&path).unwrap().ino();
    let outcome = tokio::task::spawn_blocking({
        let path = path.clone();
        move || serve_as_nobody(&path)
    })
    .await
    .unwrap();
    assert!(outcome.contains("OUTCOME=Unverifiable"), "{outcome}");
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().ino(), inode);
    let client = IpcClient::connect(&path).await.unwrap();
    client.discover().await.unwrap();
    listener.shutdown().await.unwrap();

    // A stale socket of root's that nobody can connect to (refused): not theirs
    // to delete.
    let stale = directory.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    std::fs::set_permissions(&stale, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let inode = std::fs::symlink_metadata(&stale).unwrap().ino();
    let outcome = tokio::task::spawn_blocking({
        let stale = stale.clone();
        move || serve_as_nobody(&stale)
    })
    .await
    .unwrap();
    assert!(outcome.contains("OUTCOME=NotOwned"), "{outcome}");
    assert_eq!(std::fs::symlink_metadata(&stale).unwrap().ino(), inode);
    std::fs::remove_dir_all(&directory).unwrap();
}

/// The child process of the test above (run as another user); not a test of its
/// own, hence ignored.
#[tokio::test]
#[ignore = "entry point of another_users_server_never_takes_over_or_deletes_a_socket's child process"]
async fn cross_user_child_entry() {
    let Some(path) = std::env::var_os(CHILD_SOCKET) else {
        return;
    };
    let result = ActonApp::launch()
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: path.into(),
            ..IpcConfig::default()
        })
        .await;
    let outcome = match result {
        Ok(_) => "Served".to_owned(),
        Err(error) => format!("{error:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_owned(),
    };
    println!("OUTCOME={outcome}");
}

#[tokio::test]
async fn the_client_can_require_the_servers_uid() {
    let server = hostile_server("uid", IpcConfig::default(), IpcOptions::default()).await;
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let client = IpcClient::connect_with(&server.path, ClientOptions::default().server_uid(me))
        .await
        .unwrap();
    client.discover().await.unwrap();
    let refused =
        IpcClient::connect_with(&server.path, ClientOptions::default().server_uid(me + 1)).await;
    assert!(
        matches!(refused, Err(ClientError::UnexpectedServer { expected, actual: Some(actual), .. }) if expected == me + 1 && actual == me),
        "{refused:?}"
    );
    server.stop().await;
}

// --- 5. peers that went away, and deadlines --------------------------------------------

#[tokio::test]
async fn a_peer_that_went_away_frees_its_slot_and_stops_its_handlers() {
    let server = hostile_server("gone", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        json!({
            "correlation_id": "forever",
            "target": "calculator",
            "message_type": "CountRequest",
            "payload": {"up_to": 1_000_000, "delay_ms": 50},
            "expects_stream": true,
            "response_timeout_ms": u64::MAX,
        }),
    )
    .await;
    raw.next().await;
    drop(raw);
    let started = Instant::now();
    loop {
        let stats = server.listener.stats();
        if stats.connections_active == 0 && stats.requests_abandoned == 1 {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The handler saw nobody listens and returned: shutdown is prompt.
    let mut runtime = server.runtime.clone();
    server.listener.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), runtime.shutdown_all())
        .await
        .expect("the stream handler stopped")
        .unwrap();
}

#[tokio::test]
async fn request_deadlines_are_capped_by_the_server() {
    let options = IpcOptions::default().max_request_timeout(Duration::from_millis(200));
    let server = hostile_server("cap", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    let started = Instant::now();
    raw.send_json(
        MessageKind::Request,
        json!({
            "correlation_id": "long",
            "target": "calculator",
            "message_type": "Sleep",
            "payload": {"ms": 5_000},
            "expects_reply": true,
            "response_timeout_ms": 31_536_000_000u64,
        }),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!((kind, error_code(&answer)), (MessageKind::Error, "TIMEOUT"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.listener.stats().deadlines_capped, 1);
    server.stop().await;
}

// --- 6. idleness and quotas --------------------------------------------------------

#[tokio::test]
async fn only_real_subscriptions_keep_a_connection_from_idling_out() {
    let config = IpcConfig {
        connection_timeout: Duration::from_millis(200),
        ..IpcConfig::default()
    };
    let server = hostile_server("idlesub", config, IpcOptions::default()).await;
    let attempts = [
        (
            MessageKind::Subscribe,
            json!({"correlation_id": "e", "message_types": []}),
        ),
        (
            MessageKind::Subscribe,
            json!({"correlation_id": "u", "message_types": ["Nope"]}),
        ),
        (
            MessageKind::SubscribePatterns,
            json!({"correlation_id": "p", "patterns": (0..200).map(|i| format!("p{i}")).collect::<Vec<_>>()}),
        ),
        (
            MessageKind::Unsubscribe,
            json!({"correlation_id": "x", "message_types": []}),
        ),
    ];
    for (kind, body) in attempts {
        let mut raw = Raw::connect(&server.path).await;
        raw.send_json(kind, body).await;
        raw.next().await;
        raw.expect_closed().await;
    }
    // A real subscription does keep it.
    let mut subscriber = Raw::connect(&server.path).await;
    subscriber
        .send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": "s", "message_types": ["prices.PriceUpdate"]}),
        )
        .await;
    subscriber.next().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    subscriber
        .send_json(MessageKind::Heartbeat, json!(null))
        .await;
    assert_eq!(subscriber.next().await.kind, MessageKind::Heartbeat);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_must_arrive_whole_in_time_whatever_the_subscriptions() {
    let config = IpcConfig {
        connection_timeout: Duration::from_secs(60),
        ..IpcConfig::default()
    };
    let options = IpcOptions::default().frame_read_timeout(Duration::from_millis(300));
    let server = hostile_server("slowframe", config, options).await;
    let before = rss_kib();
    let mut held = Vec::new();
    for (i, announced) in [1024 * 1024u32, 1024 * 1024 - 1, 7].into_iter().enumerate() {
        let mut raw = Raw::connect(&server.path).await;
        raw.send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": format!("s{i}"), "message_types": ["prices.PriceUpdate"]}),
        )
        .await;
        assert_eq!(raw.next().await.kind, MessageKind::Response);
        // A frame header announcing `announced` bytes, and a few of them.
        let mut bytes = announced.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[2, MessageKind::Request.as_byte(), 1, b'{']);
        raw.write(&bytes).await;
        held.push(raw);
    }
    let started = Instant::now();
    for raw in &mut held {
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Error);
        assert_eq!(error_code(&answer), "PROTOCOL_ERROR");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or("")
                .contains("did not arrive whole"),
            "{answer}"
        );
        raw.expect_closed().await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let stats = server.listener.stats();
    assert_eq!(stats.slow_frames_closed, 3);
    assert_eq!(stats.connections_active, 0);
    assert!(rss_kib() < before + 16 * 1024, "nothing kept");
    // Frames that arrive slowly but in time are served.
    let mut slow = Raw::connect(&server.path).await;
    let frame = Frame::new(
        MessageKind::Request,
        Format::Json,
        serde_json::to_vec(&envelope(
            "slow",
            "calculator",
            "AddRequest",
            json!({"a": 1, "b": 2}),
            true,
            false,
        ))
        .unwrap(),
    )
    .to_bytes()
    .unwrap();
    let (first, rest) = frame.split_at(10);
    slow.write(first).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.write(rest).await;
    let (_, answer) = slow.next_json().await;
    assert_eq!(answer["payload"]["sum"], json!(3));
    // Each frame has its own time: two slow frames back to back, the second
    // begun just before the first one's time would have run out.
    for pause in [200, 150] {
        slow.write(first).await;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        slow.write(rest).await;
        let (_, answer) = slow.next_json().await;
        assert_eq!(answer["payload"]["sum"], json!(3));
    }
    assert_eq!(server.listener.stats().slow_frames_closed, 3);
    server.stop().await;
}

#[tokio::test]
async fn one_uid_cannot_take_every_connection() {
    let options = IpcOptions::default().max_connections_per_uid(2);
    let server = hostile_server("uidquota", IpcConfig::default(), options).await;
    let first = IpcClient::connect(&server.path).await.unwrap();
    let second = IpcClient::connect(&server.path).await.unwrap();
    first.discover().await.unwrap();
    second.discover().await.unwrap();
    let mut third = Raw::connect(&server.path).await;
    let (kind, answer) = third.next_json().await;
    assert_eq!(kind, MessageKind::Error);
    assert_eq!(error_code(&answer), "CONNECTION_LIMIT_REACHED");
    assert_eq!(answer["payload"]["limit"], json!(2));
    third.expect_closed().await;
    let stats = server.listener.stats();
    assert_eq!(stats.connections_rejected_uid_quota, 1);
    // A slot freed is a slot to take again.
    drop(first);
    let started = Instant::now();
    loop {
        if server.listener.stats().connections_active == 1 {
            break;
        }
        assert!(started.elapsed() < PATIENCE);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    IpcClient::connect(&server.path)
        .await
        .unwrap()
        .discover()
        .await
        .unwrap();
    drop(second);
    server.stop().await;
}

// --- 7. rate limits ------------------------------------------------------------------

#[tokio::test]
async fn every_frame_costs_a_token() {
    let config = IpcConfig {
        rate_limit: Some(RateLimitConfig {
            requests_per_second: 1,
            burst_size: 3,
        }),
        ..IpcConfig::default()
    };
    let server = hostile_server("ratecost", config, IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(MessageKind::Heartbeat, json!(null)).await;
    assert_eq!(raw.next().await.kind, MessageKind::Heartbeat);
    raw.send_json(MessageKind::Discover, json!({"correlation_id": "d1"}))
        .await;
    assert_eq!(raw.next().await.kind, MessageKind::Response);
    raw.send_json(
        MessageKind::Request,
        json!({"correlation_id": "bad", "target": 5}),
    )
    .await;
    let (_, answer) = raw.next_json().await;
    assert_eq!(error_code(&answer), "SERIALIZATION_ERROR");
    // The bucket is empty now: every kind of frame is refused.
    raw.send_json(MessageKind::Discover, json!({"correlation_id": "d2"}))
        .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "RATE_LIMITED")
    );
    assert_eq!(answer["correlation_id"], json!("d2"));
    raw.send_json(
        MessageKind::Subscribe,
        json!({"correlation_id": "s", "message_types": ["prices.PriceUpdate"]}),
    )
    .await;
    let (_, answer) = raw.next_json().await;
    assert_eq!(error_code(&answer), "RATE_LIMITED");
    raw.send_json(
        MessageKind::Request,
        json!({"correlation_id": "bad2", "target": 5}),
    )
    .await;
    let (_, answer) = raw.next_json().await;
    assert_eq!(error_code(&answer), "RATE_LIMITED");
    assert_eq!(answer["correlation_id"], json!("bad2"));
    // A heartbeat over the limit is not answered; the next answer is a refusal.
    raw.send_json(MessageKind::Heartbeat, json!(null)).await;
    raw.send_json(MessageKind::Discover, json!({"correlation_id": "d3"}))
        .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, answer["correlation_id"].clone()),
        (MessageKind::Error, json!("d3"))
    );
    assert_eq!(server.listener.stats().rate_limited, 5);
    server.stop().await;
}

#[tokio::test]
async fn more_connections_do_not_buy_more_rate() {
    let options = IpcOptions::default().rate_limit_per_uid(RateLimitConfig {
        requests_per_second: 1,
        burst_size: 4,
    });
    let server = hostile_server("rateuid", IpcConfig::default(), options).await;
    let mut outcomes = Vec::new();
    for c in 0..3 {
        let mut raw = Raw::connect(&server.path).await;
        for i in 0..2 {
            raw.send_json(
                MessageKind::Request,
                envelope(
                    &format!("c{c}r{i}"),
                    "calculator",
                    "AddRequest",
                    json!({"a": 1, "b": 1}),
                    true,
                    false,
                ),
            )
            .await;
            let (_, answer) = raw.next_json().await;
            outcomes.push(error_code(&answer).to_owned());
        }
    }
    let refused = outcomes
        .iter()
        .filter(|code| *code == "RATE_LIMITED")
        .count();
    assert_eq!(refused, 2, "{outcomes:?}");
    server.stop().await;
}

// --- 8. what a slow subscriber missed, and the no-handler notice ------------------------

#[tokio::test]
async fn a_subscriber_learns_how_many_pushes_it_missed() {
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = hostile_server("missed", IpcConfig::default(), options).await;
    let mut sleepy = Raw::connect(&server.path).await;
    sleepy
        .send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": "s", "message_types": ["prices.PriceUpdate"]}),
        )
        .await;
    sleepy.next().await;
    let big = "x".repeat(16 * 1024);
    for _ in 0..200 {
        server
            .runtime
            .broker()
            .broadcast(PriceUpdate {
                symbol: big.clone(),
                price: 1.0,
            })
            .await;
    }
    let dropped = server.listener.stats().pushes_dropped;
    assert!(dropped > 0);
    // Read what was queued...
    let mut received = 0u64;
    let mut reported = 0u64;
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), sleepy.next()).await {
        received += 1;
        reported += decode_any(&frame)["dropped"].as_u64().unwrap_or(0);
    }
    // ...then the next push says how many were missed before it.
    server
        .runtime
        .broker()
        .broadcast(PriceUpdate {
            symbol: "last".into(),
            price: 2.0,
        })
        .await;
    let last = decode_any(&sleepy.next().await);
    assert_eq!(last["payload"]["price"], json!(2.0));
    reported += last["dropped"].as_u64().unwrap_or(0);
    assert_eq!(reported, dropped, "received {received}");
    assert_eq!(received + 1 + dropped, 201);
    server.stop().await;
}

#[tokio::test]
async fn the_no_handler_notice_reaches_a_client_whose_buffer_is_full() {
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = hostile_server("nohandler", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    // A stream fills the connection's buffer; then a request nobody handles.
    raw.send_json(
        MessageKind::Request,
        envelope(
            "s",
            "calculator",
            "CountRequest",
            json!({"up_to": 20_000}),
            false,
            true,
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    raw.send_json(
        MessageKind::Request,
        envelope("n", "calculator", "Unhandled", json!(null), true, false),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut notice = None;
    let mut stream_ended = false;
    while notice.is_none() || !stream_ended {
        let (kind, frame) = raw.next_json().await;
        if frame["correlation_id"] == json!("n") {
            notice = Some((kind, frame));
        } else if frame["is_final"] == json!(true) {
            stream_ended = true;
        }
    }
    let (kind, frame) = notice.unwrap();
    assert_eq!(
        (kind, error_code(&frame)),
        (MessageKind::Error, "UNKNOWN_MESSAGE_TYPE")
    );
    server.stop().await;
}

// --- 9. shutdown ------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_all_alone_drains_the_listener_first() {
    let server = hostile_server("drainall", IpcConfig::default(), IpcOptions::default()).await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 300 })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut runtime = server.runtime.clone();
    let path = server.path.clone();
    let shutdown = tokio::spawn(async move { runtime.shutdown_all().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Mid-drain, the socket file is still there.
    assert!(path.exists());
    let answer = call.await.unwrap().unwrap();
    assert_eq!(answer.value, 300);
    shutdown.await.unwrap().unwrap();
    assert!(!path.exists());
    drop(server.listener);
}

#[tokio::test]
async fn a_second_shutdown_waits_for_the_same_drain() {
    let server = hostile_server("twice", IpcConfig::default(), IpcOptions::default()).await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 300 })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listener = Arc::new(server.listener);
    let first = tokio::spawn({
        let listener = Arc::clone(&listener);
        async move { listener.shutdown_gracefully().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    let second = listener.shutdown_gracefully().await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "returned at once"
    );
    assert!(second.drained_gracefully);
    assert_eq!(first.await.unwrap(), second);
    assert_eq!(call.await.unwrap().unwrap().value, 300);
    let mut runtime = server.runtime;
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn frames_read_before_shutdown_are_answered() {
    let options = IpcOptions::default().max_in_flight(1);
    let server = hostile_server("buffered", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    let mut batch = Vec::new();
    for i in 0..50 {
        let request = envelope(
            &format!("b{i}"),
            "calculator",
            "Sleep",
            json!({"ms": 200}),
            true,
            false,
        );
        batch.extend_from_slice(
            &Frame::new(
                MessageKind::Request,
                Format::Json,
                serde_json::to_vec(&request).unwrap(),
            )
            .to_bytes()
            .unwrap(),
        );
    }
    raw.write(&batch).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listener = server.listener;
    let shutdown = tokio::spawn(async move { listener.shutdown().await });
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..50 {
        let (kind, frame) = raw.next_json().await;
        match kind {
            MessageKind::Response => answered += 1,
            _ => {
                assert_eq!(error_code(&frame), "SHUTTING_DOWN", "{frame}");
                refused += 1;
            }
        }
    }
    assert_eq!(answered, 1);
    assert_eq!(refused, 49);
    raw.expect_closed().await;
    shutdown.await.unwrap().unwrap();
    let mut runtime = server.runtime;
    runtime.shutdown_all().await.unwrap();
}

// --- 10. panics in user code, absurd settings ------------------------------------------

#[tokio::test]
async fn panics_in_user_serde_code_are_errors_and_the_connection_lives() {
    let server = hostile_server("panics", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        envelope("p1", "odd", "PanicsOnDecode", json!(null), true, false),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "SERIALIZATION_ERROR")
    );
    raw.send_json(
        MessageKind::Request,
        envelope("p2", "odd", "AskPanickyReply", json!(null), true, false),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "SERIALIZATION_ERROR")
    );
    assert_eq!(answer["correlation_id"], json!("p2"));
    raw.send_json(
        MessageKind::Request,
        envelope(
            "ok",
            "calculator",
            "AddRequest",
            json!({"a": 1, "b": 2}),
            true,
            false,
        ),
    )
    .await;
    let (kind, _) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Response);
    assert_eq!(server.listener.stats().connections_active, 1);
    server.stop().await;
}

#[tokio::test]
async fn absurd_limits_do_not_panic() {
    let config = IpcConfig {
        max_connections: usize::MAX,
        connection_timeout: Duration::MAX,
        ..IpcConfig::default()
    };
    let options = IpcOptions::default()
        .write_timeout(Duration::MAX)
        .drain_timeout(Duration::from_secs(1))
        .mailbox_wait(Duration::MAX)
        .max_request_timeout(Duration::MAX);
    let server = hostile_server("absurd", config, options).await;
    let connections = AtomicUsize::new(0);
    for _ in 0..3 {
        still_serving(&server.path).await;
        connections.fetch_add(1, Ordering::Relaxed);
    }
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        json!({
            "correlation_id": "max",
            "target": "calculator",
            "message_type": "AddRequest",
            "payload": {"a": 1, "b": 2},
            "expects_reply": true,
            "response_timeout_ms": u64::MAX,
        }),
    )
    .await;
    let (kind, _) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Response);
    assert_eq!(connections.load(Ordering::Relaxed), 3);
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_messagepack_is_refused_not_a_stack_overflow() {
    let server = hostile_server("deep", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    // A request whose payload nests 100,000 arrays deep (found by fuzzing: about
    // 1,000 levels overflowed a worker's stack in a debug build).
    let depth = 100_000;
    let mut envelope = vec![0x84u8];
    for (key, value) in [
        ("correlation_id", &[0xa4, b'd', b'e', b'e', b'p'][..]),
        (
            "target",
            &[
                0xaa, b'c', b'a', b'l', b'c', b'u', b'l', b'a', b't', b'o', b'r',
            ][..],
        ),
        (
            "message_type",
            &[
                0xab, b'A', b'd', b'd', b'R', b'e', b'q', b'u', b'e', b's', b't',
            ][..],
        ),
    ] {
        envelope.push(0xa0 | key.len() as u8);
        envelope.extend_from_slice(key.as_bytes());
        envelope.extend_from_slice(value);
    }
    envelope.extend_from_slice(&[0xa7, b'p', b'a', b'y', b'l', b'o', b'a', b'd']);
    envelope.extend(std::iter::repeat_n(0x91u8, depth));
    envelope.push(0xc0);
    raw.write(
        &Frame::new(MessageKind::Request, Format::MessagePack, envelope)
            .to_bytes()
            .unwrap(),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "SERIALIZATION_ERROR")
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("deeper than 128"),
        "{answer}"
    );
    // The same through a subscription and a registered type's payload.
    raw.send(
        MessageKind::Request,
        Format::MessagePack,
        &envelope_with_deep_payload(200),
    )
    .await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, error_code(&answer)),
        (MessageKind::Error, "SERIALIZATION_ERROR")
    );
    still_serving(&server.path).await;
    server.stop().await;
}

/// A well-formed envelope for `AddRequest` whose `payload` nests `depth` lists.
fn envelope_with_deep_payload(depth: usize) -> serde_json::Value {
    let mut payload = json!(null);
    for _ in 0..depth {
        payload = json!([payload]);
    }
    envelope("deep2", "calculator", "AddRequest", payload, true, false)
}

#[tokio::test]
async fn a_cancelled_request_ends_without_an_answer_and_frees_its_slot() {
    let options = IpcOptions::default().max_in_flight(1);
    let server = hostile_server("cancel", IpcConfig::default(), options).await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(MessageKind::Discover, json!({"correlation_id": "d"}))
        .await;
    let (_, discovered) = raw.next_json().await;
    assert_eq!(
        discovered["protocol_version"]["capabilities"]["cancel"],
        json!(true)
    );
    raw.send_json(
        MessageKind::Request,
        envelope(
            "long",
            "calculator",
            "CountRequest",
            json!({"up_to": 1_000_000, "delay_ms": 5}),
            false,
            true,
        ),
    )
    .await;
    let (_, first) = raw.next_json().await;
    assert_eq!(first["sequence"], json!(0));
    raw.send_json(MessageKind::Cancel, json!({"correlation_id": "long"}))
        .await;
    // The slot is free (max_in_flight 1): the next request is served. Items
    // already on their way may arrive first, but never a final frame.
    raw.send_json(
        MessageKind::Request,
        envelope(
            "add",
            "calculator",
            "AddRequest",
            json!({"a": 1, "b": 2}),
            true,
            false,
        ),
    )
    .await;
    loop {
        let (kind, frame) = raw.next_json().await;
        assert_ne!(frame["is_final"], json!(true), "{frame}");
        if kind == MessageKind::Response {
            assert_eq!(frame["correlation_id"], json!("add"));
            break;
        }
    }
    assert_eq!(server.listener.stats().requests_cancelled, 1);
    // Cancelling what is not in flight does nothing.
    raw.send_json(MessageKind::Cancel, json!({"correlation_id": "nothing"}))
        .await;
    raw.send_json(MessageKind::Heartbeat, json!(null)).await;
    assert_eq!(raw.next().await.kind, MessageKind::Heartbeat);
    // The handler learned it: the runtime stops at once.
    let mut runtime = server.runtime.clone();
    server.listener.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), runtime.shutdown_all())
        .await
        .expect("the cancelled stream's handler stopped")
        .unwrap();
}

#[tokio::test]
async fn a_payload_that_is_not_json_is_refused_by_its_request_and_hurts_nobody() {
    let server = hostile_server("badpayload", IpcConfig::default(), IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    // Envelopes of the common shape around payloads that only look like JSON:
    // each is refused (with its own id), the next request is served.
    let payloads: [&[u8]; 8] = [
        br#"{"a":1,"b":2,}"#,
        br#"{"a":1 "b":2}"#,
        br#"{"a":tru,"b":2}"#,
        br#"{"a":1,"b":2]"#,
        br#"[1,2}"#,
        br#"{"a":"\q","b":2}"#,
        b"{\"a\":1,\"b\":\"\xff\"}",
        br#"nul"#,
    ];
    for (n, payload) in payloads.iter().enumerate() {
        let mut body = format!(
            r#"{{"correlation_id":"bad-{n}","target":"calculator","message_type":"AddRequest","payload":"#
        )
        .into_bytes();
        body.extend_from_slice(payload);
        body.extend_from_slice(br#","expects_reply":true}"#);
        let frame = Frame::new(MessageKind::Request, Format::Json, body);
        raw.write(&frame.to_bytes().unwrap()).await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(
            (kind, error_code(&answer)),
            (MessageKind::Error, "SERIALIZATION_ERROR"),
            "{}",
            String::from_utf8_lossy(payload)
        );
        // The envelope around it is fine: the refusal carries the request's id.
        assert_eq!(answer["correlation_id"], json!(format!("bad-{n}")));
        raw.send_json(
            MessageKind::Request,
            envelope(
                &format!("ok-{n}"),
                "calculator",
                "AddRequest",
                json!({"a": n, "b": 1}),
                true,
                false,
            ),
        )
        .await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Response, "{answer}");
        assert_eq!(answer["payload"]["sum"], json!(n + 1));
    }
    // A unit message may come as `null` or `{}` (with JSON's whitespace around),
    // never with a form feed, which JSON does not count as whitespace.
    let unit = |n: usize, payload: &[u8]| {
        let mut body = format!(
            r#"{{"correlation_id":"unit-{n}","target":"calculator","message_type":"HealthCheck","payload":"#
        )
        .into_bytes();
        body.extend_from_slice(payload);
        body.extend_from_slice(br#","expects_reply":true}"#);
        Frame::new(MessageKind::Request, Format::Json, body)
            .to_bytes()
            .unwrap()
    };
    let cases: [(&[u8], MessageKind); 6] = [
        (b"{ \t}", MessageKind::Response),
        (b"null ", MessageKind::Response),
        (b" \r\nnull", MessageKind::Response),
        (b"{\x0c}", MessageKind::Error),
        (b"null\x0c", MessageKind::Error),
        (b"\x0cnull", MessageKind::Error),
    ];
    for (n, (payload, expected)) in cases.into_iter().enumerate() {
        raw.write(&unit(n, payload)).await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(
            kind,
            expected,
            "{:?}: {answer}",
            String::from_utf8_lossy(payload)
        );
        // An envelope serde cannot read has no id to answer to.
        let id = answer["correlation_id"].as_str().unwrap_or_default();
        assert!(id == format!("unit-{n}") || id == "unknown", "{answer}");
    }
    server.stop().await;
}
