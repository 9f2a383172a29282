//! Shared by the IPC tests: a server with a few actors on a fresh socket, and a
//! raw client that writes exact bytes and reads frames.

#![allow(dead_code)]

pub mod nats_server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acton_reactive::ipc::protocol::{Frame, FrameCodec, MessageKind};
use acton_reactive::ipc::{Format, IpcConfig, IpcListenerHandle, IpcOptions};
use acton_reactive::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio_util::codec::FramedRead;

pub const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until `condition` holds; panics after [`PATIENCE`].
pub async fn wait_until(mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(started.elapsed() < PATIENCE, "the condition never held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct AddRequest {
    pub a: i64,
    pub b: i64,
}

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct AddResponse {
    pub sum: i64,
}

#[acton_message(ipc)]
pub struct CountRequest {
    pub up_to: u32,
    #[serde(default)]
    pub delay_ms: u64,
}

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct Number {
    pub value: u32,
}

#[acton_message(ipc)]
pub struct LogEvent {
    pub line: String,
}

#[acton_message(ipc)]
pub struct Sleep {
    pub ms: u64,
}

#[acton_message(ipc)]
pub struct Silent;

#[acton_message(ipc)]
pub struct HealthCheck;

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct HealthStatus {
    pub status: String,
}

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct PriceUpdate {
    pub symbol: String,
    pub price: f64,
}

/// Not registered: a reply of this type cannot be encoded.
#[acton_message]
pub struct Unregistered;

#[acton_message(ipc)]
pub struct AskUnregistered;

pub struct Server {
    pub runtime: ActorRuntime,
    pub listener: IpcListenerHandle,
    pub path: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
}

pub fn socket_path(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "acton-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{name}.sock"))
}

pub async fn start_server(name: &str, config: IpcConfig, options: IpcOptions) -> Server {
    let runtime = ActonApp::launch();
    let registry = runtime.ipc_registry();
    registry.register::<AddRequest>("AddRequest");
    registry.register::<AddResponse>("AddResponse");
    registry.register::<CountRequest>("CountRequest");
    registry.register::<Number>("Number");
    registry.register::<LogEvent>("LogEvent");
    registry.register::<Sleep>("Sleep");
    registry.register::<Silent>("Silent");
    registry.register::<HealthCheck>("HealthCheck");
    registry.register::<HealthStatus>("HealthStatus");
    registry.register::<PriceUpdate>("prices.PriceUpdate");
    registry.register::<AskUnregistered>("AskUnregistered");

    let log = Arc::new(Mutex::new(Vec::new()));
    let mut calculator = runtime.new_actor_with_name::<()>("calculator");
    let sink = Arc::clone(&log);
    calculator
        .act_on::<AddRequest>(|_actor, ctx| {
            let sum = ctx.message().a + ctx.message().b;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(AddResponse { sum }).await })
        })
        .act_on::<CountRequest>(|_actor, ctx| {
            let CountRequest { up_to, delay_ms } = ctx.message().clone();
            let reply = ctx.reply_envelope();
            Reply::pending(async move {
                for value in 0..up_to {
                    if delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    }
                    if reply.deliver(Number { value }).await.is_err() {
                        return;
                    }
                }
            })
        })
        .mutate_on::<LogEvent>(move |_actor, ctx| {
            sink.lock().expect("log").push(ctx.message().line.clone());
            Reply::ready()
        })
        .act_on::<Sleep>(|_actor, ctx| {
            let ms = ctx.message().ms;
            let reply = ctx.reply_envelope();
            Reply::pending(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                reply.send(Number { value: ms as u32 }).await;
            })
        })
        .act_on::<Silent>(|_actor, _ctx| Reply::ready())
        .act_on::<AskUnregistered>(|_actor, ctx| {
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(Unregistered).await })
        })
        .act_on::<HealthCheck>(|_, ctx| {
            let reply = ctx.reply_envelope();
            Reply::pending(async move {
                reply
                    .send(HealthStatus {
                        status: "ok".to_string(),
                    })
                    .await;
            })
        });
    let calculator = calculator.start().await;
    runtime.ipc_expose("calculator", calculator);

    let path = socket_path(name);
    let listener = runtime
        .start_ipc_listener_with_options(
            IpcConfig {
                socket_path: path.clone(),
                ..config
            },
            options,
        )
        .await
        .expect("listener starts");
    Server {
        runtime,
        listener,
        path,
        log,
    }
}

pub async fn default_server(name: &str) -> Server {
    start_server(name, IpcConfig::default(), IpcOptions::default()).await
}

impl Server {
    pub async fn stop(mut self) {
        self.listener.shutdown().await.expect("listener shutdown");
        self.runtime.shutdown_all().await.expect("runtime shutdown");
    }
}

/// A client that writes exact bytes and reads whole frames.
pub struct Raw {
    frames: FramedRead<tokio::net::unix::OwnedReadHalf, FrameCodec>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(path: &std::path::Path) -> Self {
        let stream = UnixStream::connect(path).await.expect("connect");
        let (read, write) = stream.into_split();
        Self {
            frames: FramedRead::new(read, FrameCodec::new(16 * 1024 * 1024)),
            write,
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.expect("write");
    }

    pub async fn send(&mut self, kind: MessageKind, format: Format, value: &impl Serialize) {
        let frame = Frame::new(kind, format, format.encode(value).expect("encode"));
        self.write(&frame.to_bytes().expect("frame")).await;
    }

    pub async fn send_json(&mut self, kind: MessageKind, json: serde_json::Value) {
        self.send(kind, Format::Json, &json).await;
    }

    /// The next frame; panics after [`PATIENCE`].
    pub async fn next(&mut self) -> Frame {
        tokio::time::timeout(PATIENCE, self.frames.next())
            .await
            .expect("a frame in time")
            .expect("a frame, not the end")
            .expect("a well-formed frame")
    }

    /// `None` once the server closed the connection (within [`PATIENCE`]).
    pub async fn next_or_closed(&mut self) -> Option<Frame> {
        match tokio::time::timeout(PATIENCE, self.frames.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(_) => None,
            Err(_) => panic!("neither a frame nor the end in time"),
        }
    }

    pub async fn next_json(&mut self) -> (MessageKind, serde_json::Value) {
        let frame = self.next().await;
        let value = decode_any(&frame);
        (frame.kind, value)
    }

    pub async fn expect_closed(&mut self) {
        assert!(
            self.next_or_closed().await.is_none(),
            "the server should have closed the connection"
        );
    }
}

/// Any frame's payload as JSON, whatever its format.
pub fn decode_any(frame: &Frame) -> serde_json::Value {
    if frame.payload.is_empty() {
        return serde_json::Value::Null;
    }
    match frame.format {
        Format::Json => serde_json::from_slice(&frame.payload).expect("JSON payload"),
        Format::MessagePack => rmp_serde::from_slice(&frame.payload).expect("MessagePack payload"),
    }
}

/// A request envelope as JSON.
pub fn envelope(
    id: &str,
    target: &str,
    message_type: &str,
    payload: serde_json::Value,
    reply: bool,
    stream: bool,
) -> serde_json::Value {
    serde_json::json!({
        "correlation_id": id,
        "target": target,
        "message_type": message_type,
        "payload": payload,
        "expects_reply": reply,
        "expects_stream": stream,
    })
}

#[derive(Debug, Deserialize)]
pub struct Anything(pub serde_json::Value);

/// Proves the server still serves a well-behaved client.
pub async fn still_serving(path: &std::path::Path) {
    let client = acton_reactive::ipc::client::IpcClient::connect(path)
        .await
        .expect("connect");
    let reply: AddResponse = tokio::time::timeout(
        PATIENCE,
        client.request("calculator", "AddRequest", &AddRequest { a: 2, b: 40 }),
    )
    .await
    .expect("in time")
    .expect("a reply");
    assert_eq!(reply, AddResponse { sum: 42 });
}
