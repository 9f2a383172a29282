//! Every type of the every-feature schema through JSON and MessagePack and back,
//! and the wire shapes of the tricky ones: keyword and camelCase field names,
//! defaults, absent optionals, unions, recursion.

#![allow(clippy::unwrap_used)]
// The schema deprecates `Colour::Red` (and more) on purpose: the generated code
// marks it, and these tests still use it.
#![allow(deprecated)]

use acton_codegen_snapshot::*;
use acton_reactive::ipc::wire::Bytes;
use acton_reactive::serde::de::DeserializeOwned;
use acton_reactive::serde::Serialize;
use serde_json::json;

fn both_ways<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> serde_json::Value {
    let text = serde_json::to_string(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    let packed = rmp_serde::to_vec_named(value).unwrap();
    assert_eq!(&rmp_serde::from_slice::<T>(&packed).unwrap(), value);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_type_round_trips() {
    both_ways(&Scalars {
        flag: true,
        tiny: i8::MIN,
        small: i16::MAX,
        medium: -1,
        large: i64::MAX,
        utiny: u8::MAX,
        usmall: 1,
        umedium: u32::MAX,
        ularge: u64::MAX,
        single: 1.5,
        double: -2.25,
        text: "t".into(),
        blob: Bytes::from(vec![9, 8, 7]),
        anything: json!({"a": [1, "b"]}),
    });
    both_ways(&Compounds {
        names: vec!["x".into()],
        scores: [("s".to_string(), 1.0)].into_iter().collect(),
        maybe: Some(3),
        matrix: vec![vec![1, 2], vec![]],
        index: Default::default(),
        sparse: vec![Some("a".into()), None],
        nested_optional: Some(
            [("k".to_string(), Bytes::from(vec![1]))]
                .into_iter()
                .collect(),
        ),
    });
    let defaults: Defaults = serde_json::from_value(json!({})).unwrap();
    assert_eq!(defaults.count, 7);
    assert_eq!(defaults.colour, Colour::Red);
    assert_eq!(defaults.tags, ["a", "b"]);
    assert_eq!(defaults.weights.get("x"), Some(&1.5));
    assert_eq!(defaults.extra, json!({"a": null, "b": [1, 2]}));
    assert_eq!(defaults.label, "hello, world");
    assert_eq!(defaults.quoted_number, "42");
    assert!(defaults.nothing.is_none());
    both_ways(&defaults);
    for colour in [Colour::Red, Colour::Green, Colour::Blue] {
        both_ways(&colour);
    }
    both_ways(&Shape::Point {});
    both_ways(&Tree {
        value: 1,
        left: Some(Box::new(Tree {
            value: 2,
            left: None,
            children: vec![],
        })),
        children: vec![Tree {
            value: 3,
            left: None,
            children: vec![],
        }],
    });
    both_ways(&Ping {});
    both_ways(&Pong { at: 5 });
}

#[test]
fn wire_names_and_shapes() {
    let keywords = Keywords {
        r#type: "t".into(),
        class: 1,
        r#async: true,
        self_: "s".into(),
        camel_case: "c".into(),
        _private: 2,
    };
    assert_eq!(
        both_ways(&keywords),
        json!({"type": "t", "class": 1, "async": true, "self": "s", "camelCase": "c", "_private": 2})
    );
    let circle: Shape = serde_json::from_value(json!({"kind": "circle", "radius": 2.0})).unwrap();
    assert_eq!(
        circle,
        Shape::Circle {
            radius: 2.0,
            label: "circle".into()
        }
    );
    assert_eq!(
        both_ways(&circle),
        json!({"kind": "circle", "radius": 2.0, "label": "circle"})
    );
    let tree = both_ways(&Tree {
        value: 1,
        left: None,
        children: vec![],
    });
    assert_eq!(
        tree,
        json!({"value": 1, "children": []}),
        "an empty optional is absent"
    );
    let old = both_ways(&Old {
        legacy: "l".into(),
        renamed: "r".into(),
    });
    assert_eq!(old, json!({"legacy": "l", "renamed": "r"}));
}

#[test]
fn every_type_is_registered_under_its_package_name() {
    let registry = acton_reactive::ipc::IpcTypeRegistry::new();
    register_all(&registry);
    // 15 types and 3 errors (an error's fields travel as a registered type), and
    // the imported files' 4 (under their own packages).
    assert_eq!(registry.len(), 22);
    assert!(registry.is_registered("common.Money"));
    assert!(registry.is_registered("units.Grams"));
    assert!(registry.is_registered("shop.Times"));
    assert!(registry.is_registered("shop.Scalars"));
    assert!(registry.is_registered("shop.Tree"));
    assert!(registry.is_registered("shop.Missing"));
}

#[test]
fn declared_errors_round_trip_and_read_well() {
    let missing = Missing {
        key: "k".into(),
        similar: vec!["kk".into()],
    };
    assert_eq!(both_ways(&missing), json!({"key": "k", "similar": ["kk"]}));
    assert_eq!(
        missing.to_string(),
        r#"Nothing under that key (key: "k", similar: ["kk"])"#
    );
    let defaulted: Missing = serde_json::from_value(json!({"key": "k"})).unwrap();
    assert!(defaulted.similar.is_empty());
    assert_eq!(Forbidden {}.to_string(), "The caller may not do this");
    // A method's enum: its errors, and Status for anything else.
    let error: FindError = Throttled {
        retry_in: Some(3),
        reason: Colour::Red,
    }
    .into();
    assert!(matches!(error, FindError::Throttled(_)));
    let error: FindError = acton_reactive::ipc::service::Status::internal("x").into();
    assert_eq!(error.to_string(), "INTERNAL: x");
}

/// `tests/vectors/everything.json`, shared with the Python and TypeScript tests:
/// each wire value decodes into its type (from JSON and from MessagePack) and
/// encodes back to its canonical form.
#[test]
fn the_shared_value_vectors_round_trip() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/vectors/everything.json");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vectors = document["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let expected = vector.get("canonical").unwrap_or(&vector["wire"]);
        let packed = hex(vector["msgpack"].as_str().unwrap());
        if vector.get("rejected") == Some(&json!(true)) {
            let refused = match vector["type"].as_str().unwrap() {
                "Renamed" => refuses::<Renamed>(&vector["wire"], &packed),
                other => panic!("{name}: no type {other} in this test; add it"),
            };
            assert!(refused, "{name}: decoded");
            continue;
        }
        let (from_json, from_msgpack) = match vector["type"].as_str().unwrap() {
            "Times" => through::<Times>(&vector["wire"], &packed),
            "Colour" => through::<Colour>(&vector["wire"], &packed),
            "Shape" => through::<Shape>(&vector["wire"], &packed),
            "Renamed" => through::<Renamed>(&vector["wire"], &packed),
            "Priced" => through::<Priced>(&vector["wire"], &packed),
            other => panic!("{name}: no type {other} in this test; add it"),
        };
        assert_eq!(&from_json, expected, "{name} (JSON)");
        assert_eq!(&from_msgpack, expected, "{name} (MessagePack)");
    }
}

/// Decodes `wire` (JSON) and `packed` (MessagePack) as `T`, and encodes each back,
/// as JSON values to compare.
fn through<T: Serialize + DeserializeOwned>(
    wire: &serde_json::Value,
    packed: &[u8],
) -> (serde_json::Value, serde_json::Value) {
    let from_json: T = serde_json::from_value(wire.clone()).unwrap();
    let from_msgpack: T = rmp_serde::from_slice(packed).unwrap();
    let repacked = rmp_serde::to_vec_named(&from_msgpack).unwrap();
    let unpacked: serde_json::Value = rmp_serde::from_slice(&repacked).unwrap();
    (serde_json::to_value(&from_json).unwrap(), unpacked)
}

/// Whether `T` refuses `wire` (JSON) and `packed` (MessagePack) alike.
fn refuses<T: DeserializeOwned>(wire: &serde_json::Value, packed: &[u8]) -> bool {
    serde_json::from_value::<T>(wire.clone()).is_err()
        && rmp_serde::from_slice::<T>(packed).is_err()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
