//! The NATS bridge against a real `nats-server` (started on a free port for each
//! test), driven by a plain async-nats client so that the subjects and headers of
//! docs/nats.md are what is checked: every call kind in both formats, errors and
//! their details, pushes, deadlines, limits, exposures that change, service
//! discovery, a reader that falls behind, and shutdown.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use acton_reactive::ipc::{Format, RateLimitConfig};
use acton_reactive::message::Failure;
use acton_reactive::nats::{layout, NatsBridge, NatsConfig};
use acton_reactive::prelude::*;
use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::nats_server::NatsServer;
use support::*;

#[acton_message(ipc)]
pub struct Lookup {
    pub key: String,
}

#[acton_message(ipc)]
#[derive(PartialEq)]
pub struct NotFound {
    pub key: String,
}

/// The test server's actors, its NATS server and its bridge.
struct Setup {
    server: Server,
    nats: NatsServer,
    bridge: NatsBridge,
    client: async_nats::Client,
}

async fn setup_with(name: &str, configure: impl FnOnce(NatsConfig) -> NatsConfig) -> Setup {
    let server = default_server(name).await;
    let registry = server.runtime.ipc_registry();
    registry.register::<Lookup>("Lookup");
    registry.register::<NotFound>("NotFound");
    let mut vault = server.runtime.new_actor_with_name::<()>("vault");
    vault.act_on::<Lookup>(|_actor, ctx| {
        let key = ctx.message().key.clone();
        let reply = ctx.reply_envelope();
        Reply::pending(async move {
            let message = format!("nothing is stored under {key}");
            reply
                .send(Failure::with_details("NotFound", message, NotFound { key }))
                .await;
        })
    });
    server.runtime.ipc_expose("vault", vault.start().await);
    let nats = NatsServer::start();
    let bridge = server
        .runtime
        .start_nats_bridge(configure(NatsConfig::new(&nats.url).prefix("t")))
        .await
        .expect("the bridge starts");
    let client = async_nats::connect(&nats.url).await.unwrap();
    Setup {
        server,
        nats,
        bridge,
        client,
    }
}

async fn setup(name: &str) -> Setup {
    setup_with(name, |config| config).await
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, *value);
    }
    headers
}

fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(name))
        .map(|value| value.as_str())
}

fn encode(format: Format, value: &Value) -> Bytes {
    Bytes::from(format.encode(value).unwrap())
}

fn decode(format: Format, payload: &[u8]) -> Value {
    format.decode(payload).unwrap()
}

async fn call(
    client: &async_nats::Client,
    subject: &str,
    extra: &[(&str, &str)],
    body: Bytes,
) -> Message {
    tokio::time::timeout(
        PATIENCE,
        client.request_with_headers(subject.to_owned(), headers(extra), body),
    )
    .await
    .expect("an answer in time")
    .expect("an answer")
}

/// Asks `client` for a count stream of `request`; its replies arrive on the
/// returned subscription, whose subject (the reply inbox) is returned too.
async fn count_stream(
    client: &async_nats::Client,
    request: Value,
) -> (async_nats::Subscriber, String) {
    count_stream_with(client, request, &[]).await
}

/// [`count_stream`] with more headers.
async fn count_stream_with(
    client: &async_nats::Client,
    request: Value,
    extra: &[(&str, &str)],
) -> (async_nats::Subscriber, String) {
    let inbox = client.new_inbox();
    let replies = client.subscribe(inbox.clone()).await.unwrap();
    let mut pairs = vec![(layout::CALL, "stream")];
    pairs.extend_from_slice(extra);
    client
        .publish_with_reply_and_headers(
            "t.calculator.CountRequest",
            inbox.clone(),
            headers(&pairs),
            encode(Format::Json, &request),
        )
        .await
        .unwrap();
    (replies, inbox)
}

/// Returns once the NATS server has taken everything `client` sent before
/// (`flush` only writes it out): a message to itself has come back.
async fn settle(client: &async_nats::Client) {
    let probe = client.new_inbox();
    let mut echo = client.subscribe(probe.clone()).await.unwrap();
    client.publish(probe, Bytes::new()).await.unwrap();
    tokio::time::timeout(PATIENCE, echo.next())
        .await
        .unwrap()
        .unwrap();
}

/// The error code and message of a failure, if it is one.
fn failure(message: &Message) -> Option<(String, String)> {
    Some((
        header(message, layout::ERROR_CODE)?.to_owned(),
        header(message, layout::ERROR)?.to_owned(),
    ))
}

#[tokio::test]
async fn calls_are_answered_in_both_formats() {
    let setup = setup("nats-call").await;
    for (format, name) in [(Format::Json, "json"), (Format::MessagePack, "msgpack")] {
        let answer = call(
            &setup.client,
            "t.calculator.AddRequest",
            &[(layout::FORMAT, name)],
            encode(format, &json!({"a": 20, "b": 22})),
        )
        .await;
        assert_eq!(failure(&answer), None);
        assert_eq!(header(&answer, layout::FORMAT), Some(name));
        assert_eq!(decode(format, &answer.payload), json!({"sum": 42}));
    }
    // No headers at all: JSON, one reply (what `nats req` sends).
    let answer = setup
        .client
        .request("t.calculator.HealthCheck", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(
        decode(Format::Json, &answer.payload),
        json!({"status": "ok"})
    );
    setup.server.stop().await;
}

#[tokio::test]
async fn streams_carry_sequences_and_a_final_message() {
    let setup = setup("nats-stream").await;
    let (mut replies, _) = count_stream(&setup.client, json!({"up_to": 3})).await;
    let mut values = Vec::new();
    loop {
        let message = tokio::time::timeout(PATIENCE, replies.next())
            .await
            .unwrap()
            .unwrap();
        let sequence: u32 = header(&message, layout::SEQUENCE).unwrap().parse().unwrap();
        if header(&message, layout::FINAL) == Some("true") {
            assert_eq!(failure(&message), None);
            assert_eq!(sequence, 3, "the final message counts the items");
            assert!(message.payload.is_empty());
            break;
        }
        assert_eq!(sequence as usize, values.len());
        values.push(decode(Format::Json, &message.payload)["value"].clone());
    }
    assert_eq!(values, vec![json!(0), json!(1), json!(2)]);
    setup.server.stop().await;
}

/// A request that must be refused: subject, headers, body, error code.
type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8], &'a str);

#[tokio::test]
async fn errors_travel_as_headers_with_their_details() {
    let setup = setup("nats-errors").await;
    let client = &setup.client;
    let declared = call(
        client,
        "t.vault.Lookup",
        &[],
        encode(Format::Json, &json!({"key": "k1"})),
    )
    .await;
    assert_eq!(
        failure(&declared),
        Some((
            "NotFound".to_owned(),
            "nothing is stored under k1".to_owned()
        ))
    );
    assert_eq!(
        decode(Format::Json, &declared.payload),
        json!({"key": "k1"})
    );

    let cases: [Refusal<'_>; 6] = [
        ("t.calculator.Nope", &[], b"{}", "UNKNOWN_MESSAGE_TYPE"),
        (
            "t.calculator.AddRequest",
            &[],
            b"{\"a\": \"x\"}",
            "SERIALIZATION_ERROR",
        ),
        (
            "t.calculator.AddRequest",
            &[(layout::FORMAT, "xml")],
            b"{}",
            "SERIALIZATION_ERROR",
        ),
        (
            "t.calculator.AddRequest",
            &[(layout::CALL, "later")],
            b"{}",
            "PROTOCOL_ERROR",
        ),
        ("t.calculator.Silent", &[], b"null", "IO_ERROR"),
        (
            "t.calculator.AskUnregistered",
            &[],
            b"null",
            "SERIALIZATION_ERROR",
        ),
    ];
    for (subject, extra, body, code) in cases {
        let answer = call(client, subject, extra, Bytes::copy_from_slice(body)).await;
        let (got, message) = failure(&answer).unwrap_or_else(|| panic!("{subject}: no error"));
        assert_eq!(got, code, "{subject}: {message}");
        assert!(!message.is_empty());
    }
    // A service nobody exposes has no subscriber: NATS itself says so.
    let nobody = client.request("t.nobody.AddRequest", Bytes::new()).await;
    assert!(nobody.is_err(), "no responders");
    // Every refusal left the bridge serving.
    let answer = call(
        client,
        "t.calculator.AddRequest",
        &[(layout::FORMAT, "json")],
        encode(Format::Json, &json!({"a": 1, "b": 1})),
    )
    .await;
    assert_eq!(
        decode(Format::Json, &answer.payload),
        json!({"sum": 2}),
        "still serving"
    );
    setup.server.stop().await;
}

#[tokio::test]
async fn sends_are_acknowledged_or_silent() {
    let setup = setup("nats-send").await;
    let ack = call(
        &setup.client,
        "t.calculator.LogEvent",
        &[(layout::CALL, "send")],
        encode(Format::Json, &json!({"line": "acked"})),
    )
    .await;
    assert_eq!(failure(&ack), None);
    assert!(ack.payload.is_empty());
    setup
        .client
        .publish(
            "t.calculator.LogEvent",
            encode(Format::Json, &json!({"line": "silent"})),
        )
        .await
        .unwrap();
    setup.client.flush().await.unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while setup.server.log.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "both lines arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*setup.server.log.lock().unwrap(), vec!["acked", "silent"]);
    setup.server.stop().await;
}

#[tokio::test]
async fn broadcasts_are_published_on_push_subjects() {
    let setup = setup("nats-push").await;
    let mut pushes = setup.client.subscribe("t.push.>").await.unwrap();
    settle(&setup.client).await;
    setup
        .server
        .runtime
        .broker()
        .broadcast(PriceUpdate {
            symbol: "ACME".into(),
            price: 12.5,
        })
        .await;
    let push = tokio::time::timeout(PATIENCE, pushes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(push.subject.as_str(), "t.push.prices.PriceUpdate");
    assert_eq!(header(&push, layout::FORMAT), Some("json"));
    assert!(header(&push, layout::NOTIFICATION_ID).is_some());
    assert!(header(&push, layout::TIMESTAMP_MS)
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(
        decode(Format::Json, &push.payload),
        json!({"symbol": "ACME", "price": 12.5})
    );
    assert_eq!(setup.bridge.stats().pushes_published, 1);
    setup.server.stop().await;
}

#[tokio::test]
async fn deadlines_fail_calls_and_streams_with_timeout() {
    let setup = setup_with("nats-deadline", |config| {
        config.max_request_timeout(Duration::from_millis(300))
    })
    .await;
    let started = std::time::Instant::now();
    let answer = call(
        &setup.client,
        "t.calculator.Sleep",
        &[(layout::TIMEOUT_MS, "100")],
        encode(Format::Json, &json!({"ms": 5000})),
    )
    .await;
    assert_eq!(failure(&answer).unwrap().0, "TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Asking for an hour is cut to the server's longest (300 ms).
    let started = std::time::Instant::now();
    let answer = call(
        &setup.client,
        "t.calculator.Sleep",
        &[(layout::TIMEOUT_MS, "3600000")],
        encode(Format::Json, &json!({"ms": 5000})),
    )
    .await;
    assert_eq!(failure(&answer).unwrap().0, "TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(setup.bridge.stats().timeouts, 2);
    setup.server.stop().await;
}

#[tokio::test]
async fn limits_refuse_at_once_and_the_bridge_keeps_serving() {
    let setup = setup_with("nats-limits", |config| {
        config
            .max_in_flight(2)
            .max_in_flight_per_caller(2)
            .max_message_size(1024)
            .rate_limit(RateLimitConfig {
                requests_per_second: 1,
                burst_size: 5,
            })
    })
    .await;
    let client = &setup.client;
    let slow = encode(Format::Json, &json!({"ms": 800}));
    let sleep = |client: async_nats::Client, body: Bytes| {
        tokio::spawn(async move { client.request("t.calculator.Sleep", body).await })
    };
    let first = sleep(client.clone(), slow.clone());
    let second = sleep(client.clone(), slow.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = call(client, "t.calculator.Sleep", &[], slow).await;
    assert_eq!(failure(&third).unwrap().0, "LIMIT_EXCEEDED");
    assert!(first.await.unwrap().is_ok() && second.await.unwrap().is_ok());
    let big = Bytes::from(vec![b' '; 2048]);
    let answer = call(client, "t.calculator.HealthCheck", &[], big).await;
    assert_eq!(failure(&answer).unwrap().0, "LIMIT_EXCEEDED");
    // A header of 100 KiB is refused, and what comes back is cut short.
    let huge = "x".repeat(100 * 1024);
    let answer = call(
        client,
        "t.calculator.HealthCheck",
        &[(layout::CALL, &huge)],
        Bytes::new(),
    )
    .await;
    let (code, message) = failure(&answer).unwrap();
    assert_eq!(code, "PROTOCOL_ERROR");
    assert!(message.len() < 2048, "{} bytes", message.len());
    // Five requests so far: the burst is spent.
    let answer = call(client, "t.calculator.HealthCheck", &[], Bytes::new()).await;
    assert_eq!(failure(&answer).unwrap().0, "RATE_LIMITED");
    let stats = setup.bridge.stats();
    assert_eq!(stats.refused_in_flight, 1);
    assert!(stats.rate_limited >= 1);
    setup.server.stop().await;
}

#[tokio::test]
async fn exposures_are_followed_while_the_bridge_runs() {
    let setup = setup("nats-expose").await;
    let handle = setup.server.runtime.ipc_hide("calculator").unwrap();
    let gone = async {
        loop {
            // A request NATS routed to the subscription just as it went away may
            // still be lost (and would wait out the client's 10 s): ask again.
            let asked = tokio::time::timeout(
                Duration::from_secs(2),
                setup
                    .client
                    .request("t.calculator.HealthCheck", Bytes::new()),
            )
            .await;
            if matches!(asked, Ok(Err(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, gone)
        .await
        .expect("hidden: no responders");
    setup.server.runtime.ipc_expose("adder", handle);
    let back = async {
        loop {
            if let Ok(answer) = setup
                .client
                .request(
                    "t.adder.AddRequest",
                    Bytes::from_static(br#"{"a": 1, "b": 2}"#),
                )
                .await
            {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let answer = tokio::time::timeout(PATIENCE, back)
        .await
        .expect("exposed again");
    assert_eq!(decode(Format::Json, &answer.payload), json!({"sum": 3}));
    setup.server.stop().await;
}

#[tokio::test]
async fn nats_service_discovery_lists_services_and_endpoints() {
    let setup = setup("nats-micro").await;
    let client = &setup.client;
    // Make one request so that the stats have something to say.
    call(
        client,
        "t.calculator.AddRequest",
        &[],
        Bytes::from_static(br#"{"a": 1, "b": 1}"#),
    )
    .await;
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply("$SRV.PING", inbox, Bytes::new())
        .await
        .unwrap();
    let mut names = Vec::new();
    for _ in 0..2 {
        let ping = tokio::time::timeout(PATIENCE, answers.next())
            .await
            .unwrap()
            .unwrap();
        let ping = decode(Format::Json, &ping.payload);
        assert_eq!(ping["type"], json!("io.nats.micro.v1.ping_response"));
        assert_eq!(ping["id"], json!(setup.bridge.id()));
        names.push(ping["name"].as_str().unwrap().to_owned());
    }
    names.sort();
    assert_eq!(names, ["calculator", "vault"]);

    let info = call(client, "$SRV.INFO.calculator", &[], Bytes::new()).await;
    let info = decode(Format::Json, &info.payload);
    assert_eq!(info["type"], json!("io.nats.micro.v1.info_response"));
    let endpoints = info["endpoints"].as_array().unwrap();
    let add = endpoints
        .iter()
        .find(|endpoint| endpoint["name"] == json!("AddRequest"))
        .expect("without a schema, every registered type is an endpoint");
    assert_eq!(add["subject"], json!("t.calculator.AddRequest"));
    assert_eq!(add["queue_group"], json!("acton"));

    let id = setup.bridge.id().to_owned();
    let stats = call(
        client,
        &format!("$SRV.STATS.calculator.{id}"),
        &[],
        Bytes::new(),
    )
    .await;
    let stats = decode(Format::Json, &stats.payload);
    assert_eq!(stats["type"], json!("io.nats.micro.v1.stats_response"));
    assert!(stats["started"].as_str().unwrap().ends_with('Z'));
    let add = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|endpoint| endpoint["name"] == json!("AddRequest"))
        .unwrap();
    assert_eq!(add["num_requests"], json!(1));
    assert_eq!(add["num_errors"], json!(0));
    // Another id: nobody answers.
    let other = client
        .request("$SRV.PING.calculator.someone-else", Bytes::new())
        .await;
    assert!(other.is_err());
    setup.server.stop().await;
}

// Several threads: a handler that spun while waiting for room would starve a
// single-threaded runtime (and hang the test instead of failing it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_loses_items_visibly_and_hurts_nobody() {
    // A small outgoing budget: the stream's handler must wait for room (and
    // nothing may spin while it does).
    let setup = setup_with("nats-slow", |config| config.outgoing_budget(4096)).await;
    // A caller whose client buffers at most 16 messages and does not read.
    let slow = async_nats::ConnectOptions::new()
        .subscription_capacity(16)
        .connect(&setup.nats.url)
        .await
        .unwrap();
    let inbox = slow.new_inbox();
    let mut replies = slow.subscribe(inbox.clone()).await.unwrap();
    slow.publish_with_reply_and_headers(
        "t.calculator.CountRequest",
        inbox,
        headers(&[(layout::CALL, "stream")]),
        encode(Format::Json, &json!({"up_to": 5000})),
    )
    .await
    .unwrap();
    slow.flush().await.unwrap();
    // Meanwhile everyone else is served at once.
    for a in 0..50 {
        let answer = call(
            &setup.client,
            "t.calculator.AddRequest",
            &[],
            encode(Format::Json, &json!({"a": a, "b": 1})),
        )
        .await;
        assert_eq!(decode(Format::Json, &answer.payload), json!({"sum": a + 1}));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The slow reader now reads what it kept: its sequences have a gap, so it
    // knows items were lost (the generated clients fail the stream then).
    let mut expected = 0u32;
    let mut gap = false;
    let mut finished = false;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), replies.next()).await
    {
        let sequence: u32 = header(&message, layout::SEQUENCE).unwrap().parse().unwrap();
        if sequence != expected {
            gap = true;
        }
        expected = sequence + 1;
        if header(&message, layout::FINAL).is_some() {
            finished = true;
            break;
        }
    }
    assert!(
        gap || !finished,
        "the loss is visible: a gap in the sequence, or no final message (the caller's deadline ends it)"
    );
    assert_eq!(
        setup.bridge.stats().in_flight,
        0,
        "the stream ended on the server"
    );
    setup.server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_what_is_in_flight_then_stops_taking_requests() {
    let setup = setup("nats-shutdown").await;
    let pending = tokio::spawn({
        let client = setup.client.clone();
        async move {
            client
                .request("t.calculator.Sleep", Bytes::from_static(br#"{"ms": 300}"#))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    setup.bridge.shutdown().await;
    let answer = pending.await.unwrap().expect("answered before stopping");
    assert_eq!(decode(Format::Json, &answer.payload), json!({"value": 300}));
    let after = setup
        .client
        .request("t.calculator.HealthCheck", Bytes::new())
        .await;
    assert!(after.is_err(), "no responders once stopped");
    setup.server.stop().await;
}

#[tokio::test]
async fn bad_configurations_are_refused_before_connecting() {
    let server = default_server("nats-config").await;
    for config in [
        NatsConfig::new("nats://127.0.0.1:1").prefix("a..b"),
        NatsConfig::new("nats://127.0.0.1:1").prefix("a.*"),
        NatsConfig::new("nats://127.0.0.1:1").queue_group("a.b"),
    ] {
        let error = server.runtime.start_nats_bridge(config).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("invalid NATS bridge configuration"),
            "{error}"
        );
    }
    let error = server
        .runtime
        .start_nats_bridge(NatsConfig::new("nats://127.0.0.1:1"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cannot connect"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn only_the_caller_cancels_its_stream() {
    let setup = setup("nats-cancel").await;
    let secret = "a secret only the caller knows";
    let digest = layout::cancel_digest(secret);
    let (mut replies, inbox) = count_stream_with(
        &setup.client,
        json!({"up_to": 1_000_000, "delay_ms": 1}),
        &[(layout::CANCEL_DIGEST, &digest)],
    )
    .await;
    for _ in 0..3 {
        tokio::time::timeout(PATIENCE, replies.next())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(setup.bridge.stats().in_flight, 1);
    // Cancelling what nobody serves is ignored; an observer of the request
    // subjects, who saw the reply subject and the digest, cannot cancel it.
    let cancel = |payload: String, secret: Option<&str>| {
        let client = setup.client.clone();
        let headers = match secret {
            Some(secret) => headers(&[(layout::CANCEL_SECRET, secret)]),
            None => HeaderMap::new(),
        };
        async move {
            client
                .publish_with_headers("t._cancel", headers, Bytes::from(payload))
                .await
                .unwrap();
        }
    };
    // An observer who starts a stream of its own on the caller's reply
    // subject gets nothing published there, and no hold on its cancel.
    let observer_secret = "the observer's";
    let observer_digest = layout::cancel_digest(observer_secret);
    setup
        .client
        .publish_with_reply_and_headers(
            "t.calculator.CountRequest",
            inbox.clone(),
            headers(&[
                (layout::CALL, "stream"),
                (layout::CANCEL_DIGEST, &observer_digest),
            ]),
            encode(Format::Json, &json!({"up_to": 1, "delay_ms": 0})),
        )
        .await
        .unwrap();
    wait_until(|| setup.bridge.stats().reply_subjects_refused == 1).await;
    cancel("_INBOX.nobody".to_owned(), Some(secret)).await;
    cancel(inbox.clone(), None).await;
    cancel(inbox.clone(), Some(&digest)).await;
    cancel(inbox.clone(), Some("a guess")).await;
    cancel(inbox.clone(), Some(observer_secret)).await;
    cancel(inbox.clone(), Some(&"x".repeat(100_000))).await;
    settle(&setup.client).await;
    wait_until(|| setup.bridge.stats().cancels_refused == 5).await;
    assert_eq!(setup.bridge.stats().in_flight, 1, "still streaming");
    tokio::time::timeout(PATIENCE, replies.next())
        .await
        .unwrap()
        .unwrap();
    // The caller's own cancel ends it.
    cancel(inbox.clone(), Some(secret)).await;
    wait_until(|| setup.bridge.stats().in_flight == 0).await;
    // Nothing more is published for it: no final message, no error.
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(200), replies.next()).await
    {
        assert!(
            header(&message, layout::FINAL).is_none(),
            "a cancelled stream ends silently"
        );
    }
    assert_eq!(setup.bridge.stats().errors, 0);
    // A stream whose request carried no digest cannot be cancelled at all.
    let (_replies, inbox) =
        count_stream(&setup.client, json!({"up_to": 1_000_000, "delay_ms": 1})).await;
    wait_until(|| setup.bridge.stats().in_flight == 1).await;
    cancel(inbox, Some(secret)).await;
    wait_until(|| setup.bridge.stats().cancels_refused == 6).await;
    assert_eq!(setup.bridge.stats().in_flight, 1);
    setup.server.stop().await;
}

/// The Rust client's NATS transport: the same calls as over the socket.
mod rust_client {
    use super::*;
    use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
    use acton_reactive::ipc::protocol::ErrorCode;

    #[tokio::test]
    async fn every_call_kind_through_ipc_client_over_nats() {
        let setup = setup("nats-rust-client").await;
        for format in [Format::Json, Format::MessagePack] {
            let options = ClientOptions {
                format,
                ..ClientOptions::default()
            };
            let client = IpcClient::connect_nats_with(&setup.nats.url, "t", options)
                .await
                .unwrap();
            let sum: AddResponse = client
                .request("calculator", "AddRequest", &AddRequest { a: 40, b: 2 })
                .await
                .unwrap();
            assert_eq!(sum, AddResponse { sum: 42 });
            let numbers: Vec<u32> = client
                .stream::<_, Number>(
                    "calculator",
                    "CountRequest",
                    &CountRequest {
                        up_to: 4,
                        delay_ms: 0,
                    },
                )
                .await
                .unwrap()
                .map(|item| item.unwrap().value)
                .collect()
                .await;
            assert_eq!(numbers, [0, 1, 2, 3]);
            client
                .send(
                    "calculator",
                    "LogEvent",
                    &LogEvent {
                        line: format!("{format:?}"),
                    },
                )
                .await
                .unwrap();
            let error = client
                .request::<_, Value>("vault", "Lookup", &Lookup { key: "k9".into() })
                .await
                .unwrap_err();
            let ClientError::Server { code, details, .. } = &error else {
                panic!("{error}");
            };
            assert_eq!(code, "NotFound");
            let details: NotFound = details.as_ref().unwrap().decode().unwrap();
            assert_eq!(details, NotFound { key: "k9".into() });
        }
        setup.server.stop().await;
    }

    #[tokio::test]
    async fn pushes_discovery_and_errors_through_ipc_client_over_nats() {
        let setup = setup("nats-rust-push").await;
        let client = IpcClient::connect_nats(&setup.nats.url, "t").await.unwrap();
        let mut pushes = client
            .subscribe::<PriceUpdate>(&["prices.PriceUpdate"])
            .await
            .unwrap();
        let update = PriceUpdate {
            symbol: "ACME".into(),
            price: 3.5,
        };
        setup
            .server
            .runtime
            .broker()
            .broadcast(update.clone())
            .await;
        let push = tokio::time::timeout(PATIENCE, pushes.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(push.message_type, "prices.PriceUpdate");
        assert_eq!(push.payload, update);

        let discovered = client.discover().await.unwrap();
        let actors: Vec<String> = discovered
            .actors
            .unwrap()
            .into_iter()
            .map(|actor| actor.name)
            .collect();
        assert_eq!(actors, ["calculator", "vault"]);
        assert!(
            discovered.schema.is_none(),
            "the test server serves no schema"
        );

        let elsewhere = IpcClient::connect_nats(&setup.nats.url, "elsewhere")
            .await
            .unwrap();
        let error = elsewhere
            .request::<_, Value>("calculator", "HealthCheck", &HealthCheck)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::ActorNotFound), "{error}");

        let hasty = client.with_timeout(Some(Duration::from_millis(200)));
        let error = hasty
            .request::<_, Number>("calculator", "Sleep", &Sleep { ms: 5000 })
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Timeout), "{error}");
        client.close();
        assert!(matches!(
            client
                .request::<_, Value>("calculator", "HealthCheck", &HealthCheck)
                .await,
            Err(ClientError::Closed)
        ));
        setup.server.stop().await;
    }

    #[tokio::test]
    async fn dropping_a_stream_cancels_it_on_the_server() {
        let setup = setup("nats-rust-cancel").await;
        let client = IpcClient::connect_nats(&setup.nats.url, "t").await.unwrap();
        let mut stream = client
            .stream::<_, Number>(
                "calculator",
                "CountRequest",
                &CountRequest {
                    up_to: 1_000_000,
                    delay_ms: 1,
                },
            )
            .await
            .unwrap();
        for expected in 0..3 {
            assert_eq!(stream.next().await.unwrap().unwrap().value, expected);
        }
        assert_eq!(setup.bridge.stats().in_flight, 1);
        drop(stream);
        let deadline = std::time::Instant::now() + PATIENCE;
        while setup.bridge.stats().in_flight != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the stream ends on the server"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        setup.server.stop().await;
    }

    const KIB: usize = 1024;

    /// A JSON string of `size` bytes (its quotes included).
    fn json_string(size: usize) -> Bytes {
        Bytes::from(serde_json::to_vec(&"x".repeat(size - 2)).unwrap())
    }

    #[tokio::test]
    async fn a_subscriptions_buffer_over_nats_is_bounded_in_bytes_and_counts_what_it_drops() {
        let nats = NatsServer::start();
        let bound = 1024 * KIB;
        let options = ClientOptions {
            subscription_buffer_bytes: bound,
            ..ClientOptions::default()
        };
        let client = IpcClient::connect_nats_with(&nats.url, "t", options)
            .await
            .unwrap();
        let mut pushes = client.subscribe::<String>(&["Big"]).await.unwrap();
        // Anyone allowed to publish on the push subjects, far faster than the
        // consumer (who reads nothing meanwhile) takes them: 10 MiB.
        let hostile = async_nats::connect(&nats.url).await.unwrap();
        const SENT: u64 = 40;
        let item = 256 * KIB;
        for n in 0..SENT {
            let id = format!("n{n}");
            hostile
                .publish_with_headers(
                    "t.push.Big",
                    headers(&[(layout::NOTIFICATION_ID, &id)]),
                    json_string(item),
                )
                .await
                .unwrap();
        }
        settle(&hostile).await;
        // At most four of 256 KiB fit in 1 MiB: the others are dropped, the
        // newest first, and counted.
        wait_until(|| pushes.missed() >= SENT - 4).await;
        // The pump may still hold the last one or two; wait until it is done
        // (read earlier, a freed place would take a newer push).
        loop {
            let missed = pushes.missed();
            tokio::time::sleep(Duration::from_millis(300)).await;
            if pushes.missed() == missed {
                break;
            }
        }
        let mut received = Vec::new();
        while let Ok(Some(push)) =
            tokio::time::timeout(Duration::from_millis(300), pushes.next()).await
        {
            received.push(push.unwrap().notification_id);
        }
        assert!(!received.is_empty());
        assert!(
            received.len() * item <= bound + item,
            "{} pushes of 256 KiB held with a 1 MiB bound",
            received.len()
        );
        let expected: Vec<String> = (0..received.len()).map(|n| format!("n{n}")).collect();
        assert_eq!(received, expected, "the oldest are kept");
        assert_eq!(pushes.missed() + received.len() as u64, SENT);
        assert_eq!(pushes.undecodable(), 0);
        // The consumer caught up: what comes now arrives.
        hostile
            .publish_with_headers(
                "t.push.Big",
                headers(&[(layout::NOTIFICATION_ID, "late")]),
                json_string(item),
            )
            .await
            .unwrap();
        let late = tokio::time::timeout(PATIENCE, pushes.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(late.notification_id, "late");
        assert_eq!(late.payload.len(), item - 2);
        assert_eq!(pushes.missed() + received.len() as u64, SENT);
    }

    #[tokio::test]
    async fn a_stream_over_nats_that_overflows_its_buffer_fails_and_is_cancelled() {
        let nats = NatsServer::start();
        // A hostile "server": no bridge, whoever answers the request subject.
        let hostile = async_nats::connect(&nats.url).await.unwrap();
        let mut requests = hostile
            .subscribe("t.calculator.CountRequest")
            .await
            .unwrap();
        let mut cancels = hostile.subscribe("t._cancel").await.unwrap();
        settle(&hostile).await;
        let bound = 1024 * KIB;
        let options = ClientOptions {
            stream_buffer_bytes: bound,
            ..ClientOptions::default()
        };
        let client = IpcClient::connect_nats_with(&nats.url, "t", options)
            .await
            .unwrap();
        let count = CountRequest {
            up_to: 3,
            delay_ms: 0,
        };
        let mut stream = client
            .stream::<_, String>("calculator", "CountRequest", &count)
            .await
            .unwrap();
        let request = tokio::time::timeout(PATIENCE, requests.next())
            .await
            .unwrap()
            .unwrap();
        let inbox = request.reply.clone().unwrap();
        let digest = header(&request, layout::CANCEL_DIGEST).unwrap().to_owned();
        // 40 items of 256 KiB (10 MiB) while the consumer reads nothing.
        let item = 256 * KIB;
        for sequence in 0..40 {
            hostile
                .publish_with_headers(
                    inbox.clone(),
                    headers(&[(layout::SEQUENCE, &sequence.to_string())]),
                    json_string(item),
                )
                .await
                .unwrap();
        }
        let last = headers(&[(layout::SEQUENCE, "40"), (layout::FINAL, "true")]);
        hostile
            .publish_with_headers(inbox.clone(), last, Bytes::new())
            .await
            .unwrap();
        settle(&hostile).await;
        // The client cancels the stream as soon as its buffer is full, with the
        // secret whose digest the request carried, before the consumer reads.
        let cancel = tokio::time::timeout(PATIENCE, cancels.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cancel.payload, inbox.as_bytes());
        let secret = header(&cancel, layout::CANCEL_SECRET).unwrap();
        assert_eq!(layout::cancel_digest(secret), digest);
        // What the buffer holds is delivered, then the stream fails.
        let mut items = 0;
        let error = loop {
            match stream.next().await.unwrap() {
                Ok(value) => {
                    assert_eq!(value.len(), item - 2);
                    items += 1;
                }
                Err(error) => break error,
            }
        };
        assert!(items >= 1 && items * item <= bound + item, "{items} items");
        assert_eq!(error.code(), Some(ErrorCode::StreamError), "{error}");
        assert!(error.to_string().contains("waited unread"), "{error}");
        assert!(stream.next().await.is_none());
        drop(stream);
        // Cancelled once.
        let again = tokio::time::timeout(Duration::from_millis(300), cancels.next()).await;
        assert!(again.is_err(), "a second cancel");
    }

    #[tokio::test]
    async fn without_a_server_connecting_fails_clearly() {
        let error = IpcClient::connect_nats("nats://127.0.0.1:1", "t")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("cannot connect to NATS"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn authorization_is_natss_own() {
    let server = default_server("nats-auth").await;
    let nats = NatsServer::start_with(&["--user", "desk", "--pass", "s3cret"]);
    // Without the credentials the bridge does not start, and says why.
    let refused = server
        .runtime
        .start_nats_bridge(NatsConfig::new(&nats.url).prefix("a"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("cannot connect to NATS"),
        "{refused}"
    );
    let bridge = server
        .runtime
        .start_nats_bridge(
            NatsConfig::new(&nats.url)
                .prefix("a")
                .user_and_password("desk", "s3cret"),
        )
        .await
        .expect("the bridge starts with its credentials");
    // A client brings its own credentials on its own NATS connection.
    let connection =
        async_nats::ConnectOptions::with_user_and_password("desk".into(), "s3cret".into())
            .connect(&nats.url)
            .await
            .unwrap();
    let client = acton_reactive::ipc::client::IpcClient::from_nats(
        connection,
        "a",
        acton_reactive::ipc::client::ClientOptions::default(),
    );
    let sum: AddResponse = client
        .request("calculator", "AddRequest", &AddRequest { a: 2, b: 3 })
        .await
        .unwrap();
    assert_eq!(sum, AddResponse { sum: 5 });
    assert!(
        async_nats::connect(&nats.url).await.is_err(),
        "no credentials, no connection"
    );
    bridge.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn a_nats_server_that_dies_leaves_a_bridge_that_still_shuts_down() {
    let mut setup = setup("nats-dies").await;
    call(
        &setup.client,
        "t.calculator.AddRequest",
        &[],
        Bytes::from_static(br#"{"a": 1, "b": 1}"#),
    )
    .await;
    let _ = setup.nats.child.kill();
    let _ = setup.nats.child.wait();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), setup.bridge.shutdown())
        .await
        .expect("the shutdown does not wait for NATS to come back");
    assert!(started.elapsed() < Duration::from_secs(15));
    tokio::time::timeout(Duration::from_secs(30), setup.server.stop())
        .await
        .expect("the runtime stops too");
}

/// A certificate authority and a server certificate for 127.0.0.1, made with
/// openssl in `dir`: (ca.pem, server.pem, server.key).
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=acton test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

#[tokio::test]
async fn tls_with_a_private_certificate_authority() {
    let dir = std::env::temp_dir().join(format!("acton-nats-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = certificates(&dir);
    let nats = NatsServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let server = default_server("nats-tls").await;
    // The server's certificate is not one the system trusts.
    let untrusted = server
        .runtime
        .start_nats_bridge(NatsConfig::new(&nats.url).prefix("s").require_tls(true))
        .await;
    assert!(
        untrusted.is_err(),
        "a certificate nobody vouches for is refused"
    );
    let bridge = server
        .runtime
        .start_nats_bridge(
            NatsConfig::new(&nats.url)
                .prefix("s")
                .tls_root_certificates(&ca),
        )
        .await
        .expect("the bridge trusts the private CA");
    let connection = async_nats::ConnectOptions::new()
        .add_root_certificates(ca.clone().into())
        .require_tls(true)
        .connect(&nats.url)
        .await
        .unwrap();
    let client = acton_reactive::ipc::client::IpcClient::from_nats(
        connection,
        "s",
        acton_reactive::ipc::client::ClientOptions::default(),
    );
    let sum: AddResponse = client
        .request("calculator", "AddRequest", &AddRequest { a: 20, b: 1 })
        .await
        .unwrap();
    assert_eq!(sum, AddResponse { sum: 21 });
    bridge.shutdown().await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// tests/vectors/nats.json: each request gets exactly the answers listed there.
#[tokio::test]
async fn the_vectors_of_the_nats_transport_hold() {
    let setup = setup("nats-vectors").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/nats.json"
    ))
    .unwrap();
    let vectors: Value = serde_json::from_str(&text).unwrap();
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let inbox = setup.client.new_inbox();
        let mut replies = setup.client.subscribe(inbox.clone()).await.unwrap();
        let mut request_headers = HeaderMap::new();
        for (key, value) in case["headers"].as_object().unwrap() {
            request_headers.insert(key.as_str(), value.as_str().unwrap());
        }
        let payload = match &case["payload"] {
            Value::Null => Bytes::new(),
            value => encode(Format::Json, value),
        };
        setup
            .client
            .publish_with_reply_and_headers(
                case["subject"].as_str().unwrap().to_owned(),
                inbox,
                request_headers,
                payload,
            )
            .await
            .unwrap();
        for expected in case["answers"].as_array().unwrap() {
            let answer = tokio::time::timeout(PATIENCE, replies.next())
                .await
                .unwrap_or_else(|_| panic!("{name}: an answer"))
                .unwrap();
            for (key, value) in expected["headers"].as_object().unwrap() {
                assert_eq!(header(&answer, key), value.as_str(), "{name}: header {key}");
            }
            match &expected["payload"] {
                Value::Null => assert!(answer.payload.is_empty(), "{name}: empty payload"),
                value => assert_eq!(&decode(Format::Json, &answer.payload), value, "{name}"),
            }
        }
        let extra = tokio::time::timeout(Duration::from_millis(100), replies.next()).await;
        assert!(extra.is_err(), "{name}: no further answer");
    }
    setup.server.stop().await;
}

// --- a hostile caller's attempts (issue 27) --------------------------------------------

/// An honest call is answered.
async fn assert_still_served(client: &async_nats::Client) {
    let answer = call(
        client,
        "t.calculator.AddRequest",
        &[],
        Bytes::from_static(br#"{"a":1,"b":2}"#),
    )
    .await;
    assert_eq!(decode(Format::Json, &answer.payload)["sum"], json!(3));
}

/// Messages arriving on `subscriber` within `wait`.
async fn arriving(subscriber: &mut async_nats::Subscriber, wait: Duration) -> Vec<Message> {
    let mut arrived = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(wait, subscriber.next()).await {
        arrived.push(message);
    }
    arrived
}

#[tokio::test]
async fn answers_never_go_to_the_bridges_own_subjects_or_nats_apis() {
    let setup = setup("nats-namespace").await;
    let client = &setup.client;
    let mut pushes = client.subscribe("t.>").await.unwrap();
    let mut apis = client.subscribe("$JS.>").await.unwrap();
    settle(client).await;
    // Requests that would be refused (a type nobody serves) or answered, each
    // naming a reply subject no answer may go to.
    for reply in [
        "t.push.PriceUpdate",
        "t._cancel",
        "t._discover",
        "t.calculator.AddRequest",
        "$JS.API.STREAM.DELETE.orders",
        "$SRV.PING",
    ] {
        for subject in ["t.calculator.Nope", "t.calculator.AddRequest"] {
            client
                .publish_with_reply(subject, reply, Bytes::from_static(br#"{"a":1,"b":2}"#))
                .await
                .unwrap();
        }
        client
            .publish_with_reply("t._discover", reply, Bytes::new())
            .await
            .unwrap();
    }
    settle(client).await;
    let answered: Vec<String> = arriving(&mut pushes, Duration::from_millis(300))
        .await
        .into_iter()
        // What the test itself published on `t.>` comes back too.
        .filter(|message| message.reply.as_ref().is_none_or(|reply| reply.is_empty()))
        .map(|message| message.subject.to_string())
        .collect();
    assert!(answered.is_empty(), "answers on our subjects: {answered:?}");
    let to_apis = arriving(&mut apis, Duration::from_millis(100)).await;
    assert!(to_apis.is_empty(), "answers on $JS: {}", to_apis.len());
    assert_eq!(setup.bridge.stats().reply_subjects_refused, 18);
    // An honest caller is still served.
    assert_still_served(client).await;
    setup.server.stop().await;
}

#[tokio::test]
async fn discovery_is_rate_limited_and_built_once() {
    let setup = setup_with("nats-discover-rate", |config| {
        config.rate_limit(RateLimitConfig {
            requests_per_second: 1,
            burst_size: 3,
        })
    })
    .await;
    let client = &setup.client;
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(format!("{inbox}.*")).await.unwrap();
    settle(client).await;
    for i in 0..40 {
        let subject = if i % 2 == 0 {
            "t._discover"
        } else {
            "$SRV.INFO"
        };
        client
            .publish_with_reply(subject, format!("{inbox}.{i}"), Bytes::new())
            .await
            .unwrap();
    }
    settle(client).await;
    let answered = arriving(&mut answers, Duration::from_millis(300)).await;
    // Three tokens in the burst (a fourth may have refilled): $SRV.INFO answers
    // once per service (two here).
    assert!(
        (2..=8).contains(&answered.len()),
        "{} answers to 40 requests",
        answered.len()
    );
    let bytes_out: usize = answered.iter().map(|message| message.payload.len()).sum();
    assert!(setup.bridge.stats().rate_limited >= 36);
    // The answers are the same bytes each time.
    let discovery: Vec<&Message> = answered
        .iter()
        .filter(|message| message.payload.starts_with(b"{\"correlation_id\""))
        .collect();
    if let [first, second, ..] = discovery.as_slice() {
        assert_eq!(first.payload, second.payload);
    }
    assert!(bytes_out > 0);
    setup.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_waits_to_be_served_is_bounded_in_bytes() {
    let setup = setup_with("nats-shed", |config| config.max_queued_bytes(600 * 1024)).await;
    let client = &setup.client;
    // 256 KiB requests without a reply subject, as fast as NATS takes them.
    let mut body = br#"{"a": 1, "b": 2, "padding": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 256 * 1024));
    body.extend_from_slice(br#""}"#);
    let body = Bytes::from(body);
    for _ in 0..200 {
        client
            .publish("t.calculator.AddRequest", body.clone())
            .await
            .unwrap();
    }
    settle(client).await;
    wait_until(|| {
        let stats = setup.bridge.stats();
        stats.requests + stats.shed >= 200
    })
    .await;
    let stats = setup.bridge.stats();
    assert!(stats.shed > 0, "{stats:?}");
    // The bridge is still serving, and honest callers get through.
    assert_still_served(client).await;
    setup.server.stop().await;
}
