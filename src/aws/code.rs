//! The activation code: read from a Secret, it reaches AWS and nothing else (no log at any
//! level, status, Event, metric or error), so its type cannot be printed.

use std::fmt;

/// A code as the person received it. `Debug` shows no digit; there is no `Display`.
pub struct ActivationCode(String);

impl ActivationCode {
    pub fn new(code: String) -> Self {
        Self(code)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(<redacted>)")
    }
}
