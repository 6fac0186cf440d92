//! The one wrapper every personal detail travels in.
//!
//! On the wire and in the store a personal value is marked, so the store can seal it without
//! knowing the event's shape: `{"$pii": <value>}`. The store replaces the mark with
//! `{"$sealed": "<ciphertext>"}` at rest, and reads it back; once the value's key is destroyed
//! (crypto-shredding) it reads as `{"$erased": true}`. A reader that does not unseal (the list
//! views, which need no personal data) sees a sealed value as withheld.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The JSON key that marks a personal value in a serialised event.
pub const PII_MARK: &str = "$pii";
/// The JSON key of a sealed personal value.
pub const SEALED_MARK: &str = "$sealed";
/// The JSON key of an erased personal value.
pub const ERASED_MARK: &str = "$erased";

/// Whether a personal value can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Availability {
    /// The value is here.
    #[default]
    Known,
    /// Its key was destroyed: the value is gone for good.
    Erased,
    /// Still sealed: the reader did not unseal it.
    Withheld,
}

/// A personal detail: a name, a birth date, item content, a note about a child.
///
/// Invariant: `Debug` never prints the value, so a personal detail cannot reach a log line or a
/// span through `{:?}`; there is no `Display`. When the value is erased or withheld, `expose`
/// gives `T::default()` and [`Personal::availability`] says why.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Personal<T> {
    value: T,
    availability: Availability,
}

impl<T> Personal<T> {
    /// Wraps a personal detail.
    pub fn new(value: T) -> Self {
        Self { value, availability: Availability::Known }
    }

    /// The detail itself; call only where it is shown to someone allowed to see it. Erased or
    /// withheld details expose the type's default.
    pub fn expose(&self) -> &T {
        &self.value
    }

    /// Unwraps the detail.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Whether the value is here, erased, or withheld.
    pub fn availability(&self) -> Availability {
        self.availability
    }

    /// Whether the value is here.
    pub fn is_known(&self) -> bool {
        self.availability == Availability::Known
    }

    /// The value, if it is here.
    pub fn known(&self) -> Option<&T> {
        self.is_known().then_some(&self.value)
    }
}

impl<T: Default> Personal<T> {
    /// An erased value.
    pub fn erased() -> Self {
        Self { value: T::default(), availability: Availability::Erased }
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.availability {
            Availability::Known => f.write_str("Personal(‹redacted›)"),
            Availability::Erased => f.write_str("Personal(‹erased›)"),
            Availability::Withheld => f.write_str("Personal(‹sealed›)"),
        }
    }
}

impl<T: Serialize> Serialize for Personal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self.availability {
            Availability::Known => map.serialize_entry(PII_MARK, &self.value)?,
            // Erased and withheld values are written as erased: their plaintext is not here.
            Availability::Erased | Availability::Withheld => map.serialize_entry(ERASED_MARK, &true)?,
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Personal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MarkVisitor(std::marker::PhantomData))
    }
}

/// Reads a mark (`{"$pii": v}`, `{"$sealed": …}`, `{"$erased": …}`) as it comes, without
/// buffering the value first: every load of every event reads its personal values here.
struct MarkVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de> + Default> de::Visitor<'de> for MarkVisitor<T> {
    type Value = Personal<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("personal value: one of $pii, $sealed, $erased")
    }

    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let one = || de::Error::custom("personal value: expected one of $pii, $sealed, $erased");
        let personal = match map.next_key::<Mark>()?.ok_or_else(one)? {
            Mark::Pii => Self::Value::new(
                map.next_value::<T>()
                    .map_err(|_| de::Error::custom("personal value: $pii holds a value of the wrong type"))?,
            ),
            Mark::Erased => {
                map.next_value::<de::IgnoredAny>()?;
                Self::Value { value: T::default(), availability: Availability::Erased }
            }
            Mark::Sealed => {
                map.next_value::<de::IgnoredAny>()?;
                Self::Value { value: T::default(), availability: Availability::Withheld }
            }
            Mark::Other(other) => return Err(de::Error::custom(format!("personal value: unknown mark {other:?}"))),
        };
        match map.next_key::<de::IgnoredAny>()? {
            None => Ok(personal),
            Some(_) => Err(one()),
        }
    }
}

/// The key of a mark, read without allocating for the three known ones.
enum Mark {
    Pii,
    Erased,
    Sealed,
    Other(String),
}

impl<'de> Deserialize<'de> for Mark {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;
        impl de::Visitor<'_> for Key {
            type Value = Mark;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mark: $pii, $sealed or $erased")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mark, E> {
                Ok(match v {
                    PII_MARK => Mark::Pii,
                    ERASED_MARK => Mark::Erased,
                    SEALED_MARK => Mark::Sealed,
                    other => Mark::Other(other.to_owned()),
                })
            }
        }
        deserializer.deserialize_identifier(Key)
    }
}

/// Whose data key seals the personal values of an event. By default the organisation that
/// wrote the event; an event whose personal values belong to another organisation names it,
/// so that this organisation's erasure (crypto-shredding its key) reaches them.
pub trait KeyHolder {
    /// The organisation other than the writer whose key seals this event's personal values.
    fn key_holder(&self) -> Option<&crate::Org> {
        None
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

    #[test]
    fn personal_values_are_marked_and_read_back_known_erased_or_withheld() {
        let p = Personal::new("Mikkel".to_owned());
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(json, r#"{"$pii":"Mikkel"}"#);
        assert_eq!(serde_json::from_str::<Personal<String>>(&json).expect("back"), p);
        let erased: Personal<String> = serde_json::from_str(r#"{"$erased":true}"#).expect("erased");
        assert_eq!((erased.availability(), erased.expose().as_str()), (Availability::Erased, ""));
        let sealed: Personal<String> = serde_json::from_str(r#"{"$sealed":"v1.abc"}"#).expect("sealed");
        assert_eq!(sealed.availability(), Availability::Withheld);
        assert_eq!(serde_json::to_string(&sealed).expect("json"), r#"{"$erased":true}"#);
        let date: Personal<chrono::NaiveDate> = serde_json::from_str(r#"{"$pii":"2012-03-14"}"#).expect("date");
        assert_eq!(date.expose().to_string(), "2012-03-14");
        assert!(serde_json::from_str::<Personal<String>>(r#""plain""#).is_err());
        assert!(serde_json::from_str::<Personal<String>>(r#"{"$pii":"a","$erased":true}"#).is_err());
        let refused = |json: &str| serde_json::from_str::<Personal<String>>(json).expect_err(json).to_string();
        assert!(refused(r#"{"$pii":5}"#).contains("$pii holds a value of the wrong type"));
        assert!(refused(r#"{"$plain":"a"}"#).contains("unknown mark \"$plain\""));
        assert!(refused("{}").contains("expected one of $pii, $sealed, $erased"));
        assert!(refused(r#"{"$erased":true,"$erased":true}"#).contains("expected one of"));
        // Read from a tree, as a fold of stored events does, alike.
        let tree = serde_json::json!({"$pii": "Mikkel"});
        assert_eq!(serde_json::from_value::<Personal<String>>(tree).expect("tree").expose(), "Mikkel");
        assert!(serde_json::from_value::<Personal<String>>(serde_json::json!({"$pii": 5})).is_err());
    }
}
