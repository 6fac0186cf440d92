//! The one wrapper every personal detail travels in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A personal detail: a name, a birth date, item content, a note about a child.
///
/// Invariant: `Debug` never prints the value, so a personal detail cannot reach a log line or a
/// span through `{:?}`; there is no `Display`. The store seals values of this type at rest.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    /// Wraps a personal detail.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The detail itself; call only where it is shown to someone allowed to see it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the detail.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(‹redacted›)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let p = Personal::new("Mikkel Jensen".to_owned());
        assert!(!format!("{p:?}").contains("Mikkel"));
        assert_eq!(p.expose(), "Mikkel Jensen");
    }
}
