//! Finding the sealed values of a payload in its stored text, with their places, without
//! building a JSON tree: the opened payload is the stored text with each sealed value's span
//! replaced, which the reader then decodes straight into its event (one tree fewer per event
//! read; see `Store::open_payload_text`).
//!
//! serde_json does the reading: each object or array on the way to a sealed value is read as
//! its entries' raw texts ([`RawValue`], borrowed from the payload), so the place of a value is
//! where its raw text starts in the payload. Only values whose text may hold a sealed value are
//! entered.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use brobyg_domain::personal::SEALED_MARK;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::push_step;
use crate::store::StoreError;

/// A sealed value found in a payload's text.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Found<'a> {
    /// The bytes of the payload's text the sealed object `{"$sealed": …}` takes.
    pub(super) span: Range<usize>,
    /// Its place: the JSON pointer of the object in the payload.
    pub(super) path: String,
    /// The sealed text, `v2:<key id>:<base64>`.
    pub(super) sealed: Cow<'a, str>,
}

/// Whether some value in `text` may be sealed: the mark written out, or any `\u` escape (a key
/// can spell the mark with escapes, and reads as the mark).
fn may_hold_sealed(text: &str) -> bool {
    text.contains(SEALED_MARK) || text.contains("\\u")
}

fn corrupt(what: &str, path: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stored payload: {what} at {path:?}: {e}"))
}

/// The sealed values of the payload `text`, in the order they appear in it.
///
/// An object whose key is the mark is a sealed value: it must have no other key and a text for
/// a value (a stored payload has them so; anything else was written behind the service's back,
/// and fails).
pub(super) fn find_sealed(text: &str) -> Result<Vec<Found<'_>>, StoreError> {
    let mut found = Vec::new();
    if may_hold_sealed(text) {
        walk(text, text, &mut String::new(), &mut found)?;
    }
    Ok(found)
}

/// Finds the sealed values in `raw`, one value's text within the payload `text`, at `path`.
fn walk<'a>(text: &'a str, raw: &'a str, path: &mut String, found: &mut Vec<Found<'a>>) -> Result<(), StoreError> {
    let raw = raw.trim_matches([' ', '\t', '\n', '\r']);
    match raw.as_bytes().first() {
        Some(b'{') => {
            let Entries(entries) = serde_json::from_str(raw).map_err(|e| corrupt("an object", path, e))?;
            if let Some((_, value)) = entries.iter().find(|(key, _)| key.0 == SEALED_MARK) {
                if entries.len() != 1 {
                    return Err(corrupt("a sealed value", path, "it has other fields beside the mark"));
                }
                let Text(sealed) = serde_json::from_str(value.get()).map_err(|e| corrupt("a sealed value", path, e))?;
                found.push(Found { span: span_in(text, raw)?, path: path.clone(), sealed });
                return Ok(());
            }
            for (key, value) in entries {
                if may_hold_sealed(value.get()) {
                    let len = push_step(path, &key.0);
                    walk(text, value.get(), path, found)?;
                    path.truncate(len);
                }
            }
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw).map_err(|e| corrupt("an array", path, e))?;
            for (i, value) in items.into_iter().enumerate() {
                if may_hold_sealed(value.get()) {
                    let len = push_step(path, itoa::Buffer::new().format(i));
                    walk(text, value.get(), path, found)?;
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Where `part`, a slice of `text`, lies in it.
fn span_in(text: &str, part: &str) -> Result<Range<usize>, StoreError> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let span = start..start + part.len();
    // `part` was borrowed from `text` by the reader; checked rather than trusted.
    match text.get(span.clone()) {
        Some(same) if std::ptr::eq(same, part) => Ok(span),
        _ => Err(StoreError::Corrupt("stored payload: a value outside its text".into())),
    }
}

/// A JSON text, borrowed from the payload when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// An object's entries in their order, each value as its raw text.
struct Entries<'a>(Vec<(Text<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<Self::Value, S::Error> {
                Err(serde::de::Error::custom("an array where an object was read"))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(text: &str) -> Vec<(&str, String, String)> {
        find_sealed(text).expect("read").into_iter().map(|f| (&text[f.span], f.path, f.sealed.into_owned())).collect()
    }

    #[test]
    fn sealed_values_are_found_with_their_spans_and_places_in_order() {
        let text = r#"{"a": {"$sealed": "v2:k:AA"}, "b": [1, {"c~/d": { "$sealed" : "v2:k:BB" }}], "e": "$sealed"}"#;
        assert_eq!(
            places(text),
            vec![
                (r#"{"$sealed": "v2:k:AA"}"#, "/a".to_owned(), "v2:k:AA".to_owned()),
                (r#"{ "$sealed" : "v2:k:BB" }"#, "/b/1/c~0~1d".to_owned(), "v2:k:BB".to_owned()),
            ]
        );
    }

    #[test]
    fn a_payload_without_the_mark_is_not_read_and_a_whole_sealed_payload_is_one_value() {
        assert!(find_sealed(r#"{"a": [1, 2, {"b": "x"}]}"#).expect("read").is_empty());
        // Not even read: without the mark there is nothing to find.
        assert!(find_sealed("not JSON").expect("not read").is_empty());
        assert_eq!(
            places(r#" {"$sealed":"v2:k:AA"} "#),
            vec![(r#"{"$sealed":"v2:k:AA"}"#, String::new(), "v2:k:AA".into())]
        );
    }

    #[test]
    fn a_mark_spelt_with_escapes_is_the_mark() {
        let text = r#"{"\u0024sealed": "v2:k:A\u0041", "x": 1}"#;
        assert!(find_sealed(text).is_err(), "beside another field");
        let text = r#"{"a\u002fb": {"\u0024sealed": "v2:k:A\u0041"}}"#;
        assert_eq!(places(text), vec![(r#"{"\u0024sealed": "v2:k:A\u0041"}"#, "/a~1b".into(), "v2:k:AA".into())]);
    }

    #[test]
    fn a_mark_that_is_not_a_sealed_value_fails() {
        for text in [
            r#"{"a": {"$sealed": 5}}"#,
            r#"{"a": {"$sealed": "v2:k:AA", "$sealed": "v2:k:BB"}}"#,
            r#"{"a": {"$sealed": "v2:k:AA", "other": 1}}"#,
            r#"{"a": {"$sealed": "v2:k:AA"}"#,
            r#"{"a": ["$sealed", }"#,
        ] {
            assert!(find_sealed(text).is_err(), "{text}");
        }
    }
}
