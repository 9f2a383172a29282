//! The building blocks of generated services over a real socket: failures with
//! details, streams that end with an error, the request context, exclusive
//! handlers.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acton_reactive::error::AskError;
use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::service::{
    on_call, on_call_exclusive, on_stream_call, Exclusive, Failure, RequestContext, Status,
    StreamSink,
};
use acton_reactive::ipc::{IpcConfig, IpcOptions};
use acton_reactive::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use support::{socket_path, PATIENCE};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Lookup {
    key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Found {
    value: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NotFound {
    key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Scan {
    fail_after: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Whoami;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Identity {
    uid: Option<u32>,
    pid: Option<i32>,
    correlation_id: Option<String>,
    deadline_in_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wait;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Bump;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Count {
    value: u32,
}

/// A failure the way generated code makes one: the error's wire name, a
/// message, and its fields as details.
fn not_found(key: String) -> Failure {
    Failure::with_details(
        "NotFound",
        format!("no value under `{key}`"),
        NotFound { key },
    )
}

struct Store {
    cancelled: AtomicU32,
}

struct Counter {
    count: u32,
}

struct Served {
    runtime: ActorRuntime,
    path: std::path::PathBuf,
    store: Arc<Store>,
    _listener: acton_reactive::ipc::IpcListenerHandle,
}

async fn serve() -> Served {
    let runtime = ActonApp::launch();
    let registry = runtime.ipc_registry();
    registry.register::<Lookup>("Lookup");
    registry.register::<Found>("Found");
    registry.register::<NotFound>("NotFound");
    registry.register::<Scan>("Scan");
    registry.register::<Whoami>("Whoami");
    registry.register::<Identity>("Identity");
    registry.register::<Wait>("Wait");
    registry.register::<Bump>("Bump");
    registry.register::<Count>("Count");

    let store = Arc::new(Store {
        cancelled: AtomicU32::new(0),
    });
    let mut actor = runtime.new_actor_with_name::<()>("store");
    on_call(
        &mut actor,
        &store,
        |_store, _ctx, request: Lookup| async move {
            match request.key.as_str() {
                "one" => Ok(Found { value: 1 }),
                "broken" => Err(Status::internal("the disk is on fire").into()),
                _ => Err(not_found(request.key)),
            }
        },
    );
    on_stream_call(
        &mut actor,
        &store,
        |_store, _ctx, request: Scan, items: StreamSink<Found>| async move {
            for value in 0..request.fail_after {
                items
                    .send(Found { value })
                    .await
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
            Err::<(), Failure>(not_found(format!("item {}", request.fail_after)))
        },
    );
    on_call(
        &mut actor,
        &store,
        |_store, ctx: RequestContext, _: Whoami| async move {
            Ok::<_, Status>(Identity {
                uid: ctx.peer().and_then(|p| p.uid),
                pid: ctx.peer().and_then(|p| p.pid),
                correlation_id: ctx.correlation_id().map(str::to_owned),
                deadline_in_ms: ctx
                    .deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64),
            })
        },
    );
    on_call(
        &mut actor,
        &store,
        |store, ctx: RequestContext, _: Wait| async move {
            tokio::select! {
                () = ctx.cancelled() => {
                    store.cancelled.fetch_add(1, Ordering::SeqCst);
                    Err(Status::internal("cancelled"))
                }
                () = tokio::time::sleep(Duration::from_secs(30)) => Ok(Found { value: 0 }),
            }
        },
    );
    let actor = actor.start().await;
    runtime.ipc_expose("store", actor);

    let counter: Exclusive<Counter> = Arc::new(tokio::sync::Mutex::new(Counter { count: 0 }));
    let mut exclusive = runtime.new_actor_with_name::<()>("counter");
    on_call_exclusive(
        &mut exclusive,
        &counter,
        |mut counter, _ctx, _: Bump| async move {
            // Exclusive: a read-modify-write across an await never interleaves.
            let before = counter.count;
            tokio::task::yield_now().await;
            counter.count = before + 1;
            Ok::<_, Status>(Count {
                value: counter.count,
            })
        },
    );
    let exclusive = exclusive.start().await;
    runtime.ipc_expose("counter", exclusive);

    let path = socket_path("service");
    let listener = runtime
        .start_ipc_listener_with_options(
            IpcConfig {
                socket_path: path.clone(),
                ..IpcConfig::default()
            },
            IpcOptions::default(),
        )
        .await
        .unwrap();
    Served {
        runtime,
        path,
        store,
        _listener: listener,
    }
}

#[tokio::test]
async fn a_declared_error_arrives_with_its_code_message_and_fields() {
    let served = serve().await;
    for format in [
        acton_reactive::ipc::Format::Json,
        acton_reactive::ipc::Format::MessagePack,
    ] {
        let client = IpcClient::connect_with(
            &served.path,
            ClientOptions {
                format,
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap();
        let found: Found = client
            .request("store", "Lookup", &Lookup { key: "one".into() })
            .await
            .unwrap();
        assert_eq!(found.value, 1);
        let error = client
            .request::<_, Found>("store", "Lookup", &Lookup { key: "two".into() })
            .await
            .unwrap_err();
        let ClientError::Server {
            code,
            message,
            details,
        } = error
        else {
            panic!("{error:?}")
        };
        assert_eq!(code, "NotFound");
        assert_eq!(message, "no value under `two`");
        let fields: NotFound = details.expect("details").decode().unwrap();
        assert_eq!(fields.key, "two");
        // A Status carries no fields.
        let error = client
            .request::<_, Found>(
                "store",
                "Lookup",
                &Lookup {
                    key: "broken".into(),
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ClientError::Server { code, details: None, .. } if code == "INTERNAL"),
            "{error:?}"
        );
        let status = Status::from(error);
        assert_eq!(status.message(), "the disk is on fire");
        // The connection keeps working.
        let found: Found = client
            .request("store", "Lookup", &Lookup { key: "one".into() })
            .await
            .unwrap();
        assert_eq!(found.value, 1);
    }
}

#[tokio::test]
async fn a_stream_can_end_with_a_declared_error() {
    let served = serve().await;
    let client = IpcClient::connect(&served.path).await.unwrap();
    let mut items = client
        .stream::<_, Found>("store", "Scan", &Scan { fail_after: 3 })
        .await
        .unwrap();
    for value in 0..3 {
        assert_eq!(items.next().await.unwrap().unwrap().value, value);
    }
    let last = items.next().await.unwrap().unwrap_err();
    let ClientError::Server { code, details, .. } = last else {
        panic!("{last:?}")
    };
    assert_eq!(code, "NotFound");
    assert_eq!(details.unwrap().decode::<NotFound>().unwrap().key, "item 3");
    assert!(items.next().await.is_none());
}

#[tokio::test]
async fn the_handler_knows_who_asked_and_until_when() {
    let served = serve().await;
    let client = IpcClient::connect_with(
        &served.path,
        ClientOptions {
            timeout: Duration::from_secs(7),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let identity: Identity = client.request("store", "Whoami", &Whoami).await.unwrap();
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(identity.uid, Some(me));
    assert_eq!(identity.pid, Some(std::process::id() as i32));
    assert!(identity.correlation_id.is_some_and(|id| !id.is_empty()));
    let left = identity.deadline_in_ms.unwrap();
    assert!((6_000..=7_000).contains(&left), "{left} ms left");
}

#[tokio::test]
async fn a_handler_learns_that_its_client_went_away() {
    let served = serve().await;
    let client = IpcClient::connect(&served.path).await.unwrap();
    let call = tokio::spawn(async move {
        let _ = client.request::<_, Found>("store", "Wait", &Wait).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.abort();
    let _ = call.await;
    // Dropping the last client closes the connection: the handler's context ends.
    let started = Instant::now();
    while served.store.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < PATIENCE, "the handler never learned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn exclusive_handlers_run_one_at_a_time() {
    let served = serve().await;
    let client = IpcClient::connect(&served.path).await.unwrap();
    let calls = (0..50).map(|_| {
        let client = client.clone();
        async move {
            client
                .request::<_, Count>("counter", "Bump", &Bump)
                .await
                .unwrap()
        }
    });
    let mut values: Vec<u32> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|c| c.value)
        .collect();
    values.sort_unstable();
    assert_eq!(values, (1..=50).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_local_ask_sees_a_failure_as_a_typed_error() {
    let served = serve().await;
    let store = served.runtime.ipc_exposed_names();
    assert!(store.contains(&"store".to_owned()));
    let mut runtime = served.runtime.clone();
    let mut asker = runtime.new_actor::<()>();
    asker.act_on::<Lookup>(|_actor, ctx| {
        let reply = ctx.reply_envelope();
        let key = ctx.message().key.clone();
        Reply::pending(async move { reply.send(not_found(key)).await })
    });
    let asker = asker.start().await;
    let answer = asker.ask::<Found>(Lookup { key: "x".into() }).await;
    assert!(
        matches!(&answer, Err(AskError::Failed { code, message, .. }) if code == "NotFound" && message == "no value under `x`"),
        "{answer:?}"
    );
    runtime.shutdown_all().await.unwrap();
}
