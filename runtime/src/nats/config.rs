//! The bridge's settings. Every default is safe; limits mirror the socket's.

use std::path::PathBuf;
use std::time::Duration;

use super::layout;
use super::NatsError;
use crate::ipc::serving::admission::ShareLimits;
use crate::ipc::{Format, RateLimitConfig};

/// How [`start_nats_bridge`](crate::runtime::ActorRuntime::start_nats_bridge)
/// connects and serves.
///
/// ```
/// use acton_reactive::nats::NatsConfig;
/// use std::time::Duration;
///
/// let config = NatsConfig::new("nats://10.0.0.5:4222")
///     .prefix("desk")
///     .credentials_file("/etc/desk/desk.creds")
///     .max_in_flight(512)
///     .max_request_timeout(Duration::from_secs(60));
/// assert_eq!(config.subject_prefix(), "desk");
/// ```
#[derive(Debug, Clone)]
pub struct NatsConfig {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) queue_group: String,
    pub(crate) name: Option<String>,
    pub(crate) credentials_file: Option<PathBuf>,
    pub(crate) user_and_password: Option<(String, String)>,
    pub(crate) token: Option<String>,
    pub(crate) tls_roots: Option<PathBuf>,
    pub(crate) tls_client: Option<(PathBuf, PathBuf)>,
    pub(crate) require_tls: bool,
    pub(crate) version: String,
    pub(crate) max_in_flight: usize,
    pub(crate) max_in_flight_per_caller: Option<usize>,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) default_timeout: Duration,
    pub(crate) max_request_timeout: Duration,
    pub(crate) mailbox_wait: Duration,
    pub(crate) rate_limit: Option<RateLimitConfig>,
    pub(crate) push_format: Format,
    pub(crate) outgoing_budget: usize,
    pub(crate) service_api: bool,
}

impl NatsConfig {
    /// Serves on the NATS server(s) at `url` (`nats://host:port`, several separated
    /// by commas), under the prefix `acton`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: layout::DEFAULT_PREFIX.to_owned(),
            queue_group: "acton".to_owned(),
            name: None,
            credentials_file: None,
            user_and_password: None,
            token: None,
            tls_roots: None,
            tls_client: None,
            require_tls: false,
            version: "0.0.0".to_owned(),
            max_in_flight: 1024,
            max_in_flight_per_caller: None,
            max_queued_bytes: 32 * 1024 * 1024,
            max_message_size: None,
            default_timeout: Duration::from_secs(30),
            max_request_timeout: Duration::from_secs(300),
            mailbox_wait: Duration::from_secs(5),
            rate_limit: None,
            push_format: Format::Json,
            outgoing_budget: 8 * 1024 * 1024,
            service_api: true,
        }
    }

    /// The first token(s) of every subject (`acton` by default): requests go to
    /// `{prefix}.{service}.{MessageType}`, pushes to `{prefix}.push.{MessageType}`.
    /// Processes with the same prefix are replicas of each other.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The prefix.
    pub fn subject_prefix(&self) -> &str {
        &self.prefix
    }

    /// The queue group replicas share requests through (`acton`).
    #[must_use]
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = group.into();
        self
    }

    /// The connection's name, as the NATS server shows it.
    #[must_use]
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with a NATS credentials file (JWT and NKey seed).
    #[must_use]
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials_file = Some(path.into());
        self
    }

    /// Authenticates with a user name and password.
    #[must_use]
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.user_and_password = Some((user.into(), password.into()));
        self
    }

    /// Authenticates with a token.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Trusts the certificate authorities in this PEM file for the NATS server's
    /// certificate (and uses TLS).
    #[must_use]
    pub fn tls_root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_roots = Some(path.into());
        self.require_tls = true;
        self
    }

    /// Presents this client certificate and key (PEM files) to the NATS server.
    #[must_use]
    pub fn tls_client_certificate(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls_client = Some((cert.into(), key.into()));
        self
    }

    /// Refuses to connect without TLS (`tls://` URLs ask for it too).
    #[must_use]
    pub fn require_tls(mut self, required: bool) -> Self {
        self.require_tls = required;
        self
    }

    /// The version `$SRV.INFO` reports for the services (semantic versioning;
    /// `0.0.0` by default).
    #[must_use]
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// At most this many requests wait for their answers at once (1024); more are
    /// refused with LIMIT_EXCEEDED at once.
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// At most this many requests of one caller wait for their answers at once
    /// (a quarter of [`max_in_flight`](Self::max_in_flight)), so that three
    /// quarters stay for everyone else; more are refused with LIMIT_EXCEEDED.
    /// The caller is told apart by its reply subject's inbox prefix (docs/nats.md,
    /// "Threat model", says what that can and cannot tell apart).
    #[must_use]
    pub fn max_in_flight_per_caller(mut self, max: usize) -> Self {
        self.max_in_flight_per_caller = Some(max.max(1));
        self
    }

    /// Bytes of received requests that may wait for the bridge to read them
    /// (32 MiB, all services together). Beyond it, requests are dropped
    /// unanswered and counted (`NatsBridgeStats::shed`): what waits is bounded
    /// in bytes, whatever the number of messages.
    #[must_use]
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes.max(1);
        self
    }

    /// Requests with larger payloads are refused with LIMIT_EXCEEDED (by default
    /// the NATS server's own `max_payload`, which it enforces on every message).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// How long a request that names no timeout waits (30 s).
    #[must_use]
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The longest timeout a request may ask for (5 min); longer ones are cut to
    /// it. Callers on NATS may be on other machines and are not known to the
    /// server: a long cap lets one of them hold a slot that long.
    #[must_use]
    pub fn max_request_timeout(mut self, timeout: Duration) -> Self {
        self.max_request_timeout = timeout;
        self
    }

    /// How long a request waits for room in a full mailbox before TARGET_BUSY (5 s).
    #[must_use]
    pub fn mailbox_wait(mut self, wait: Duration) -> Self {
        self.mailbox_wait = wait;
        self
    }

    /// Limits the requests the bridge takes (all callers together); beyond it they
    /// are refused with RATE_LIMITED. NATS does not say which process sent a
    /// message, so this protects the server rather than sharing it fairly.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimitConfig) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The format broadcasts are published in (JSON).
    #[must_use]
    pub fn push_format(mut self, format: Format) -> Self {
        self.push_format = format;
        self
    }

    /// Bytes of stream items and pushes that may wait for the NATS connection
    /// (8 MiB); beyond it stream handlers wait and pushes are dropped.
    #[must_use]
    pub fn outgoing_budget(mut self, bytes: usize) -> Self {
        self.outgoing_budget = bytes.max(1);
        self
    }

    /// Whether to answer NATS's service discovery (`$SRV.PING`, `$SRV.INFO`,
    /// `$SRV.STATS`); on by default.
    #[must_use]
    pub fn service_api(mut self, on: bool) -> Self {
        self.service_api = on;
        self
    }

    /// The fair shares of requests in flight and of the bytes of requests waiting
    /// for a mailbox.
    pub(crate) fn share_limits(&self) -> ShareLimits {
        let mut limits = ShareLimits::quarter_each(self.max_in_flight, self.max_queued_bytes);
        if let Some(per_caller) = self.max_in_flight_per_caller {
            limits.slots_per_caller = per_caller.min(self.max_in_flight);
        }
        limits
    }

    pub(crate) fn check(&self) -> Result<(), NatsError> {
        if !layout::is_prefix(&self.prefix) {
            return Err(NatsError::Config(format!(
                "the prefix `{}` is not a NATS subject: use tokens of letters, digits, `-` and `_` joined by `.`",
                self.prefix
            )));
        }
        if !layout::is_token(&self.queue_group) {
            return Err(NatsError::Config(format!(
                "the queue group `{}` must be one subject token",
                self.queue_group
            )));
        }
        if !self.push_format.is_supported() {
            return Err(NatsError::Config(
                "pushes in MessagePack need the `ipc-messagepack` feature".to_owned(),
            ));
        }
        Ok(())
    }

    pub(crate) fn connect_options(&self) -> Result<async_nats::ConnectOptions, NatsError> {
        let mut options = match &self.credentials_file {
            None => async_nats::ConnectOptions::new(),
            Some(path) => {
                let contents = std::fs::read_to_string(path).map_err(|error| {
                    NatsError::Config(format!(
                        "cannot read the credentials file {}: {error}",
                        path.display()
                    ))
                })?;
                async_nats::ConnectOptions::with_credentials(&contents).map_err(|error| {
                    NatsError::Config(format!(
                        "the credentials file {} is not valid: {error}",
                        path.display()
                    ))
                })?
            }
        };
        options = options.name(self.name.as_deref().unwrap_or("acton-bridge"));
        if let Some((user, password)) = &self.user_and_password {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(roots) = &self.tls_roots {
            options = options.add_root_certificates(roots.clone());
        }
        if let Some((cert, key)) = &self.tls_client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options.require_tls(self.require_tls))
    }
}
