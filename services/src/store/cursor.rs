//! The opaque feed cursor handed to consumers.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A position in the global order: the last event a reader has seen.
///
/// On PostgreSQL it is `(tx_id, global_position)`; on SQLite `tx_id` is 0 and `position` is the
/// feed position. Consumers see it only as an opaque string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The inserting transaction (PostgreSQL `xid8`), 0 on SQLite.
    pub tx: u64,
    /// The global position.
    pub position: i64,
}

/// A cursor string that this service did not hand out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not one this service handed out")]
pub struct InvalidCursor;

impl Cursor {
    /// The start of the feed, before every event.
    pub const START: Self = Self { tx: 0, position: 0 };
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(format!("v1.{}.{}", self.tx, self.position)))
    }
}

impl FromStr for Cursor {
    type Err = InvalidCursor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let mut parts = text.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(tx), Some(position), None) => Ok(Self {
                tx: tx.parse().map_err(|_| InvalidCursor)?,
                position: position.parse().map_err(|_| InvalidCursor)?,
            }),
            _ => Err(InvalidCursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_strings_are_refused() {
        let c = Cursor { tx: 7_000_000_123, position: 42 };
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        assert_eq!("v1.1.2".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!("".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!(URL_SAFE_NO_PAD.encode("v1.x.2").parse::<Cursor>(), Err(InvalidCursor));
    }
}
