//! The generated Rust for `codegen/tests/everything.yaml`, compiled (and linted):
//! with the default options at the crate's root, and with the `Builder`'s options
//! in `client_only` and `server_only`.

include!("../snapshots/rust/everything.rs");

/// Client-only output, with `Pong` mapped to [`pong::Pong`] and extra attributes.
pub mod client_only {
    include!("../snapshots/rust/client_only.rs");
}

/// Server-only output.
pub mod server_only {
    include!("../snapshots/rust/server_only.rs");
}

/// An existing Rust type the client-only output maps the schema's `Pong` to.
pub mod pong {
    /// The schema's `Pong`, written by hand.
    #[derive(
        Clone,
        Debug,
        PartialEq,
        Eq,
        acton_reactive::serde::Serialize,
        acton_reactive::serde::Deserialize,
    )]
    #[serde(crate = "acton_reactive::serde")]
    pub struct Pong {
        /// When.
        pub at: u64,
    }
}
