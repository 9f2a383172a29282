//! Paths shared with the published `acton-reactive` crate, so that code written
//! against it compiles unchanged:
//!
//! ```
//! use acton_reactive::common::ipc::{IpcConfig, RateLimitConfig};
//!
//! let config = IpcConfig {
//!     rate_limit: Some(RateLimitConfig { requests_per_second: 100, burst_size: 10 }),
//!     ..IpcConfig::default()
//! };
//! assert_eq!(config.max_connections, 100);
//! ```

/// The IPC layer under the published crate's path: the same items as
/// [`crate::ipc`] (feature `ipc`).
#[cfg(feature = "ipc")]
pub mod ipc {
    pub use crate::ipc::*;
}
