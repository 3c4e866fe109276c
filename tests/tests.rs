//! The single integration-test binary (see `Cargo.toml`: `autotests = false`).

mod reference;
mod util;
