//! The Rust client in long-running programs, over a real socket: per-call
//! deadlines, CANCEL when a stream or call is given up, keepalive, subscriptions
//! that unsubscribe when dropped, bounded stream buffers.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::time::Duration;

use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::{IpcConfig, IpcOptions};
use futures_util::StreamExt;
use support::*;

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
