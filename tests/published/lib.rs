//! Nothing to build: this package only brings the published crate's sources.
