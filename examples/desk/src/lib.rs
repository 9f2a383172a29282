//! The example trading desk: the services of `schema/messages.yaml`, implemented
//! on the handler traits `acton-gen` generated, and started on one socket.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acton_reactive::ipc::service::{RequestContext, Status, StreamSink};
use acton_reactive::ipc::{IpcConfig, IpcListenerHandle};
use acton_reactive::prelude::*;
use example_messages::*;

/// The calculator: arithmetic, counting streams, a log.
#[derive(Debug)]
pub struct Calculator {
    started: Instant,
    log: Mutex<Vec<(Level, String)>>,
    /// Streams being sent now (reported by `health`): a client that leaves a
    /// stream can see its handler stop.
    active_streams: Arc<AtomicU32>,
}

impl Default for Calculator {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            active_streams: Arc::default(),
        }
    }
}

/// Counts a stream as active until dropped (when its handler returns).
struct ActiveStream(Arc<AtomicU32>);

impl ActiveStream {
    fn start(count: &Arc<AtomicU32>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl CalculatorHandler for Calculator {
    async fn add(&self, _ctx: RequestContext, request: AddRequest) -> Result<AddResponse, Status> {
        Ok(AddResponse {
            sum: request.a.wrapping_add(request.b),
        })
    }

    async fn divide(
        &self,
        _ctx: RequestContext,
        request: DivideRequest,
    ) -> Result<Quotient, DivideError> {
        let DivideRequest { dividend, divisor } = request;
        if divisor == 0 {
            return Err(DivisionByZero { dividend }.into());
        }
        // i64::MIN / -1 overflows: wrap, as `add` does.
        Ok(Quotient {
            quotient: dividend.wrapping_div(divisor),
            remainder: dividend.wrapping_rem(divisor),
        })
    }

    async fn factorials(
        &self,
        _ctx: RequestContext,
        request: FactorialsRequest,
        items: StreamSink<Factorial>,
    ) -> Result<(), FactorialsError> {
        let _active = ActiveStream::start(&self.active_streams);
        let mut value: u32 = 1;
        for n in 0..=request.up_to {
            if n > 1 {
                value = value.checked_mul(n).ok_or(Overflow { at: n })?;
            }
            if items.send(Factorial { n, value }).await.is_err() {
                break; // nobody listens any more
            }
        }
        Ok(())
    }

    async fn count(
        &self,
        _ctx: RequestContext,
        request: CountRequest,
        items: StreamSink<Counted>,
    ) -> Result<(), Status> {
        let _active = ActiveStream::start(&self.active_streams);
        for value in 0..request.up_to {
            if request.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
            }
            if items.send(Counted { value }).await.is_err() {
                break; // nobody listens any more
            }
        }
        Ok(())
    }

    async fn log(&self, _ctx: RequestContext, request: LogEvent) {
        if let Ok(mut log) = self.log.lock() {
            log.push((request.level, request.line));
        }
    }

    async fn health(
        &self,
        _ctx: RequestContext,
        _request: HealthCheck,
    ) -> Result<HealthStatus, Status> {
        Ok(HealthStatus {
            status: "ok".to_owned(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            active_streams: self.active_streams.load(Ordering::SeqCst),
        })
    }
}

/// A stored value and when it expires.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

/// The key-value store.
#[derive(Debug, Default)]
pub struct KvStore {
    entries: Mutex<HashMap<String, Entry>>,
}

impl KvStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KvStoreHandler for KvStore {
    async fn put(&self, _ctx: RequestContext, request: Put) -> Result<Stored, Status> {
        let expires = request
            .ttl_ms
            .map(|ttl| Instant::now() + Duration::from_millis(ttl));
        let entry = Entry {
            value: request.value.into_vec(),
            expires,
        };
        let previous = self.entries().insert(request.key.clone(), entry);
        Ok(Stored {
            key: request.key,
            replaced: previous.is_some(),
        })
    }

    async fn get(&self, _ctx: RequestContext, request: Get) -> Result<GetResult, GetError> {
        let mut entries = self.entries();
        let live = entries
            .get(&request.key)
            .filter(|entry| entry.expires.is_none_or(|at| at > Instant::now()))
            .map(|entry| entry.value.clone());
        match live {
            Some(value) => Ok(GetResult {
                key: request.key,
                value: value.into(),
            }),
            None => {
                // Expired entries go on the first read that finds them stale.
                entries.remove(&request.key);
                Err(NotFound { key: request.key }.into())
            }
        }
    }

    async fn list_keys(
        &self,
        _ctx: RequestContext,
        request: ListKeys,
        items: StreamSink<KeyName>,
    ) -> Result<(), Status> {
        let mut keys: Vec<String> = self
            .entries()
            .keys()
            .filter(|key| key.starts_with(&request.prefix))
            .cloned()
            .collect();
        keys.sort();
        for key in keys {
            if items.send(KeyName { key }).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// The price feed: accepts orders and subscriptions; quotes are broadcast with
/// [`publish`].
#[derive(Debug, Default)]
pub struct Prices {
    next_order: AtomicU64,
}

impl PricesHandler for Prices {
    async fn subscribe(
        &self,
        _ctx: RequestContext,
        request: Subscribe,
    ) -> Result<Subscribed, Status> {
        Ok(Subscribed {
            symbols: request.symbols,
        })
    }

    async fn place(&self, _ctx: RequestContext, order: Order) -> Result<OrderAccepted, Status> {
        Ok(OrderAccepted {
            id: self.next_order.fetch_add(1, Ordering::Relaxed) + 1,
            order,
        })
    }
}

/// Broadcasts a price update to every subscriber (in-process and over IPC).
pub async fn publish(runtime: &ActorRuntime, update: PriceUpdate) -> usize {
    runtime.broker().broadcast(update).await
}

/// Starts every service of the desk and listens on `socket`.
///
/// # Errors
/// When the listener cannot start (see [`acton_reactive::ipc::IpcError`]).
pub async fn start(
    runtime: &ActorRuntime,
    socket: &Path,
) -> Result<IpcListenerHandle, acton_reactive::ipc::IpcError> {
    let config = IpcConfig {
        socket_path: socket.to_path_buf(),
        ..IpcConfig::default()
    };
    start_with(runtime, config).await
}

/// Starts every service of the desk with a listener configured by `config`.
///
/// # Errors
/// When the listener cannot start (see [`acton_reactive::ipc::IpcError`]).
pub async fn start_with(
    runtime: &ActorRuntime,
    config: IpcConfig,
) -> Result<IpcListenerHandle, acton_reactive::ipc::IpcError> {
    serve_all(runtime).await;
    runtime.start_ipc_listener_with_config(config).await
}

/// Starts and exposes every service of the desk, without a listener (start one,
/// or a NATS bridge, or both, afterwards).
pub async fn serve_all(runtime: &ActorRuntime) {
    serve_calculator(runtime, Calculator::default()).await;
    serve_kv_store(runtime, KvStore::default()).await;
    serve_prices(runtime, Prices::default()).await;
}
