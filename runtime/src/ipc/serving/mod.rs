//! The serving core: what a request goes through between a transport's bytes
//! and its actor, the same on every transport.
//!
//! A transport (the socket server in [`crate::ipc::server`], the NATS bridge in
//! `crate::nats`) reads its own framing — frames, subjects, headers — and says
//! only what is its own: how a request is addressed, how answers are written,
//! who the caller is. Everything between is here, in the order a request
//! meets it:
//!
//! 1. [`admission`]: the rate limiters ([`TokenBucket`](admission::TokenBucket))
//!    and the caller's fair share of slots and bytes
//!    ([`FairShare`](admission::FairShare)), charged before anything else;
//! 2. [`intake`]: the exposed actor and the registered type looked up, the
//!    payload decoded under a panic guard, the deadline capped, the envelope put
//!    in the mailbox or waiting for room; every failure a
//!    [`Refusal`](intake::Refusal) the transport writes in its own form;
//! 3. the actor's handler answers through the request's reply sink
//!    ([`crate::message::ReplySink`]), which the transport implements.
//!
//! [`IpcState`] holds what every transport shares (the registry, the exposed
//! actors) and the running [`Transport`]s, which the runtime drains before its
//! actors stop. A third transport implements [`Transport`] and walks its
//! requests through [`admission`] and [`intake`].

pub(crate) mod admission;
pub(crate) mod intake;
mod rate_limit;
mod state;
mod transport;

pub(crate) use state::IpcState;
pub(crate) use transport::Transport;
