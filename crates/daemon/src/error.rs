//! The daemon's usage error: bad configuration or bad options, which the binary turns into exit
//! code 2 (design.md).

/// Bad usage or bad configuration (exit code 2). The message names the bad key or argument.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
