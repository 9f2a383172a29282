//! The IPC type registry: which Rust type a wire `message_type` name stands for, and
//! how to turn payload bytes into that type and replies back into bytes.
//!
//! ```
//! use acton_reactive::prelude::*;
//!
//! #[acton_message(ipc)]
//! struct AddRequest { a: i64, b: i64 }
//!
//! let runtime = ActonApp::launch();
//! let registry = runtime.ipc_registry();
//! registry.register::<AddRequest>("AddRequest");
//! assert_eq!(registry.name_of::<AddRequest>().as_deref(), Some("AddRequest"));
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, PoisonError, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::actor::TypeIdHasher;
use crate::ipc::codec::frames::{answer_frame, ItemBody};
use crate::ipc::codec::{CodecError, Format};
use crate::ipc::protocol::{IpcPushNotification, IpcResponse, IpcStreamFrame, MessageKind};
use crate::message::ActonMessage;

/// A type name the registry does not know, or a payload it could not convert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Nothing is registered under this name.
    #[error("no message type is registered as `{0}`")]
    UnknownType(String),
    /// The Rust type of a reply or broadcast was never registered.
    #[error("the type `{0}` is not registered for IPC; register it with `ipc_registry().register::<T>(\"Name\")`")]
    UnregisteredRustType(&'static str),
    /// The payload does not decode as the registered type.
    #[error("payload is not a valid `{type_name}`: {source}")]
    Payload {
        /// The registered name.
        type_name: String,
        /// The decoder's complaint.
        source: CodecError,
    },
    /// A value could not be encoded.
    #[error(transparent)]
    Encode(#[from] CodecError),
}

/// How an outgoing value is wrapped on the wire (and in which kind of frame).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outbound<'a> {
    /// A RESPONSE carrying the value.
    Response { correlation_id: &'a str },
    /// A STREAM item.
    Stream {
        correlation_id: &'a str,
        sequence: u32,
    },
    /// The failure of a request, the value being its details: an ERROR frame,
    /// or for a stream (`sequence` given) a failed final STREAM frame.
    Failure {
        correlation_id: &'a str,
        code: &'a str,
        message: &'a str,
        sequence: Option<u32>,
    },
    /// The value alone, in no frame (the NATS transport's payloads).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Body,
    /// A PUSH notification.
    Push {
        notification_id: &'a str,
        message_type: &'a str,
        source_actor: Option<&'a str>,
        timestamp_ms: u64,
        /// Notifications this subscriber missed just before this one.
        dropped: u64,
    },
}

type DecodeFn = fn(Format, &[u8]) -> Result<Box<dyn ActonMessage>, CodecError>;
type EncodeFn = fn(&dyn Any, Format, Outbound<'_>) -> Result<Vec<u8>, CodecError>;

/// One registered type.
pub(crate) struct Registration {
    pub(crate) name: String,
    pub(crate) rust_type: &'static str,
    decode: DecodeFn,
    encode: EncodeFn,
}

impl Registration {
    pub(crate) fn decode(
        &self,
        format: Format,
        payload: &[u8],
    ) -> Result<Box<dyn ActonMessage>, RegistryError> {
        (self.decode)(format, payload).map_err(|source| RegistryError::Payload {
            type_name: self.name.clone(),
            source,
        })
    }

    /// Encodes `message` as a complete frame of the kind `shape` names.
    pub(crate) fn encode(
        &self,
        message: &dyn ActonMessage,
        format: Format,
        shape: Outbound<'_>,
    ) -> Result<Vec<u8>, RegistryError> {
        let message: &dyn Any = message;
        Ok((self.encode)(message, format, shape)?)
    }
}

#[derive(Default)]
struct Tables {
    by_name: HashMap<String, Arc<Registration>>,
    by_type: HashMap<TypeId, Arc<Registration>, BuildHasherDefault<TypeIdHasher>>,
    /// Schema documents (`acton-schema/1`) by fingerprint, in registration order.
    schemas: Vec<(String, Arc<serde_json::Value>)>,
}

/// The schema a server serves in DISCOVER (`include_schema`): the checked
/// schema as a JSON document, and the fingerprint of its wire contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedSchema {
    /// The document (`acton-schema/1`; several registered schemas are merged).
    pub document: serde_json::Value,
    /// The fingerprint of its wire-relevant part (`fnv1a64:...`).
    pub fingerprint: String,
}

/// Maps wire type names to Rust types. Shared: obtain it with
/// `runtime.ipc_registry()` and register through `&self`.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message(ipc)]
/// struct AddRequest { a: i64, b: i64 }
///
/// let runtime = ActonApp::launch();
/// let registry = runtime.ipc_registry();
/// registry.register::<AddRequest>("AddRequest");
/// assert!(registry.is_registered("AddRequest"));
/// assert_eq!(registry.registered_types(), vec!["AddRequest".to_string()]);
/// ```
#[derive(Default)]
pub struct IpcTypeRegistry {
    tables: RwLock<Tables>,
    /// Bumped after every registration, so that connections may keep what they
    /// looked up while it stays the same.
    generation: std::sync::atomic::AtomicU64,
}

impl IpcTypeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `T` under the wire name `name`.
    ///
    /// Registering a name again replaces the earlier type (and is logged when the
    /// type differs). One type may be registered under several names; replies and
    /// broadcasts of it use the name registered last.
    pub fn register<T>(&self, name: impl Into<String>)
    where
        T: ActonMessage + Serialize + DeserializeOwned,
    {
        let name = name.into();
        let registration = Arc::new(Registration {
            name: name.clone(),
            rust_type: std::any::type_name::<T>(),
            decode: decode_as::<T>,
            encode: encode_as::<T>,
        });
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = tables.by_name.get(&name) {
            if previous.rust_type != registration.rust_type {
                tracing::warn!(
                    name,
                    previous = previous.rust_type,
                    now = registration.rust_type,
                    "IPC type name re-registered to another type"
                );
            }
        }
        tables
            .by_type
            .insert(TypeId::of::<T>(), Arc::clone(&registration));
        tables.by_name.insert(name, registration);
        drop(tables);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Changes with every registration (read it before a lookup).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Registers the schema the registered types come from, which DISCOVER then
    /// serves (`include_schema`): `document` is its JSON (`acton-schema/1`),
    /// `fingerprint` that of its wire contract. Generated `register_all` calls it;
    /// registering the same fingerprint again does nothing.
    ///
    /// ```
    /// use acton_reactive::ipc::IpcTypeRegistry;
    ///
    /// let registry = IpcTypeRegistry::new();
    /// registry.register_schema(r#"{"format":"acton-schema/1","types":[],"services":[]}"#, "fnv1a64:0");
    /// assert_eq!(registry.schema().map(|s| s.fingerprint), Some("fnv1a64:0".to_owned()));
    /// ```
    pub fn register_schema(&self, document: &str, fingerprint: &str) {
        let document: serde_json::Value = match serde_json::from_str(document) {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(%error, fingerprint, "a schema document that is not JSON was not registered");
                return;
            }
        };
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if !tables.schemas.iter().any(|(known, _)| known == fingerprint) {
            tables
                .schemas
                .push((fingerprint.to_owned(), Arc::new(document)));
            // What discovery answers changed (the NATS bridge caches it).
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// The schema DISCOVER serves: the one registered, or several merged (their
    /// types and services in one document, the fingerprints joined by `+`).
    pub fn schema(&self) -> Option<ServedSchema> {
        let tables = self.read();
        match tables.schemas.as_slice() {
            [] => None,
            [(fingerprint, document)] => Some(ServedSchema {
                document: (**document).clone(),
                fingerprint: fingerprint.clone(),
            }),
            many => {
                let mut types = Vec::new();
                let mut services = Vec::new();
                for (_, document) in many {
                    for (key, into) in [("types", &mut types), ("services", &mut services)] {
                        if let Some(items) = document.get(key).and_then(|v| v.as_array()) {
                            into.extend(items.iter().cloned());
                        }
                    }
                }
                Some(ServedSchema {
                    document: serde_json::json!({
                        "format": "acton-schema/1",
                        "package": null,
                        "types": types,
                        "services": services,
                    }),
                    fingerprint: many
                        .iter()
                        .map(|(fingerprint, _)| fingerprint.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                })
            }
        }
    }

    /// Whether a type is registered under `name`.
    pub fn is_registered(&self, name: &str) -> bool {
        self.read().by_name.contains_key(name)
    }

    /// Every registered name, sorted.
    pub fn registered_types(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().by_name.keys().cloned().collect();
        names.sort();
        names
    }

    /// Every registered name, sorted (an iterator over [`registered_types`](Self::registered_types)).
    pub fn type_names(&self) -> impl Iterator<Item = String> {
        self.registered_types().into_iter()
    }

    /// How many names are registered.
    pub fn len(&self) -> usize {
        self.read().by_name.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name the Rust type `T` is registered under.
    pub fn name_of<T: Any>(&self) -> Option<String> {
        self.by_type_id(TypeId::of::<T>())
            .map(|registration| registration.name.clone())
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<Arc<Registration>> {
        self.read().by_name.get(name).cloned()
    }

    pub(crate) fn by_type_id(&self, type_id: TypeId) -> Option<Arc<Registration>> {
        self.read().by_type.get(&type_id).cloned()
    }

    /// Decodes a payload as the type registered under `name`.
    #[cfg(test)]
    pub(crate) fn decode(
        &self,
        name: &str,
        format: Format,
        payload: &[u8],
    ) -> Result<Box<dyn ActonMessage>, RegistryError> {
        self.by_name(name)
            .ok_or_else(|| RegistryError::UnknownType(name.to_owned()))?
            .decode(format, payload)
    }

    /// Encodes a reply or broadcast in the wrapper `shape` (not under the
    /// tables' lock: the type's `Serialize` is the user's code, and may take its
    /// time or use the registry itself).
    pub(crate) fn encode(
        &self,
        message: &dyn ActonMessage,
        format: Format,
        shape: Outbound<'_>,
    ) -> Result<Vec<u8>, RegistryError> {
        let type_id = (message as &dyn Any).type_id();
        self.by_type_id(type_id)
            .ok_or(RegistryError::UnregisteredRustType(message.type_name()))?
            .encode(message, format, shape)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for IpcTypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcTypeRegistry")
            .field("types", &self.registered_types())
            .finish()
    }
}

/// Decodes a `T`. Clients in other languages send a unit message (`struct Ping;`)
/// as `null` or as `{}`, so each is retried as the other.
fn decode_as<T: ActonMessage + DeserializeOwned>(
    format: Format,
    payload: &[u8],
) -> Result<Box<dyn ActonMessage>, CodecError> {
    match format.decode::<T>(payload) {
        Ok(message) => Ok(Box::new(message)),
        Err(error) => {
            let alternative = if format.is_empty_map(payload) {
                format.null()
            } else if format.is_null(payload) {
                format.empty_map()
            } else {
                return Err(error);
            };
            format
                .decode::<T>(alternative)
                .map(|message| Box::new(message) as Box<dyn ActonMessage>)
                .map_err(|_| error)
        }
    }
}

fn encode_as<T: Serialize + 'static>(
    message: &dyn Any,
    format: Format,
    shape: Outbound<'_>,
) -> Result<Vec<u8>, CodecError> {
    let Some(value) = message.downcast_ref::<T>() else {
        return Err(CodecError::Encode {
            format,
            reason: format!(
                "registry entry for `{}` received another type",
                std::any::type_name::<T>()
            ),
        });
    };
    match shape {
        Outbound::Body => format.encode(value),
        Outbound::Response { correlation_id } => answer_frame(format, correlation_id, value),
        Outbound::Stream {
            correlation_id,
            sequence,
        } => format.encode_frame(
            MessageKind::Stream,
            &ItemBody {
                correlation_id,
                sequence,
                payload: value,
            },
        ),
        Outbound::Failure {
            correlation_id,
            code,
            message,
            sequence: None,
        } => format.encode_frame(
            MessageKind::Error,
            &IpcResponse {
                correlation_id: correlation_id.to_owned(),
                success: false,
                error: Some(message.to_owned()),
                error_code: Some(code.to_owned()),
                payload: Some(value),
            },
        ),
        Outbound::Failure {
            correlation_id,
            code,
            message,
            sequence: Some(sequence),
        } => format.encode_frame(
            MessageKind::Stream,
            &IpcStreamFrame {
                correlation_id: correlation_id.to_owned(),
                sequence,
                is_final: true,
                error: Some(message.to_owned()),
                error_code: Some(code.to_owned()),
                payload: Some(value),
            },
        ),
        Outbound::Push {
            notification_id,
            message_type,
            source_actor,
            timestamp_ms,
            dropped,
        } => format.encode_frame(
            MessageKind::Push,
            &IpcPushNotification {
                notification_id: notification_id.to_owned(),
                message_type: message_type.to_owned(),
                source_actor: source_actor.map(str::to_owned),
                payload: value,
                timestamp_ms,
                dropped,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Ping;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn decoded<T: ActonMessage + Clone>(message: Box<dyn ActonMessage>) -> T {
        let any: Box<dyn Any + Send + Sync> = message;
        *any.downcast::<T>().expect("decoded to the registered type")
    }

    #[test]
    fn unit_messages_accept_null_and_an_empty_map() {
        let registry = IpcTypeRegistry::new();
        registry.register::<Ping>("Ping");
        for payload in [&b"null"[..], b"{}", b" { } "] {
            let message = registry.decode("Ping", Format::Json, payload).unwrap();
            assert_eq!(decoded::<Ping>(message), Ping);
        }
    }

    #[cfg(feature = "ipc-messagepack")]
    #[test]
    fn unit_messages_accept_nil_and_an_empty_map_in_messagepack() {
        let registry = IpcTypeRegistry::new();
        registry.register::<Ping>("Ping");
        for payload in [&[0xc0u8][..], &[0x80]] {
            let message = registry
                .decode("Ping", Format::MessagePack, payload)
                .unwrap();
            assert_eq!(decoded::<Ping>(message), Ping);
        }
    }

    #[test]
    fn wrong_shapes_and_unknown_names_are_errors() {
        let registry = IpcTypeRegistry::new();
        registry.register::<Add>("Add");
        assert!(matches!(
            registry.decode("Add", Format::Json, br#"{"a": 1}"#),
            Err(RegistryError::Payload { .. })
        ));
        assert!(matches!(
            registry.decode("Add", Format::Json, b"null"),
            Err(RegistryError::Payload { .. })
        ));
        assert_eq!(
            registry.decode("Sub", Format::Json, b"{}").err(),
            Some(RegistryError::UnknownType("Sub".into()))
        );
        let add = registry
            .decode("Add", Format::Json, br#"{"a": 1, "b": 2, "c": 3}"#)
            .unwrap();
        assert_eq!(
            decoded::<Add>(add),
            Add { a: 1, b: 2 },
            "unknown fields are ignored"
        );
    }

    #[test]
    fn replies_are_wrapped_in_their_frame_shape() {
        let registry = IpcTypeRegistry::new();
        registry.register::<Add>("Add");
        let bytes = registry
            .encode(
                &Add { a: 1, b: 2 },
                Format::Json,
                Outbound::Response {
                    correlation_id: "c1",
                },
            )
            .unwrap();
        assert_eq!(&bytes[4..7], &[2, MessageKind::Response.as_byte(), 1]);
        assert_eq!(
            std::str::from_utf8(&bytes[7..]).unwrap(),
            r#"{"correlation_id":"c1","success":true,"payload":{"a":1,"b":2}}"#
        );
        assert_eq!(
            registry.encode(
                &7u8,
                Format::Json,
                Outbound::Response {
                    correlation_id: "c"
                }
            ),
            Err(RegistryError::UnregisteredRustType("u8"))
        );
    }
}
