//! The end-to-end tests live in `tests/`: each starts the local stack (moto server from the
//! project's `.venv`, provider-sim, the built function binaries under devstack's Lambda Runtime
//! API host) and drives it over HTTP through the real SDK clients. They need
//! `cargo build --workspace --bins` and `make tools` first, which `make test` does; this package
//! is not a default member, so a plain `cargo test` at the root leaves it out.
