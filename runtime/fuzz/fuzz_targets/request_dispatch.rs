//! Arbitrary bytes sent to a live server over a real socket: whatever arrives, the
//! server must answer or close without panicking, and must keep serving a
//! well-behaved client afterwards (checked every 256 inputs).

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::ipc::IpcConfig;
use acton_reactive::prelude::*;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[acton_message(ipc)]
struct Add {
    a: i64,
    b: i64,
}

#[acton_message(ipc)]
struct Count {
    up_to: u8,
}

#[acton_message(ipc)]
struct Ping;

struct Harness {
    tokio: tokio::runtime::Runtime,
    socket: std::path::PathBuf,
    _listener: acton_reactive::ipc::IpcListenerHandle,
    _actors: ActorRuntime,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tokio = tokio::runtime::Runtime::new().expect("tokio");
        let socket = std::env::temp_dir().join(format!("acton-fuzz-{}.sock", std::process::id()));
        let (listener, actors) = tokio.block_on(async {
            let runtime = ActonApp::launch();
            let registry = runtime.ipc_registry();
            registry.register::<Add>("Add");
            registry.register::<Count>("Count");
            registry.register::<Ping>("Ping");
            let mut calc = runtime.new_actor::<()>();
            calc.act_on::<Add>(|_a, ctx| {
                let sum = ctx.message().a.wrapping_add(ctx.message().b);
                let reply = ctx.reply_envelope();
                Reply::pending(async move { reply.send(Add { a: sum, b: 0 }).await })
            })
            .act_on::<Count>(|_a, ctx| {
                let up_to = ctx.message().up_to;
                let reply = ctx.reply_envelope();
                Reply::pending(async move {
                    for n in 0..up_to {
                        reply.send(Count { up_to: n }).await;
                    }
                })
            })
            .act_on::<Ping>(|_a, ctx| {
                let reply = ctx.reply_envelope();
                Reply::pending(async move { reply.send(Ping).await })
            });
            runtime.ipc_expose("calc", calc.start().await);
            let listener = runtime
                .start_ipc_listener_with_config(IpcConfig {
                    socket_path: socket.clone(),
                    max_connections: 1000,
                    ..IpcConfig::default()
                })
                .await
                .expect("listener");
            (listener, runtime)
        });
        Harness {
            tokio,
            socket,
            _listener: listener,
            _actors: actors,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let harness = harness();
    harness.tokio.block_on(async {
        let mut stream = UnixStream::connect(&harness.socket).await.expect("connect");
        let _ = stream.write_all(data).await;
        let _ = stream.shutdown().await;
        let mut answers = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(200), stream.read_to_end(&mut answers)).await;

        if RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 256 == 0 {
            let client = IpcClient::connect(&harness.socket).await.expect("still accepting");
            let sum: Add = client
                .request("calc", "Add", &Add { a: 40, b: 2 })
                .await
                .expect("still serving");
            assert_eq!(sum.a, 42);
        }
    });
});
