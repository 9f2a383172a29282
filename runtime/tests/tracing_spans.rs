//! The server's tracing spans: one per connection (peer credentials) and one per
//! request (target, type, correlation id, outcome, duration), seen by a
//! subscriber over a real socket.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::collections::HashMap;
use std::fmt::Debug;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::ipc::protocol::ErrorCode;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as recorded: its name and every field value, as text.
#[derive(Debug, Clone, Default)]
struct Recorded {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

/// A subscriber that keeps every span and its fields.
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, Recorded>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// The subscriber handed to tracing; the test keeps another reference.
struct Shared(Arc<Recorder>);

impl Subscriber for Shared {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut recorded = Recorded {
            name: span.metadata().name(),
            parent: span.parent().map(Id::into_u64),
            ..Recorded::default()
        };
        span.record(&mut Fields(&mut recorded.fields));
        self.0.spans.lock().unwrap().insert(id, recorded);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(recorded) = self.0.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut recorded.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn named(&self, name: &str) -> Vec<(u64, Recorded)> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, span)| span.name == name)
            .map(|(id, span)| (*id, span.clone()))
            .collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn connections_and_requests_have_spans_with_their_outcome() {
    let recorder = Arc::new(Recorder::default());
    let _default = tracing::subscriber::set_default(Shared(Arc::clone(&recorder)));

    let server = default_server("spans").await;
    let client = IpcClient::connect(&server.path).await.unwrap();
    let sum: AddResponse = client
        .request("calculator", "AddRequest", &AddRequest { a: 1, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 3);
    let error = client
        .request::<_, Number>("calculator", "Silent", &Silent)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::IoError));

    let connections = recorder.named("ipc.connection");
    assert_eq!(connections.len(), 1, "{connections:?}");
    let (connection_id, connection) = &connections[0];
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(connection.fields["peer_uid"], me.to_string());
    assert_eq!(
        connection.fields["peer_pid"],
        std::process::id().to_string()
    );

    let requests = recorder.named("ipc.request");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let by_type = |message_type: &str| {
        requests
            .iter()
            .map(|(_, span)| span)
            .find(|span| span.fields["message_type"] == message_type)
            .unwrap()
            .clone()
    };
    let add = by_type("AddRequest");
    assert_eq!(add.parent, Some(*connection_id));
    assert_eq!(add.fields["target"], "calculator");
    assert!(add.fields["correlation_id"].starts_with("rs"), "{add:?}");
    assert_eq!(add.fields["outcome"], "ok");
    assert!(add.fields["duration_us"].parse::<u64>().is_ok(), "{add:?}");
    let silent = by_type("Silent");
    assert_eq!(silent.fields["outcome"], "IO_ERROR");
    server.stop().await;
}
