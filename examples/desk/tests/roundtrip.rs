//! Every generated type serializes to JSON and MessagePack and back unchanged, and
//! its JSON has the wire shape the schema promises.

#![allow(clippy::unwrap_used)]

use acton_reactive::ipc::wire::Bytes;
use example_messages::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use acton_reactive::serde;

fn both_ways<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> serde_json::Value {
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value, "JSON round trip of {text}");
    let packed = rmp_serde::to_vec_named(value).unwrap();
    let back: T = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(&back, value, "MessagePack round trip");
    serde_json::from_str(&text).unwrap()
}

fn quote() -> Quote {
    Quote {
        symbol: "ACME".into(),
        side: Side::Buy,
        price: 12.5,
        size: u64::MAX,
        venue: Some("XNAS".into()),
        tags: vec!["a".into(), "b".into()],
        attributes: [("x".to_string(), 1.5)].into_iter().collect(),
        extra: Some(json!({"nested": [1, 2, {"k": null}]})),
    }
}

#[test]
fn every_type_round_trips_in_both_formats() {
    both_ways(&AddRequest {
        a: i64::MIN,
        b: i64::MAX,
    });
    both_ways(&AddResponse { sum: -1 });
    both_ways(&CountRequest {
        up_to: u32::MAX,
        delay_ms: 0,
    });
    both_ways(&Counted { value: 3 });
    both_ways(&LogEvent {
        level: Level::Error,
        line: "ünïcödé ✓".into(),
    });
    for level in [Level::Debug, Level::Info, Level::Warn, Level::Error] {
        both_ways(&level);
    }
    both_ways(&Put {
        key: "k".into(),
        value: Bytes::from(vec![0u8; 300]),
        ttl_ms: Some(5),
    });
    both_ways(&Put {
        key: "k".into(),
        value: Bytes::default(),
        ttl_ms: None,
    });
    both_ways(&Get { key: String::new() });
    both_ways(&GetResult {
        key: "k".into(),
        value: Bytes::from(vec![1, 2, 3]),
    });
    both_ways(&NotFound { key: "k".into() });
    both_ways(&DivisionByZero { dividend: i64::MIN });
    both_ways(&Stored {
        key: "k".into(),
        replaced: true,
    });
    both_ways(&ListKeys { prefix: "p".into() });
    both_ways(&KeyName { key: "k".into() });
    both_ways(&Side::Sell);
    both_ways(&quote());
    both_ways(&PriceUpdate {
        quote: quote(),
        sequence: 1,
    });
    both_ways(&Subscribe {
        symbols: vec!["ACME".into()],
    });
    both_ways(&Subscribed { symbols: vec![] });
    let market = Order::Market {
        symbol: "A".into(),
        side: Side::Sell,
        size: 1,
    };
    let limit = Order::Limit {
        symbol: "A".into(),
        side: Side::Buy,
        size: 2,
        price: 3.25,
    };
    both_ways(&market);
    both_ways(&limit);
    both_ways(&OrderAccepted {
        id: 9,
        order: limit,
    });
    both_ways(&HealthCheck {});
    both_ways(&HealthStatus {
        status: "ok".into(),
        uptime_ms: 1,
        active_streams: 2,
    });
}

#[test]
fn the_json_has_the_wire_shape() {
    assert_eq!(both_ways(&Side::Buy), json!("buy"));
    assert_eq!(
        both_ways(&Order::Market {
            symbol: "A".into(),
            side: Side::Sell,
            size: 1
        }),
        json!({"kind": "market", "symbol": "A", "side": "sell", "size": 1})
    );
    // bytes are base64; an absent optional is left out, not null.
    assert_eq!(
        both_ways(&Put {
            key: "k".into(),
            value: Bytes::from(vec![0xde, 0xad]),
            ttl_ms: None
        }),
        json!({"key": "k", "value": "3q0="})
    );
    // Defaults fill what the sender left out; unknown fields are ignored.
    let request: AddRequest =
        serde_json::from_value(json!({"a": 1, "future_field": true})).unwrap();
    assert_eq!(request, AddRequest { a: 1, b: 0 });
    let event: LogEvent = serde_json::from_value(json!({"line": "x"})).unwrap();
    assert_eq!(event.level, Level::Info);
    let quote: Quote =
        serde_json::from_value(json!({"symbol": "A", "side": "buy", "price": 1.0, "size": 1}))
            .unwrap();
    assert!(quote.tags.is_empty() && quote.attributes.is_empty() && quote.venue.is_none());
    // Bytes inside a MessagePack payload are `bin`, not a base64 string.
    let packed = rmp_serde::to_vec_named(&GetResult {
        key: "k".into(),
        value: Bytes::from(vec![7]),
    })
    .unwrap();
    assert!(
        packed.windows(3).any(|w| w == [0xc4, 0x01, 0x07]),
        "{packed:x?}"
    );
}
