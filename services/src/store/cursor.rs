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

    /// The form a cursor is stored and signed in (base64url of `v1.<tx>.<position>`): in the
    /// database's cursor columns (compared as text there, so one form only, the one every
    /// earlier version wrote), in signed checkpoints' messages and wherever a checkpoint is
    /// shown, so that every signature ever made still verifies by its documented message. The
    /// API's parameters and answers use the plain form (`Display`); both parse.
    #[must_use]
    pub fn stored_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1.{}.{}", self.tx, self.position))
    }
}

/// The form of a cursor in the API's contract (`pattern` of every cursor parameter): any text of
/// this form names a position, so a client may hold it as long as it likes.
pub const CURSOR_PATTERN: &str = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$";

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.tx, self.position)
    }
}

impl FromStr for Cursor {
    type Err = InvalidCursor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `v1.<tx>.<position>`; earlier versions wrote it base64url-encoded (stored subscription
        // and consumer cursors, cursors clients still hold): both are read.
        let text = if s.starts_with("v1.") {
            s.to_owned()
        } else {
            String::from_utf8(URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?).map_err(|_| InvalidCursor)?
        };
        let number = |t: &str| -> Result<u64, InvalidCursor> {
            if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidCursor);
            }
            t.parse().map_err(|_| InvalidCursor)
        };
        let mut parts = text.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(tx), Some(position), None) => Ok(Self {
                tx: number(tx)?,
                // 18 digits fit an i64.
                position: i64::try_from(number(position)?).map_err(|_| InvalidCursor)?,
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
        assert_eq!(c.to_string(), "v1.7000000123.42");
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        // The form earlier versions wrote still reads.
        assert_eq!(URL_SAFE_NO_PAD.encode("v1.7000000123.42").parse::<Cursor>(), Ok(c));
        assert_eq!("".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!("v1.1".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!("v1.-1.2".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!("v1.+1.2".parse::<Cursor>(), Err(InvalidCursor));
        assert_eq!(URL_SAFE_NO_PAD.encode("v1.x.2").parse::<Cursor>(), Err(InvalidCursor));
        let pattern = CURSOR_PATTERN.trim_start_matches('^').trim_end_matches('$');
        assert!(pattern.starts_with(r"v1\."), "{pattern}");
    }
}
