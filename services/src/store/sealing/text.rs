//! Finding the sealed values of a payload in its stored text, with their places, without
//! building a JSON tree: the opened payload is the stored text with each sealed value's span
//! replaced, which the reader then decodes straight into its event (one tree fewer per event
//! read; see `Store::open_payload_text`).
//!
//! One pass over the text's bytes with the JSON pointer of where it is: a scanner of JSON's
//! structure (objects, arrays, strings with their escapes), not a parser of its values. The
//! text it is given was written by serde_json, and what it finds is read again by serde_json:
//! a sealed value's text and a key with escapes are decoded by it, and the opened payload is
//! decoded by it whole, so a text that is not JSON fails there if not here. serde_json itself
//! gives no byte spans, and reading each object on the way as raw entries (an earlier version)
//! read each byte once per level: three times the cost on a case read.

use std::borrow::Cow;
use std::ops::Range;

use brobyg_domain::personal::SEALED_MARK;

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
    memchr::memmem::find(text.as_bytes(), SEALED_MARK.as_bytes()).is_some()
        || memchr::memmem::find(text.as_bytes(), b"\\u").is_some()
}

/// How deep objects and arrays may nest (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// The sealed values of the payload `text`, in the order they appear in it.
///
/// An object whose key is the mark is a sealed value: it must have no other key and a text for
/// a value (a stored payload has them so; anything else was written behind the service's back,
/// and fails).
pub(super) fn find_sealed(text: &str) -> Result<Vec<Found<'_>>, StoreError> {
    let mut scan = Scanner { text, at: 0, path: String::new(), found: Vec::new() };
    if may_hold_sealed(text) {
        scan.value(0)?;
        scan.space();
        if scan.at != text.len() {
            return Err(scan.fail("text after the payload"));
        }
    }
    Ok(scan.found)
}

struct Scanner<'a> {
    text: &'a str,
    /// The next byte to read.
    at: usize,
    /// The JSON pointer of the value being read.
    path: String,
    found: Vec<Found<'a>>,
}

impl<'a> Scanner<'a> {
    fn fail(&self, what: &str) -> StoreError {
        StoreError::Corrupt(format!("stored payload: {what} at {:?} (byte {})", self.path, self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Reads `byte`, after any space.
    fn expect(&mut self, byte: u8, what: &str) -> Result<(), StoreError> {
        self.space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    /// Reads one value (after any space) at `depth`.
    fn value(&mut self, depth: usize) -> Result<(), StoreError> {
        self.space();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(drop),
            Some(_) => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                let rest = &self.text.as_bytes()[self.at..];
                let len = rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return Err(self.fail("a value"));
                }
                self.at += len;
                Ok(())
            }
            None => Err(self.fail("a value")),
        }
    }

    /// Reads a string at its opening quote; its text as written (between the quotes) and
    /// whether it has escapes.
    fn string(&mut self) -> Result<(&'a str, bool), StoreError> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            let Some(found) = memchr::memchr2(b'"', b'\\', &bytes[at..]) else {
                return Err(self.fail("an unterminated string"));
            };
            at += found;
            if bytes[at] == b'"' {
                break;
            }
            // An escape: the byte after the backslash is not the string's end.
            escaped = true;
            at += 2;
            if at > bytes.len() {
                return Err(self.fail("an unterminated string"));
            }
        }
        self.at = at + 1;
        // Both ends are ASCII quotes: on character boundaries.
        let written = self.text.get(start..at).ok_or_else(|| self.fail("a string"))?;
        Ok((written, escaped))
    }

    /// A string as read: borrowed when it has no escapes, decoded by serde_json when it has.
    fn decoded(&self, written: &'a str, escaped: bool) -> Result<Cow<'a, str>, StoreError> {
        if !escaped {
            return Ok(Cow::Borrowed(written));
        }
        let quoted = self.text.get(written.as_ptr() as usize - self.text.as_ptr() as usize - 1..self.at);
        quoted
            .and_then(|q| serde_json::from_str::<String>(q).ok())
            .map(Cow::Owned)
            .ok_or_else(|| self.fail("a string's escapes"))
    }

    fn object(&mut self, depth: usize) -> Result<(), StoreError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("objects and arrays nested too deep"));
        }
        let start = self.at;
        self.at += 1;
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        let mut first = true;
        loop {
            self.space();
            if self.peek() != Some(b'"') {
                return Err(self.fail("a key"));
            }
            let (written, escaped) = self.string()?;
            let key = self.decoded(written, escaped)?;
            self.expect(b':', "a colon after a key")?;
            if key == SEALED_MARK {
                if !first {
                    return Err(self.fail("a sealed value beside other fields"));
                }
                self.space();
                if self.peek() != Some(b'"') {
                    return Err(self.fail("a sealed value that is not a text"));
                }
                let (written, escaped) = self.string()?;
                let sealed = self.decoded(written, escaped)?;
                self.expect(b'}', "a sealed value beside other fields")?;
                self.found.push(Found { span: start..self.at, path: self.path.clone(), sealed });
                return Ok(());
            }
            first = false;
            let len = push_step(&mut self.path, &key);
            self.value(depth)?;
            self.path.truncate(len);
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("a comma or the end of an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), StoreError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("objects and arrays nested too deep"));
        }
        self.at += 1;
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        let mut index = itoa::Buffer::new();
        for i in 0usize.. {
            let len = push_step(&mut self.path, index.format(i));
            self.value(depth)?;
            self.path.truncate(len);
            self.space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.fail("a comma or the end of an array")),
            }
        }
        Ok(())
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

    proptest::proptest! {
        /// Whatever the text (cut JSON, stray quotes and backslashes, deep nesting), the scanner
        /// ends without a panic, and what it finds lies within the text, starting at an object.
        #[test]
        fn any_text_is_scanned_without_a_panic(text in "[{}\\[\\]\":,\\\\ a0$sealedu]{0,64}") {
            let text = format!("{{\"$sealed\":{text}");
            if let Ok(found) = find_sealed(&text) {
                for f in found {
                    proptest::prop_assert!(text[f.span].starts_with('{'), "a span at an object");
                }
            }
        }
    }

    #[test]
    fn nesting_deeper_than_serde_json_reads_fails() {
        let deep = format!("{}\"$sealed\"{}", "[".repeat(200), "]".repeat(200));
        assert!(find_sealed(&deep).is_err());
        let fine = format!("{}\"$sealed\"{}", "[".repeat(100), "]".repeat(100));
        assert!(find_sealed(&fine).expect("read").is_empty());
    }
}
