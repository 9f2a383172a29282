//! End-to-end tests of the IPC server over a real Unix socket: every message kind,
//! both formats, every error code, bad input, limits, shutdown.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::protocol::{ErrorCode, Frame, MessageKind};
use acton_reactive::ipc::{Format, IpcConfig, IpcError, IpcOptions, RateLimitConfig};
use acton_reactive::prelude::Reply;
use futures_util::StreamExt;
use serde_json::json;
use support::*;

const FORMATS: [Format; 2] = [Format::Json, Format::MessagePack];

async fn client(server: &Server, format: Format) -> IpcClient {
    IpcClient::connect_with(
        &server.path,
        ClientOptions {
            format,
            ..ClientOptions::default()
        },
    )
    .await
    .expect("connect")
}

fn code(error: &ClientError) -> Option<ErrorCode> {
    error.code()
}

#[tokio::test]
async fn request_response_in_both_formats() {
    let server = default_server("rr").await;
    for format in FORMATS {
        let client = client(&server, format).await;
        let sum: AddResponse = client
            .request("calculator", "AddRequest", &AddRequest { a: 20, b: 22 })
            .await
            .unwrap();
        assert_eq!(sum, AddResponse { sum: 42 });
        let status: HealthStatus = client
            .request("calculator", "HealthCheck", &HealthCheck)
            .await
            .unwrap();
        assert_eq!(status.status, "ok");
    }
    server.stop().await;
}

#[tokio::test]
async fn unit_messages_accept_null_and_an_empty_map() {
    let server = default_server("unit").await;
    for format in FORMATS {
        let mut raw = Raw::connect(&server.path).await;
        for (i, payload) in [json!(null), json!({})].into_iter().enumerate() {
            let id = format!("h{i}");
            raw.send(
                MessageKind::Request,
                format,
                &envelope(&id, "calculator", "HealthCheck", payload, true, false),
            )
            .await;
            let frame = raw.next().await;
            assert_eq!(frame.kind, MessageKind::Response);
            assert_eq!(frame.format, format, "answered in the request's format");
            let answer = decode_any(&frame);
            assert_eq!(answer["correlation_id"], json!(id));
            assert_eq!(answer["payload"], json!({"status": "ok"}));
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn fire_and_forget_is_acknowledged_once_delivered() {
    let server = default_server("ff").await;
    for format in FORMATS {
        let mut raw = Raw::connect(&server.path).await;
        raw.send(
            MessageKind::Request,
            format,
            &envelope(
                "f1",
                "calculator",
                "LogEvent",
                json!({"line": format!("{format}")}),
                false,
                false,
            ),
        )
        .await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Response);
        assert_eq!(
            answer,
            json!({"correlation_id": "f1", "success": true, "payload": {"status": "delivered"}})
        );
        let client = client(&server, format).await;
        client
            .send(
                "calculator",
                "LogEvent",
                &LogEvent {
                    line: "typed".into(),
                },
            )
            .await
            .unwrap();
    }
    // The log actor handled every message (ask something after them to be sure).
    still_serving(&server.path).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *server.log.lock().unwrap(),
        ["JSON", "typed", "MessagePack", "typed"]
    );
    server.stop().await;
}

#[tokio::test]
async fn streams_carry_sequence_numbers_and_end_with_a_final_frame() {
    let server = default_server("stream").await;
    for format in FORMATS {
        let mut raw = Raw::connect(&server.path).await;
        raw.send(
            MessageKind::Request,
            format,
            &envelope(
                "s1",
                "calculator",
                "CountRequest",
                json!({"up_to": 5}),
                false,
                true,
            ),
        )
        .await;
        for expected in 0..5u32 {
            let (kind, frame) = raw.next_json().await;
            assert_eq!(kind, MessageKind::Stream);
            assert_eq!(frame["correlation_id"], json!("s1"));
            assert_eq!(frame["sequence"], json!(expected));
            assert_eq!(frame["is_final"], json!(false));
            assert_eq!(frame["payload"], json!({"value": expected}));
        }
        let (kind, last) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Stream);
        assert_eq!(
            last,
            json!({"correlation_id": "s1", "sequence": 5, "is_final": true})
        );

        let client = client(&server, format).await;
        let items: Vec<u32> = client
            .stream::<_, Number>("calculator", "CountRequest", &json!({"up_to": 100}))
            .await
            .unwrap()
            .map(|item| item.unwrap().value)
            .collect()
            .await;
        assert_eq!(items, (0..100).collect::<Vec<_>>());
        let empty: Vec<_> = client
            .stream::<_, Number>("calculator", "CountRequest", &json!({"up_to": 0}))
            .await
            .unwrap()
            .collect()
            .await;
        assert!(empty.is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_are_answered_and_legacy_frames_accepted() {
    let server = default_server("hb").await;
    let mut raw = Raw::connect(&server.path).await;
    raw.write(&[0, 0, 0, 0, 2, 0x04, 0x01]).await;
    let frame = raw.next().await;
    assert_eq!(
        (frame.kind, frame.format, frame.payload.len()),
        (MessageKind::Heartbeat, Format::Json, 0)
    );

    // Version 1: six-byte header, JSON, answered with a version-2 frame.
    let body = serde_json::to_vec(&envelope(
        "v1",
        "calculator",
        "AddRequest",
        json!({"a": 1, "b": 1}),
        true,
        false,
    ))
    .unwrap();
    let mut v1 = (body.len() as u32).to_be_bytes().to_vec();
    v1.extend_from_slice(&[0x01, 0x01]);
    v1.extend_from_slice(&body);
    raw.write(&v1).await;
    let frame = raw.next().await;
    assert_eq!(frame.version, 2);
    assert_eq!(decode_any(&frame)["payload"], json!({"sum": 2}));
    server.stop().await;
}

#[tokio::test]
async fn many_requests_in_flight_on_one_connection_are_answered_as_they_complete() {
    let server = default_server("pipeline").await;
    let client = client(&server, Format::MessagePack).await;

    // A slow request first must not hold back the fast ones behind it.
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let reply: Number = client
                .request("calculator", "Sleep", &Sleep { ms: 1000 })
                .await
                .unwrap();
            (reply.value, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fast: Vec<_> = futures_util::future::join_all((0..200).map(|i| {
        let client = client.clone();
        async move {
            let reply: AddResponse = client
                .request("calculator", "AddRequest", &AddRequest { a: i, b: 1 })
                .await
                .unwrap();
            assert_eq!(reply.sum, i + 1);
        }
    }))
    .await;
    assert_eq!(fast.len(), 200);
    assert!(
        !slow.is_finished(),
        "the fast requests waited for the slow one"
    );
    let (value, took) = slow.await.unwrap();
    assert_eq!(value, 1000);
    assert!(took >= Duration::from_millis(1000));
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_receive_broadcasts_as_pushes() {
    let server = default_server("push").await;
    for format in FORMATS {
        let client = client(&server, format).await;
        let mut exact = client
            .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
            .await
            .unwrap();
        let mut by_pattern = client
            .subscribe_patterns::<PriceUpdate>(&["prices.*"])
            .await
            .unwrap();

        let mut raw = Raw::connect(&server.path).await;
        // Only registered names may be subscribed to; a refusal changes nothing.
        raw.send(
            MessageKind::Subscribe,
            format,
            &json!({"correlation_id": "bad", "message_types": ["prices.PriceUpdate", "Other"]}),
        )
        .await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Error);
        assert_eq!(answer["correlation_id"], json!("bad"));
        assert_eq!(answer["error_code"], json!("UNKNOWN_MESSAGE_TYPE"));
        assert!(answer["error"].as_str().unwrap().contains("`Other`"));
        raw.send(
            MessageKind::Subscribe,
            format,
            &json!({"correlation_id": "sub", "message_types": ["prices.PriceUpdate", "prices.PriceUpdate"]}),
        )
        .await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Response);
        assert_eq!(answer["subscribed_types"], json!(["prices.PriceUpdate"]));

        let update = PriceUpdate {
            symbol: "ACME".into(),
            price: 12.5,
        };
        server.runtime.broker().broadcast(update.clone()).await;

        let push = tokio::time::timeout(PATIENCE, exact.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(push.message_type, "prices.PriceUpdate");
        assert_eq!(push.payload, update);
        let push = tokio::time::timeout(PATIENCE, by_pattern.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(push.payload, update);

        let frame = raw.next().await;
        assert_eq!(frame.kind, MessageKind::Push);
        assert_eq!(frame.format, format, "pushes use the subscriber's format");
        let push = decode_any(&frame);
        assert_eq!(push["message_type"], json!("prices.PriceUpdate"));
        assert_eq!(push["payload"], json!({"symbol": "ACME", "price": 12.5}));
        assert!(push["notification_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()));
        assert!(push["timestamp_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000));

        // An empty UNSUBSCRIBE list removes everything.
        raw.send(
            MessageKind::Unsubscribe,
            format,
            &json!({"correlation_id": "un", "message_types": []}),
        )
        .await;
        let (_, answer) = raw.next_json().await;
        assert_eq!(answer["subscribed_types"], json!([]));
        server
            .runtime
            .broker()
            .broadcast(PriceUpdate {
                symbol: "X".into(),
                price: 1.0,
            })
            .await;
        raw.send(MessageKind::Heartbeat, Format::Json, &()).await;
        // The heartbeat answer arrives, and no push before it.
        assert_eq!(raw.next().await.kind, MessageKind::Heartbeat);
    }
    server.stop().await;
}

#[tokio::test]
async fn discovery_lists_actors_types_and_the_protocol() {
    let server = default_server("discover").await;
    let client = client(&server, Format::Json).await;
    let found = client.discover().await.unwrap();
    assert!(found.success);
    let actors = found.actors.unwrap();
    assert_eq!(actors.len(), 1);
    assert_eq!(actors[0].name, "calculator");
    let types = found.message_types.unwrap();
    assert!(
        types.contains(&"AddRequest".to_string()) && types.contains(&"AddResponse".to_string())
    );
    let protocol = found.protocol_version.unwrap();
    assert_eq!(
        (
            protocol.current,
            protocol.min_supported,
            protocol.max_supported
        ),
        (2, 1, 2)
    );
    assert!(protocol.capabilities.messagepack && protocol.capabilities.streaming);

    // A bare DISCOVER (empty payload) is answered with every default.
    let mut raw = Raw::connect(&server.path).await;
    raw.write(&[0, 0, 0, 0, 2, 0x08, 0x01]).await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Response);
    assert_eq!(answer["correlation_id"], json!("unknown"));
    assert!(answer["actors"].is_array() && answer["message_types"].is_array());
    assert!(answer.get("schema").is_none(), "only when asked for");
    server.stop().await;
}

#[tokio::test]
async fn discovery_serves_the_registered_schema_when_asked() {
    let server = default_server("discover-schema").await;
    let client = client(&server, Format::MessagePack).await;
    // Nothing registered yet: the answer has no schema, and says so by its absence.
    let found = client.discover_schema().await.unwrap();
    assert_eq!((found.schema, found.schema_fingerprint), (None, None));
    let check = client
        .check_schema(
            r#"{"format":"acton-schema/1"}"#,
            "fnv1a64:1",
            &["calculator"],
        )
        .await
        .unwrap();
    assert_eq!(
        check.status,
        acton_reactive::ipc::client::schema_check::Compatibility::Unknown
    );
    let document = r#"{"format":"acton-schema/1","package":"p","types":[{"wire_name":"p.A","kind":"struct","fields":[]}],"services":[]}"#;
    server
        .runtime
        .ipc_registry()
        .register_schema(document, "fnv1a64:00000000000000aa");
    server
        .runtime
        .ipc_registry()
        .register_schema(document, "fnv1a64:00000000000000aa");
    let found = client.discover_schema().await.unwrap();
    assert_eq!(
        found.schema_fingerprint.as_deref(),
        Some("fnv1a64:00000000000000aa")
    );
    let schema = found.schema.unwrap();
    assert_eq!(schema["types"][0]["wire_name"], "p.A");
    // A client built from another schema learns what differs.
    let other = r#"{"format":"acton-schema/1","types":[],"services":[{"name":"calculator","methods":[{"name":"add","kind":"reply","request":"p.A","answer":"p.A","errors":[]}],"pushes":[]}]}"#;
    let check = client
        .check_schema(other, "fnv1a64:00000000000000bb", &["calculator"])
        .await
        .unwrap();
    assert_eq!(
        check.status,
        acton_reactive::ipc::client::schema_check::Compatibility::Incompatible,
        "{check:?}"
    );
    // Not asked for: not sent (the document can be large).
    assert!(client.discover().await.unwrap().schema.is_none());
    server.stop().await;
}

#[tokio::test]
async fn exposing_and_hiding_take_effect_for_the_next_request() {
    let server = default_server("expose").await;
    let client = client(&server, Format::Json).await;
    // The connection has resolved `calculator` once (and may keep it)...
    let sum: AddResponse = client
        .request("calculator", "AddRequest", &AddRequest { a: 2, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 4);
    // ...and hiding it still takes effect for its next request.
    let calc = server.runtime.ipc_hide("calculator").expect("was exposed");
    let error = client
        .request::<_, AddResponse>("calculator", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::ActorNotFound), "{error}");
    server.runtime.ipc_expose("calc-v2", calc);
    let sum: AddResponse = client
        .request("calc-v2", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 2);
    // Registering the name again, to another type, takes effect at once too:
    // `{a, b}` is no `LogEvent`.
    server
        .runtime
        .ipc_registry()
        .register::<LogEvent>("AddRequest");
    let error = client
        .request::<_, AddResponse>("calc-v2", "AddRequest", &AddRequest { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::SerializationError), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn every_request_error_code_reaches_the_client() {
    let server = start_server("errors", IpcConfig::default(), IpcOptions::default()).await;
    let client = client(&server, Format::Json).await;
    let add = AddRequest { a: 1, b: 2 };

    let unknown_target = client
        .request::<_, AddResponse>("nobody", "AddRequest", &add)
        .await
        .unwrap_err();
    assert_eq!(code(&unknown_target), Some(ErrorCode::ActorNotFound));
    let unknown_type = client
        .request::<_, AddResponse>("calculator", "Nope", &add)
        .await
        .unwrap_err();
    assert_eq!(code(&unknown_type), Some(ErrorCode::UnknownMessageType));
    let wrong_shape = client
        .request::<_, AddResponse>("calculator", "AddRequest", &json!({"a": "one"}))
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_shape), Some(ErrorCode::SerializationError));
    let no_reply = client
        .request::<_, AddResponse>("calculator", "Silent", &Silent)
        .await
        .unwrap_err();
    assert_eq!(code(&no_reply), Some(ErrorCode::IoError));
    let unencodable = client
        .request::<_, AddResponse>("calculator", "AskUnregistered", &json!(null))
        .await
        .unwrap_err();
    assert_eq!(code(&unencodable), Some(ErrorCode::SerializationError));
    // A handler that exists on no actor for this type.
    let unhandled = client
        .request::<_, AddResponse>("calculator", "AddResponse", &AddResponse { sum: 1 })
        .await
        .unwrap_err();
    assert_eq!(code(&unhandled), Some(ErrorCode::UnknownMessageType));

    let impatient = IpcClient::connect_with(
        &server.path,
        ClientOptions {
            timeout: Duration::from_millis(100),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let timeout = impatient
        .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 1000 })
        .await
        .unwrap_err();
    assert_eq!(code(&timeout), Some(ErrorCode::Timeout), "{timeout}");
    // A stream has no deadline unless it is given one.
    let mut stream = impatient
        .with_timeout(Some(Duration::from_millis(100)))
        .stream::<_, Number>(
            "calculator",
            "CountRequest",
            &json!({"up_to": 100, "delay_ms": 30}),
        )
        .await
        .unwrap();
    let mut items = 0;
    let failure = loop {
        match stream.next().await {
            Some(Ok(_)) => items += 1,
            Some(Err(error)) => break error,
            None => panic!("the stream ended without its timeout"),
        }
    };
    assert_eq!(code(&failure), Some(ErrorCode::Timeout), "{failure}");
    assert!(items > 0 && items < 100);

    // Stream requests are answered with a failed final STREAM frame.
    let mut stream = client
        .stream::<_, Number>("nobody", "CountRequest", &json!({"up_to": 1}))
        .await
        .unwrap();
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::StreamError));
    assert!(stream.next().await.is_none());
    server.stop().await;
}

/// An actor that takes one message at a time, with room for one more.
async fn narrow_actor(server: &Server) {
    let mut narrow = server.runtime.new_actor_with_config::<()>(
        acton_reactive::actor::ActorConfig::new("narrow").mailbox_capacity(1),
    );
    narrow.mutate_on::<Sleep>(|_actor, ctx| {
        let ms = ctx.message().ms;
        Reply::pending(async move { tokio::time::sleep(Duration::from_millis(ms)).await })
    });
    let narrow = narrow.start().await;
    server.runtime.ipc_expose("narrow", narrow);
}

#[tokio::test]
async fn a_full_mailbox_makes_requests_wait_for_room_not_fail() {
    let server = default_server("wait").await;
    narrow_actor(&server).await;
    let first = client(&server, Format::Json).await;
    // One handled, one queued, the rest wait in turn for room (default: up to 5 s).
    let started = std::time::Instant::now();
    let results = futures_util::future::join_all(
        (0..5).map(|_| first.send("narrow", "Sleep", &Sleep { ms: 100 })),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The last one went in once the third had started: after at least 3 × 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));

    // While one connection waits for the mailbox, every other is served.
    let waiting = client(&server, Format::Json).await;
    let jam = tokio::spawn(async move {
        futures_util::future::join_all(
            (0..4).map(|_| waiting.send("narrow", "Sleep", &Sleep { ms: 200 })),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let other = client(&server, Format::Json).await;
    let sum: AddResponse = other
        .request("calculator", "AddRequest", &AddRequest { a: 2, b: 3 })
        .await
        .unwrap();
    assert_eq!(sum, AddResponse { sum: 5 });
    assert!(jam.await.unwrap().iter().all(Result::is_ok));
    server.stop().await;
}

#[tokio::test]
async fn a_mailbox_that_stays_full_answers_target_busy() {
    let options = IpcOptions::default().mailbox_wait(Duration::from_millis(100));
    let server = start_server("busy", IpcConfig::default(), options).await;
    narrow_actor(&server).await;
    let first = client(&server, Format::Json).await;
    let results = futures_util::future::join_all(
        (0..5).map(|_| first.send("narrow", "Sleep", &Sleep { ms: 300 })),
    )
    .await;
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(e) if code(e) == Some(ErrorCode::TargetBusy)))
        .count();
    assert!(busy >= 1, "{results:?}");
    assert!(results.iter().any(Result::is_ok));
    // A stream request that finds the mailbox full is refused with a failed
    // final STREAM frame. First the accepted sleeps finish, then two more fill
    // the actor and its mailbox.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let jam = client(&server, Format::Json).await;
    let jammed = tokio::spawn(async move {
        futures_util::future::join_all(
            (0..2).map(|_| jam.send("narrow", "Sleep", &Sleep { ms: 300 })),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let streamer = client(&server, Format::Json).await;
    let mut stream = streamer
        .stream::<_, Number>("narrow", "Sleep", &Sleep { ms: 1 })
        .await
        .unwrap();
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(code(&error), Some(ErrorCode::TargetBusy), "{error}");
    assert!(stream.next().await.is_none());
    assert!(jammed.await.unwrap().iter().all(Result::is_ok));
    server.stop().await;
}

#[tokio::test]
async fn a_burst_past_the_rate_limit_is_refused_with_the_retry_time() {
    let config = IpcConfig {
        rate_limit: Some(RateLimitConfig {
            requests_per_second: 5,
            burst_size: 3,
        }),
        ..IpcConfig::default()
    };
    let server = start_server("rate", config, IpcOptions::default()).await;
    let mut raw = Raw::connect(&server.path).await;
    for i in 0..6 {
        raw.send_json(
            MessageKind::Request,
            envelope(
                &format!("r{i}"),
                "calculator",
                "AddRequest",
                json!({"a": 1, "b": 1}),
                true,
                false,
            ),
        )
        .await;
    }
    let mut refused = 0;
    for _ in 0..6 {
        let (kind, answer) = raw.next_json().await;
        if kind == MessageKind::Error {
            assert_eq!(answer["error_code"], json!("RATE_LIMITED"));
            assert!(
                answer["error"].as_str().unwrap().contains("retry after"),
                "{answer}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 3);
    assert_eq!(server.listener.stats().rate_limited, 3);
    // Another connection has its own bucket.
    still_serving(&server.path).await;
    server.stop().await;
}

#[tokio::test]
async fn a_connection_flood_past_the_limit_is_refused_with_the_limit() {
    let config = IpcConfig {
        max_connections: 3,
        ..IpcConfig::default()
    };
    let server = start_server("flood", config, IpcOptions::default()).await;
    let mut kept = Vec::new();
    for _ in 0..3 {
        let client = client(&server, Format::Json).await;
        let _: HealthStatus = client
            .request("calculator", "HealthCheck", &HealthCheck)
            .await
            .unwrap();
        kept.push(client);
    }
    for _ in 0..5 {
        let mut raw = Raw::connect(&server.path).await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Error);
        assert_eq!(
            answer["correlation_id"],
            json!("__acton_connection_rejected__")
        );
        assert_eq!(answer["error_code"], json!("CONNECTION_LIMIT_REACHED"));
        assert_eq!(answer["payload"], json!({"limit": 3}));
        raw.expect_closed().await;
    }
    // The client learns it when it connects (its discovery gets the refusal).
    let error = IpcClient::connect(&server.path).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Rejected { limit: Some(3), .. }),
        "{error}"
    );
    assert_eq!(server.listener.stats().connections_rejected, 6);

    // Room again once a client leaves.
    kept.pop().unwrap().close();
    tokio::time::sleep(Duration::from_millis(100)).await;
    still_serving(&server.path).await;
    server.stop().await;
}

#[tokio::test]
async fn peers_not_on_the_allow_list_are_denied() {
    let server = start_server(
        "deny",
        IpcConfig::default(),
        IpcOptions::default().allow_peer_uids([u32::MAX - 1]),
    )
    .await;
    let mut raw = Raw::connect(&server.path).await;
    let (kind, answer) = raw.next_json().await;
    assert_eq!(kind, MessageKind::Error);
    assert_eq!(answer["error_code"], json!("ACCESS_DENIED"));
    raw.expect_closed().await;
    server.stop().await;

    let server = start_server(
        "allow",
        IpcConfig::default(),
        IpcOptions::default().allow_peer_uids([own_uid()]),
    )
    .await;
    still_serving(&server.path).await;
    server.stop().await;
}

/// This process's uid, read from a file it just created.
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = socket_path("uid-probe").with_extension("probe");
    std::fs::write(&probe, b"").unwrap();
    std::fs::metadata(&probe).unwrap().uid()
}

#[tokio::test]
async fn bad_frames_get_an_error_frame_and_the_server_keeps_serving() {
    let server = default_server("bad").await;
    let path = server.path.clone();

    // Each case: bytes to send, the error code expected before the close (if any).
    let closing: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "oversized length",
            vec![0x7f, 0xff, 0xff, 0xff, 2, 1, 1],
            Some("PROTOCOL_ERROR"),
        ),
        (
            "unknown version",
            vec![0, 0, 0, 2, 9, 1, 1, b'{', b'}'],
            Some("UNSUPPORTED_PROTOCOL_VERSION"),
        ),
        (
            "unknown kind",
            vec![0, 0, 0, 2, 2, 0x42, 1, b'{', b'}'],
            Some("PROTOCOL_ERROR"),
        ),
        (
            "unknown format",
            vec![0, 0, 0, 2, 2, 1, 7, b'{', b'}'],
            Some("PROTOCOL_ERROR"),
        ),
    ];
    for (case, bytes, expected) in closing {
        let mut raw = Raw::connect(&path).await;
        raw.write(&bytes).await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Error, "{case}");
        assert_eq!(answer["error_code"].as_str(), expected, "{case}");
        assert_eq!(answer["correlation_id"], json!("unknown"), "{case}");
        raw.expect_closed().await;
        still_serving(&path).await;
    }

    // Truncated frames: the client gives up half-way.
    for bytes in [vec![0u8, 0, 0], vec![0, 0, 0, 50, 2, 1, 1, b'{', b'"']] {
        let mut raw = Raw::connect(&path).await;
        raw.write(&bytes).await;
        drop(raw);
        still_serving(&path).await;
    }

    // Undecodable envelopes: an error frame, and the connection stays open.
    let mut raw = Raw::connect(&path).await;
    let garbage: [(Format, &[u8]); 3] = [
        (Format::Json, b"{not json"),
        (Format::MessagePack, &[0xc1, 0xff, 0x00]),
        (Format::Json, br#"{"correlation_id": "c9", "target": 3}"#),
    ];
    for (i, (format, payload)) in garbage.into_iter().enumerate() {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&[2, 1, format.as_byte()]);
        frame.extend_from_slice(payload);
        raw.write(&frame).await;
        let (kind, answer) = raw.next_json().await;
        assert_eq!(kind, MessageKind::Error);
        assert_eq!(answer["error_code"], json!("SERIALIZATION_ERROR"));
        // Where the envelope has a correlation id, the error carries it.
        let expected_id = if i == 2 { "c9" } else { "unknown" };
        assert_eq!(answer["correlation_id"], json!(expected_id));
    }
    // Server-to-client kinds are ignored; the connection still answers.
    for kind in [0x02u8, 0x03, 0x05, 0x09] {
        raw.write(&[0, 0, 0, 2, 2, kind, 1, b'{', b'}']).await;
    }
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
    let (kind, answer) = raw.next_json().await;
    assert_eq!(
        (kind, answer["correlation_id"].clone()),
        (MessageKind::Response, json!("ok"))
    );
    assert!(server.listener.stats().protocol_errors >= 4);
    server.stop().await;
}

#[tokio::test]
async fn clients_leaving_mid_request_or_mid_stream_harm_nobody() {
    let server = default_server("leave").await;
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        envelope(
            "s",
            "calculator",
            "CountRequest",
            json!({"up_to": 1000000, "delay_ms": 1}),
            false,
            true,
        ),
    )
    .await;
    raw.next().await;
    drop(raw);
    let mut raw = Raw::connect(&server.path).await;
    raw.send_json(
        MessageKind::Request,
        envelope("r", "calculator", "Sleep", json!({"ms": 200}), true, false),
    )
    .await;
    drop(raw);
    still_serving(&server.path).await;
    // The abandoned stream stops: its handler sees that nobody listens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut runtime = server.runtime.clone();
    server.listener.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), runtime.shutdown_all())
        .await
        .expect("no handler kept streaming to nobody")
        .unwrap();
}

#[tokio::test]
async fn a_slow_subscriber_loses_pushes_not_memory() {
    let options = IpcOptions::default().max_outbound_bytes(64 * 1024);
    let server = start_server("slow", IpcConfig::default(), options).await;
    let mut sleepy = Raw::connect(&server.path).await;
    sleepy
        .send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": "s", "message_types": ["prices.PriceUpdate"]}),
        )
        .await;
    sleepy.next().await;
    // Never read again: the socket buffers fill, then the queue, then pushes drop.
    let big = "x".repeat(64 * 1024);
    for _ in 0..400 {
        server
            .runtime
            .broker()
            .broadcast(PriceUpdate {
                symbol: big.clone(),
                price: 1.0,
            })
            .await;
    }
    let stats = server.listener.stats();
    assert!(stats.pushes_dropped > 0, "{stats:?}");
    assert!(stats.pushes_sent > 0, "{stats:?}");
    still_serving(&server.path).await;
    drop(sleepy);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_close_but_subscribers_and_streams_stay() {
    let config = IpcConfig {
        connection_timeout: Duration::from_millis(200),
        ..IpcConfig::default()
    };
    let server = start_server("idle", config, IpcOptions::default()).await;
    let mut idle = Raw::connect(&server.path).await;
    let mut subscriber = Raw::connect(&server.path).await;
    subscriber
        .send_json(
            MessageKind::Subscribe,
            json!({"correlation_id": "s", "message_types": ["prices.PriceUpdate"]}),
        )
        .await;
    subscriber.next().await;
    let mut streamer = Raw::connect(&server.path).await;
    streamer
        .send_json(
            MessageKind::Request,
            envelope(
                "st",
                "calculator",
                "CountRequest",
                json!({"up_to": 3, "delay_ms": 250}),
                false,
                true,
            ),
        )
        .await;

    idle.expect_closed().await;
    for sequence in 0..3 {
        let (_, frame) = streamer.next_json().await;
        assert_eq!(frame["sequence"], json!(sequence));
    }
    let (_, last) = streamer.next_json().await;
    assert_eq!(last["is_final"], json!(true));

    tokio::time::sleep(Duration::from_millis(400)).await;
    server
        .runtime
        .broker()
        .broadcast(PriceUpdate {
            symbol: "S".into(),
            price: 2.0,
        })
        .await;
    assert_eq!(subscriber.next().await.kind, MessageKind::Push);
    server.stop().await;
}

#[tokio::test]
async fn the_socket_file_is_private_never_stolen_and_removed_at_shutdown() {
    let server = default_server("socket").await;
    let mode = std::fs::metadata(&server.path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let second = server
        .runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: server.path.clone(),
            ..IpcConfig::default()
        })
        .await;
    assert!(
        matches!(second, Err(IpcError::AlreadyServing { .. })),
        "{second:?}"
    );
    still_serving(&server.path).await;

    let path = server.path.clone();
    server.stop().await;
    assert!(!path.exists(), "the socket file outlived the listener");

    // A stale socket (nobody listening) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let runtime = acton_reactive::prelude::ActonApp::launch();
    let listener = runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: path.clone(),
            ..IpcConfig::default()
        })
        .await
        .expect("a stale socket is replaced");
    listener.shutdown().await.unwrap();

    // Anything that is not a socket is left alone.
    std::fs::write(&path, b"precious").unwrap();
    let refused = runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: path.clone(),
            ..IpcConfig::default()
        })
        .await;
    assert!(
        matches!(refused, Err(IpcError::NotASocket { .. })),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_ends_streams() {
    let options = IpcOptions::default().drain_timeout(Duration::from_millis(300));
    let server = start_server("drain", IpcConfig::default(), options).await;
    let client = client(&server, Format::Json).await;
    let quick = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 100 })
                .await
        })
    };
    let stuck = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 5000 })
                .await
        })
    };
    let mut stream = client
        .stream::<_, Number>(
            "calculator",
            "CountRequest",
            &json!({"up_to": 1000, "delay_ms": 50}),
        )
        .await
        .unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;

    let report = server.listener.shutdown_gracefully().await;
    assert!(!report.drained_gracefully);
    assert_eq!(
        quick.await.unwrap().unwrap().value,
        100,
        "an in-flight request finished during the drain"
    );
    let stuck = stuck.await.unwrap().unwrap_err();
    assert_eq!(code(&stuck), Some(ErrorCode::ShuttingDown), "{stuck}");
    let ended = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            other => break other,
        }
    };
    let Some(Err(error)) = ended else {
        panic!("the stream ended without a final error: {ended:?}")
    };
    assert_eq!(code(&error), Some(ErrorCode::ShuttingDown));
    assert!(!server.path.exists());
}

#[tokio::test]
async fn traffic_counters_are_exact_while_connections_live_and_after_they_close() {
    let server = default_server("traffic").await;
    let frame = |id: usize| {
        let body = envelope(
            &format!("t{id}"),
            "calculator",
            "AddRequest",
            json!({"a": id, "b": 1}),
            true,
            false,
        );
        Frame::new(
            MessageKind::Request,
            Format::Json,
            Format::Json.encode(&body).unwrap(),
        )
        .to_bytes()
        .unwrap()
    };
    let (mut first, mut second) = (
        Raw::connect(&server.path).await,
        Raw::connect(&server.path).await,
    );
    let (mut sent, mut received) = (0, 0);
    for id in 0..5 {
        let (raw, bytes) = if id % 2 == 0 {
            (&mut first, frame(id))
        } else {
            (&mut second, frame(id))
        };
        raw.write(&bytes).await;
        sent += bytes.len() as u64;
        let answer = raw.next().await;
        assert_eq!(answer.kind, MessageKind::Response);
        received += 7 + answer.payload.len() as u64;
    }
    let traffic = || {
        let stats = server.listener.stats();
        (stats.requests, stats.bytes_received, stats.bytes_sent)
    };
    // Both connections open: their own counters are summed in.
    assert_eq!(traffic(), (5, sent, received));
    // Closed: their counts move to the listener's totals, none lost or doubled.
    drop(first);
    wait_until(|| server.listener.stats().connections_active == 1).await;
    assert_eq!(traffic(), (5, sent, received));
    drop(second);
    wait_until(|| server.listener.stats().connections_active == 0).await;
    assert_eq!(traffic(), (5, sent, received));
    server.stop().await;
}
