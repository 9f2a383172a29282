//! The attacks that apply to every transport, run from one suite against the
//! socket and against NATS (a real `nats-server`): each test is written once and
//! run on both, so a limit of the serving core holds on either or the test says
//! which one broke it. What only one transport has (frames, subjects) is tested
//! in `hardening.rs` and `nats.rs`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::time::{Duration, Instant};

use acton_reactive::ipc::protocol::MessageKind;
use acton_reactive::ipc::{Format, IpcConfig, IpcOptions, RateLimitConfig};
use acton_reactive::nats::{layout, NatsBridge, NatsConfig};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::nats_server::NatsServer;
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Socket,
    Nats,
}

const BOTH: [Transport; 2] = [Transport::Socket, Transport::Nats];

/// The serving core's limits, set the same way on either transport.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    rate: Option<RateLimitConfig>,
    max_request_timeout: Option<Duration>,
    /// Requests in flight a caller may hold (a connection on the socket; an
    /// inbox on NATS, out of four times as many for everyone).
    in_flight_per_caller: Option<usize>,
}

/// A server with the support actors, reachable on one transport.
struct Rig {
    server: Server,
    nats: Option<(NatsServer, NatsBridge)>,
}

const PREFIX: &str = "h";

async fn rig(transport: Transport, name: &str, limits: Limits) -> Rig {
    let (config, options) = match transport {
        Transport::Socket => {
            let config = IpcConfig {
                rate_limit: limits.rate,
                ..IpcConfig::default()
            };
            let mut options = IpcOptions::default();
            if let Some(cap) = limits.max_request_timeout {
                options = options.max_request_timeout(cap);
            }
            if let Some(slots) = limits.in_flight_per_caller {
                options = options.max_in_flight(slots);
            }
            (config, options)
        }
        Transport::Nats => (IpcConfig::default(), IpcOptions::default()),
    };
    let server = start_server(name, config, options).await;
    let nats = match transport {
        Transport::Socket => None,
        Transport::Nats => {
            let nats = NatsServer::start();
            let mut config = NatsConfig::new(&nats.url).prefix(PREFIX);
            if let Some(rate) = limits.rate {
                config = config.rate_limit(rate);
            }
            if let Some(cap) = limits.max_request_timeout {
                config = config.max_request_timeout(cap);
            }
            if let Some(slots) = limits.in_flight_per_caller {
                config = config
                    .max_in_flight(slots * 4)
                    .max_in_flight_per_caller(slots);
            }
            let bridge = server.runtime.start_nats_bridge(config).await.unwrap();
            Some((nats, bridge))
        }
    };
    Rig { server, nats }
}

impl Rig {
    /// A new caller: a connection of its own on either transport.
    async fn caller(&self) -> Caller {
        match &self.nats {
            None => Caller::Socket(Raw::connect(&self.server.path).await),
            Some((nats, _)) => {
                let client = async_nats::connect(&nats.url).await.unwrap();
                let inbox = client.new_inbox();
                let replies = client.subscribe(format!("{inbox}.*")).await.unwrap();
                Caller::Nats {
                    client,
                    replies,
                    inbox,
                    sent: 0,
                }
            }
        }
    }

    fn bridge(&self) -> &NatsBridge {
        &self.nats.as_ref().unwrap().1
    }

    async fn stop(self) {
        if let Some((_nats, bridge)) = &self.nats {
            bridge.shutdown().await;
        }
        self.server.stop().await;
    }
}

/// What came back for a request: its error code, or its payload.
#[derive(Debug)]
struct Outcome {
    code: Option<String>,
    payload: Value,
}

impl Outcome {
    fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("OK")
    }
}

enum Caller {
    Socket(Raw),
    Nats {
        client: async_nats::Client,
        replies: async_nats::Subscriber,
        inbox: String,
        sent: u64,
    },
}

impl Caller {
    /// Sends a request expecting one answer; `id` on the socket.
    async fn send(
        &mut self,
        id: &str,
        target: &str,
        message_type: &str,
        payload: Value,
        timeout_ms: Option<u64>,
    ) {
        match self {
            Self::Socket(raw) => {
                let mut envelope = envelope(id, target, message_type, payload, true, false);
                if let Some(ms) = timeout_ms {
                    envelope["response_timeout_ms"] = json!(ms);
                }
                raw.send_json(MessageKind::Request, envelope).await;
            }
            Self::Nats {
                client,
                inbox,
                sent,
                ..
            } => {
                *sent += 1;
                let mut headers = HeaderMap::new();
                if let Some(ms) = timeout_ms {
                    headers.insert(layout::TIMEOUT_MS, ms.to_string().as_str());
                }
                let body = Bytes::from(Format::Json.encode(&payload).unwrap());
                client
                    .publish_with_reply_and_headers(
                        format!("{PREFIX}.{target}.{message_type}"),
                        format!("{inbox}.{sent}"),
                        headers,
                        body,
                    )
                    .await
                    .unwrap();
                client.flush().await.unwrap();
            }
        }
    }

    /// The next answer to this caller.
    async fn receive(&mut self) -> Outcome {
        match self {
            Self::Socket(raw) => {
                let (kind, answer) = raw.next_json().await;
                match kind {
                    MessageKind::Error => Outcome {
                        code: answer["error_code"].as_str().map(str::to_owned),
                        payload: answer,
                    },
                    _ => Outcome {
                        code: None,
                        payload: answer["payload"].clone(),
                    },
                }
            }
            Self::Nats { replies, .. } => {
                let message = tokio::time::timeout(PATIENCE, replies.next())
                    .await
                    .expect("an answer in time")
                    .expect("an answer");
                let code = message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(layout::ERROR_CODE))
                    .map(|code| code.as_str().to_owned());
                let payload = if message.payload.is_empty() {
                    Value::Null
                } else {
                    Format::Json.decode(&message.payload).unwrap()
                };
                Outcome { code, payload }
            }
        }
    }

    async fn call(
        &mut self,
        id: &str,
        target: &str,
        message_type: &str,
        payload: Value,
    ) -> Outcome {
        self.send(id, target, message_type, payload, None).await;
        self.receive().await
    }
}

// --- every refusal is charged to the rate limiter -------------------------------

#[tokio::test]
async fn every_refusal_costs_a_token() {
    for transport in BOTH {
        let limits = Limits {
            rate: Some(RateLimitConfig {
                requests_per_second: 1,
                burst_size: 4,
            }),
            ..Limits::default()
        };
        let rig = rig(transport, "h-tokens", limits).await;
        let mut caller = rig.caller().await;
        // (On NATS, NATS itself answers for a service nobody serves.)
        let first = match transport {
            Transport::Socket => ("nobody", "AddRequest", "ACTOR_NOT_FOUND"),
            Transport::Nats => ("calculator", "AlsoNope", "UNKNOWN_MESSAGE_TYPE"),
        };
        let refused = [
            (first.0, first.1, json!({"a": 1, "b": 2}), first.2),
            ("calculator", "Nope", json!({}), "UNKNOWN_MESSAGE_TYPE"),
            (
                "calculator",
                "AddRequest",
                json!({"a": "one"}),
                "SERIALIZATION_ERROR",
            ),
        ];
        for (i, (target, message_type, payload, code)) in refused.into_iter().enumerate() {
            let outcome = caller
                .call(&format!("r{i}"), target, message_type, payload)
                .await;
            assert_eq!(outcome.code(), code, "{transport:?}");
        }
        let outcome = caller
            .call("ok", "calculator", "AddRequest", json!({"a": 40, "b": 2}))
            .await;
        assert_eq!(outcome.payload["sum"], json!(42), "{transport:?}");
        // Four tokens spent, three of them by refusals: the next is refused.
        let outcome = caller
            .call("late", "calculator", "AddRequest", json!({"a": 1, "b": 1}))
            .await;
        assert_eq!(outcome.code(), "RATE_LIMITED", "{transport:?}");
        if transport == Transport::Socket {
            // An over-long id is charged too (and answered as `unknown`).
            let mut other = rig.caller().await;
            for i in 0..5 {
                let id = format!("{i}{}", "x".repeat(300));
                let outcome = other
                    .call(&id, "calculator", "AddRequest", json!({"a": 1, "b": 1}))
                    .await;
                let expected = if i < 4 {
                    "LIMIT_EXCEEDED"
                } else {
                    "RATE_LIMITED"
                };
                assert_eq!(outcome.code(), expected, "id {i}");
                assert_eq!(outcome.payload["correlation_id"], json!("unknown"));
            }
        } else {
            assert!(rig.bridge().stats().rate_limited >= 1);
        }
        rig.stop().await;
    }
}

// --- bad payloads are refused by their own request --------------------------------

#[tokio::test]
async fn a_payload_that_is_not_its_type_hurts_nobody() {
    for transport in BOTH {
        let rig = rig(transport, "h-payload", Limits::default()).await;
        let mut bad = rig.caller().await;
        let mut good = rig.caller().await;
        for (i, payload) in [
            json!({"a": "x", "b": 1}),
            json!("text"),
            json!({"a": 1e300, "b": 1}),
            json!({"a": 1, "b": 18_446_744_073_709_551_615u64}),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = bad
                .call(&format!("b{i}"), "calculator", "AddRequest", payload)
                .await;
            assert_eq!(outcome.code(), "SERIALIZATION_ERROR", "{transport:?} {i}");
            let outcome = good
                .call(
                    &format!("g{i}"),
                    "calculator",
                    "AddRequest",
                    json!({"a": i, "b": 1}),
                )
                .await;
            assert_eq!(outcome.payload["sum"], json!(i + 1), "{transport:?}");
        }
        // The bad caller itself is still served.
        let outcome = bad
            .call("after", "calculator", "AddRequest", json!({"a": 2, "b": 2}))
            .await;
        assert_eq!(outcome.payload["sum"], json!(4), "{transport:?}");
        rig.stop().await;
    }
}

// --- deadlines ----------------------------------------------------------------------

#[tokio::test]
async fn a_caller_cannot_ask_for_a_deadline_past_the_cap() {
    for transport in BOTH {
        let limits = Limits {
            max_request_timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        };
        let rig = rig(transport, "h-deadline", limits).await;
        let mut caller = rig.caller().await;
        let started = Instant::now();
        caller
            .send(
                "long",
                "calculator",
                "Sleep",
                json!({"ms": 5_000}),
                Some(3_600_000),
            )
            .await;
        let outcome = caller.receive().await;
        assert_eq!(outcome.code(), "TIMEOUT", "{transport:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{transport:?}: {:?}",
            started.elapsed()
        );
        rig.stop().await;
    }
}

// --- fairness -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_caller_takes_every_slot() {
    for transport in BOTH {
        let limits = Limits {
            in_flight_per_caller: Some(2),
            ..Limits::default()
        };
        let rig = rig(transport, "h-fair", limits).await;
        let mut greedy = rig.caller().await;
        for i in 0..6 {
            greedy
                .send(
                    &format!("s{i}"),
                    "calculator",
                    "Sleep",
                    json!({"ms": 1_500}),
                    Some(10_000),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Another caller is served at once while the greedy one holds its share.
        let mut other = rig.caller().await;
        let started = Instant::now();
        let outcome = other
            .call("quick", "calculator", "AddRequest", json!({"a": 1, "b": 2}))
            .await;
        assert_eq!(outcome.payload["sum"], json!(3), "{transport:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1_000),
            "{transport:?}: {:?}",
            started.elapsed()
        );
        let mut codes = Vec::new();
        for _ in 0..6 {
            codes.push(greedy.receive().await.code().to_owned());
        }
        let refused = codes
            .iter()
            .filter(|code| *code == "LIMIT_EXCEEDED")
            .count();
        let served = codes.iter().filter(|code| *code == "OK").count();
        match transport {
            // The socket holds a connection's requests beyond its share
            // (backpressure on that connection alone): all are served in turn.
            Transport::Socket => assert_eq!(served, 6, "{codes:?}"),
            // NATS cannot hold a publisher back: beyond its share, refused.
            Transport::Nats => {
                assert_eq!((served, refused), (2, 4), "{codes:?}");
                assert_eq!(rig.bridge().stats().refused_in_flight, 4);
            }
        }
        rig.stop().await;
    }
}

// --- what breaks the protocol costs nobody else ------------------------------------------

/// A publisher speaking NATS's protocol itself, to send what no client library
/// would: header blocks that do not parse.
struct RawPublisher {
    stream: tokio::net::TcpStream,
}

impl RawPublisher {
    async fn connect(port: u16) -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut info = String::new();
        BufReader::new(&mut stream)
            .read_line(&mut info)
            .await
            .unwrap();
        assert!(info.starts_with("INFO"), "{info}");
        stream
            .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\n")
            .await
            .unwrap();
        Self { stream }
    }

    /// Publishes `payload` on `subject` with the raw header block `headers`
    /// (subjects as bytes: they need not be UTF-8).
    async fn publish(&mut self, subject: &[u8], reply: &[u8], headers: &[u8], payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut message = b"HPUB ".to_vec();
        message.extend_from_slice(subject);
        message.push(b' ');
        message.extend_from_slice(reply);
        message.extend_from_slice(
            format!(" {} {}\r\n", headers.len(), headers.len() + payload.len()).as_bytes(),
        );
        message.extend_from_slice(headers);
        message.extend_from_slice(payload);
        message.extend_from_slice(b"\r\n");
        self.stream.write_all(&message).await.unwrap();
    }
}

/// How many of 100 sequential calls `caller` makes are answered right.
async fn hundred_calls(caller: &mut Caller) -> usize {
    let mut answered = 0;
    for i in 0..100 {
        let outcome = caller
            .call(
                &format!("c{i}"),
                "calculator",
                "AddRequest",
                json!({"a": i, "b": 0}),
            )
            .await;
        if outcome.payload["sum"] == json!(i) {
            answered += 1;
        }
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_breaks_the_protocol_costs_no_other_caller_a_call() {
    for transport in BOTH {
        let rig = rig(transport, "h-broken", Limits::default()).await;
        let mut good = rig.caller().await;
        match transport {
            Transport::Socket => {
                // A frame header of an unknown version: one error, then the
                // connection closes; the others keep being served.
                let mut raw = Raw::connect(&rig.server.path).await;
                raw.write(&[0, 0, 0, 2, 9, 1, 1, b'{', b'}']).await;
                let (kind, answer) = raw.next_json().await;
                assert_eq!(kind, MessageKind::Error);
                assert_eq!(answer["error_code"], json!("UNSUPPORTED_PROTOCOL_VERSION"));
                raw.expect_closed().await;
                assert_eq!(hundred_calls(&mut good).await, 100, "no call lost");
            }
            Transport::Nats => {
                let (nats, bridge) = rig.nats.as_ref().unwrap();
                // The refusals to the malformed messages come back here.
                let watcher = async_nats::connect(&nats.url).await.unwrap();
                let mut refusals = watcher.subscribe("_INBOX.evil.>").await.unwrap();
                watcher.flush().await.unwrap();
                let port = nats.port;
                // 200 malformed messages a second while 100 calls are made.
                let flood = tokio::spawn(async move {
                    let mut publisher = RawPublisher::connect(port).await;
                    let blocks: [&[u8]; 3] = [
                        b"NATS/1.0\r\nActon-Format: \xff\xfe\r\n\r\n",
                        b"NATS/1.0\r\nno colon on this line\r\n\r\n",
                        b"NATS/1.0 abc\r\n\r\n",
                    ];
                    let subject = format!("{PREFIX}.calculator.AddRequest").into_bytes();
                    // Subjects that are not UTF-8 (nats-server passes them on).
                    let mut bad_subject = format!("{PREFIX}.calculator.").into_bytes();
                    bad_subject.push(0xff);
                    let good_headers: &[u8] = b"NATS/1.0\r\nActon-Call: reply\r\n\r\n";
                    let mut sent = 0u32;
                    let mut tick = tokio::time::interval(Duration::from_millis(5));
                    loop {
                        tick.tick().await;
                        let reply = format!("_INBOX.evil.{sent}").into_bytes();
                        match sent % 5 {
                            3 => {
                                publisher
                                    .publish(&bad_subject, &reply, good_headers, b"{}")
                                    .await
                            }
                            4 => {
                                let mut bad_reply = reply.clone();
                                bad_reply.push(0xfe);
                                publisher
                                    .publish(&subject, &bad_reply, good_headers, b"{}")
                                    .await
                            }
                            n => {
                                let block = blocks[n as usize];
                                publisher.publish(&subject, &reply, block, b"{}").await
                            }
                        }
                        sent += 1;
                    }
                });
                let started = Instant::now();
                let answered = hundred_calls(&mut good).await;
                // At least a second of the flood, whatever the calls took.
                if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
                    tokio::time::sleep(rest).await;
                }
                flood.abort();
                assert_eq!(answered, 100, "no call lost");
                let refusal = tokio::time::timeout(PATIENCE, refusals.next())
                    .await
                    .unwrap()
                    .unwrap();
                let code = refusal
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(layout::ERROR_CODE))
                    .map(|code| code.as_str().to_owned());
                assert_eq!(code.as_deref(), Some("PROTOCOL_ERROR"));
                let stats = bridge.stats();
                assert!(stats.malformed >= 150, "{stats:?}");
                assert_eq!(
                    bridge
                        .client()
                        .statistics()
                        .connects
                        .load(std::sync::atomic::Ordering::Relaxed),
                    1,
                    "the bridge never reconnected"
                );
            }
        }
        rig.stop().await;
    }
}
