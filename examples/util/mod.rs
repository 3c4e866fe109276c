//! What the experiment examples share.

use std::str::FromStr;

/// `$NAME` parsed, or `default`.
pub fn env<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
