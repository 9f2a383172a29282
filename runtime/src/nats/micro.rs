//! NATS's service API ("micro", ADR-32): every exposed actor is a service whose
//! endpoints are its schema's methods (or, without a schema, every registered
//! type), so that `nats micro ls/info/stats` list them. The bridge answers the
//! discovery requests itself, rather than through async-nats's `service` module,
//! because one queue subscription per actor follows `ipc_expose` / `ipc_hide` at
//! run time, a stream publishes several replies to one request, and a declared
//! error carries its fields — none of which that module's request type allows.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use super::config::NatsConfig;
use super::layout;
use super::stats::Endpoints;
use crate::ipc::protocol::{ActorInfo, IpcDiscoverResponse, ProtocolVersionInfo};
use crate::runtime::ActorRuntime;

/// What the discovery answers describe: the bridge, as it tells of itself.
pub(crate) struct Served<'a> {
    pub(crate) runtime: &'a ActorRuntime,
    pub(crate) config: &'a NatsConfig,
    pub(crate) id: &'a str,
    pub(crate) started: SystemTime,
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) answers: &'a Answers,
}

impl Served<'_> {
    fn runtime(&self) -> &ActorRuntime {
        self.runtime
    }

    fn config(&self) -> &NatsConfig {
        self.config
    }

    fn id(&self) -> &str {
        self.id
    }

    fn started(&self) -> SystemTime {
        self.started
    }

    fn endpoints(&self) -> &Endpoints {
        self.endpoints
    }
}

/// The discovery subjects: `$SRV.{PING|INFO|STATS}[.{name}[.{id}]]`.
pub(crate) const SUBJECTS: &str = "$SRV.>";

/// One endpoint of a service.
#[derive(Debug, Clone, PartialEq)]
struct EndpointView {
    /// The method's name (the type's, without a schema).
    name: String,
    message_type: String,
    metadata: Value,
}

/// One exposed actor, as a service.
#[derive(Debug, Clone, PartialEq)]
struct ServiceView {
    name: String,
    description: String,
    endpoints: Vec<EndpointView>,
}

/// Whether NATS's service API accepts `name` (letters, digits, `-`, `_`).
fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn services(core: &Served<'_>) -> Vec<ServiceView> {
    let registry = core.runtime().ipc_registry();
    let schema = registry.schema();
    let declared = schema
        .as_ref()
        .and_then(|schema| schema.document.get("services"))
        .and_then(Value::as_array);
    core.runtime()
        .ipc_exposed_names()
        .into_iter()
        .filter(|name| name != layout::PUSH_TOKEN && is_service_name(name))
        .map(|name| {
            let service = declared.and_then(|services| {
                services
                    .iter()
                    .find(|service| service.get("name").and_then(Value::as_str) == Some(&name))
            });
            match service {
                Some(service) => ServiceView {
                    description: text(service, "doc"),
                    endpoints: service
                        .get("methods")
                        .and_then(Value::as_array)
                        .map(|methods| methods.iter().filter_map(declared_endpoint).collect())
                        .unwrap_or_default(),
                    name,
                },
                None => ServiceView {
                    description: String::new(),
                    endpoints: registry
                        .registered_types()
                        .into_iter()
                        .map(|message_type| EndpointView {
                            name: message_type.clone(),
                            metadata: json!({ "request": message_type }),
                            message_type,
                        })
                        .collect(),
                    name,
                },
            }
        })
        .collect()
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn declared_endpoint(method: &Value) -> Option<EndpointView> {
    let message_type = method.get("request")?.as_str()?.to_owned();
    let call = match method.get("kind").and_then(Value::as_str) {
        Some("stream") => layout::Call::Stream,
        Some("fire_and_forget") => layout::Call::Send,
        _ => layout::Call::Reply,
    };
    let mut metadata = json!({ "call": call.as_str(), "request": message_type });
    if let Some(answer) = method.get("answer").and_then(Value::as_str) {
        metadata["answer"] = json!(answer);
    }
    let errors: Vec<&str> = method
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !errors.is_empty() {
        metadata["errors"] = json!(errors.join(","));
    }
    if let Some(doc) = method.get("doc").and_then(Value::as_str) {
        metadata["doc"] = json!(doc);
    }
    Some(EndpointView {
        name: method.get("name")?.as_str()?.to_owned(),
        message_type,
        metadata,
    })
}

/// The subject of acton's own discovery under `prefix`: what DISCOVER answers on
/// the socket (exposed actors, registered types, the served schema).
pub(crate) fn discover_subject(prefix: &str) -> String {
    format!("{prefix}.{}", layout::DISCOVER_TOKEN)
}

/// acton's discovery answer (what DISCOVER answers on the socket), built once
/// for every state of the exposed actors and registered types.
pub(crate) fn discovery_answer(core: &Served<'_>) -> Bytes {
    core.answers.discovery.get_or_build(served_state(core), || {
        Bytes::from(discovery(core).to_string())
    })
}

/// What was last built for a state, kept until the state changes: discovery's
/// answer for the exposed actors and registered types it was built from.
#[derive(Debug)]
pub(crate) struct Cached<T> {
    last: std::sync::Mutex<Option<((u64, u64), T)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            last: std::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> Cached<T> {
    /// The answer for `state`, built by `build` only when `state` changed.
    pub(crate) fn get_or_build(&self, state: (u64, u64), build: impl FnOnce() -> T) -> T {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*last {
            Some((built_for, answer)) if *built_for == state => answer.clone(),
            _ => {
                let answer = build();
                *last = Some((state, answer.clone()));
                answer
            }
        }
    }
}

/// The state every cached answer is built from: the exposed actors' and the
/// registered types' generations.
fn served_state(core: &Served<'_>) -> (u64, u64) {
    (
        core.runtime().ipc_state().exposures(),
        core.runtime().ipc_registry().generation(),
    )
}

/// The answers the bridge keeps while what they describe stays the same.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    discovery: Cached<Bytes>,
    /// `$SRV.PING` and `$SRV.INFO`: each service's answer, by service name.
    pings: Cached<Arc<[(String, Bytes)]>>,
    infos: Cached<Arc<[(String, Bytes)]>>,
}

/// What DISCOVER answers on the socket (with actors, types and schema).
fn discovery(core: &Served<'_>) -> Value {
    let registry = core.runtime().ipc_registry();
    let (schema, schema_fingerprint) = match registry.schema() {
        Some(served) => (Some(served.document), Some(served.fingerprint)),
        None => (None, None),
    };
    let answer = IpcDiscoverResponse {
        correlation_id: String::new(),
        success: true,
        error: None,
        protocol_version: Some(ProtocolVersionInfo::current()),
        actors: Some(
            core.runtime()
                .ipc_state()
                .exposed_actors()
                .into_iter()
                .map(|(name, handle)| ActorInfo {
                    name,
                    ern: handle.name().to_owned(),
                })
                .collect(),
        ),
        message_types: Some(registry.registered_types()),
        schema,
        schema_fingerprint,
    };
    serde_json::to_value(answer).unwrap_or(Value::Null)
}

/// Answers one of NATS's discovery requests (once per service it asks about).
///
/// Charged to the rate limiter like any request, never answered on a subject
/// the bridge does not answer on. PING and INFO are built once per state of the
/// exposed actors and registered types; STATS, which changes with every
/// request, each time.
pub(crate) fn service_answers(core: &Served<'_>, subject: &str) -> Vec<Bytes> {
    let mut tokens = subject.split('.').skip(1);
    let verb = tokens.next().unwrap_or_default();
    let name = tokens.next();
    let id = tokens.next();
    if tokens.next().is_some() || id.is_some_and(|id| id != core.id()) {
        return Vec::new();
    }
    let answers = core.answers;
    let build = |answer: fn(&Served<'_>, &ServiceView) -> Value| {
        services(core)
            .iter()
            .map(|service| {
                let body = Bytes::from(answer(core, service).to_string());
                (service.name.clone(), body)
            })
            .collect::<Arc<[(String, Bytes)]>>()
    };
    let bodies = match verb {
        "PING" => answers
            .pings
            .get_or_build(served_state(core), || build(ping)),
        "INFO" => answers
            .infos
            .get_or_build(served_state(core), || build(info)),
        "STATS" => build(stats),
        _ => return Vec::new(),
    };
    bodies
        .iter()
        .filter(|(service, _)| name.is_none_or(|name| name == service))
        .map(|(_, body)| body.clone())
        .collect()
}

fn identity(core: &Served<'_>, service: &ServiceView, kind: &str) -> Value {
    json!({
        "type": format!("io.nats.micro.v1.{kind}_response"),
        "name": service.name,
        "id": core.id(),
        "version": core.config().version,
        "metadata": {
            "acton.prefix": core.config().prefix,
            "acton.schema": core
                .runtime()
                .ipc_registry()
                .schema()
                .map(|schema| schema.fingerprint)
                .unwrap_or_default(),
        },
    })
}

fn ping(core: &Served<'_>, service: &ServiceView) -> Value {
    identity(core, service, "ping")
}

fn subject(core: &Served<'_>, service: &ServiceView, endpoint: &EndpointView) -> String {
    layout::request_subject(&core.config().prefix, &service.name, &endpoint.message_type)
}

fn info(core: &Served<'_>, service: &ServiceView) -> Value {
    let mut body = identity(core, service, "info");
    body["description"] = json!(service.description);
    body["endpoints"] = service
        .endpoints
        .iter()
        .map(|endpoint| {
            json!({
                "name": endpoint.name,
                "subject": subject(core, service, endpoint),
                "queue_group": core.config().queue_group,
                "metadata": endpoint.metadata,
            })
        })
        .collect();
    body
}

fn stats(core: &Served<'_>, service: &ServiceView) -> Value {
    let mut body = identity(core, service, "stats");
    body["started"] = json!(rfc3339(core.started()));
    body["endpoints"] = service
        .endpoints
        .iter()
        .map(|endpoint| {
            let figures = core
                .endpoints()
                .figures(&service.name, &endpoint.message_type);
            let average = figures
                .processing_ns
                .checked_div(figures.requests)
                .unwrap_or(0);
            json!({
                "name": endpoint.name,
                "subject": subject(core, service, endpoint),
                "queue_group": core.config().queue_group,
                "num_requests": figures.requests,
                "num_errors": figures.errors,
                "last_error": figures.last_error,
                "processing_time": figures.processing_ns,
                "average_processing_time": average,
            })
        })
        .collect();
    body
}

/// `2026-11-28T12:01:02.345Z` (UTC, milliseconds).
fn rfc3339(time: SystemTime) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX);
    let seconds = millis / 1000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = i64::try_from(days).unwrap_or(i64::MAX - 719_468) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339(leap_day), "2000-02-29T00:00:00.123Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_795_867_322);
        assert_eq!(rfc3339(later), "2026-11-28T12:02:02.000Z");
    }

    #[test]
    fn service_names_are_what_nats_accepts() {
        assert!(is_service_name("kv_store"));
        assert!(is_service_name("desk-2"));
        assert!(!is_service_name("a.b"));
        assert!(!is_service_name(""));
        assert!(!is_service_name("caf\u{e9}"));
    }
}
