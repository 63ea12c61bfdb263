//! A small, strict reader of JSON text laid out as index lines are: strings without escapes,
//! plain numbers, `true`/`false`/`null`, arrays and objects. It is the fast way through an index
//! line; whenever it meets something it does not handle (an escape, a number with a fraction,
//! a control character in a string, …) it gives up with `None` and the caller parses the line
//! with `serde_json` instead, so it never accepts text `serde_json` would refuse nor reads it
//! differently.

/// How deep [`Cursor::skip_value`] follows nested arrays and objects before giving up.
const MAX_DEPTH: u32 = 32;

/// The index of the first byte of `bytes` that ends or interrupts a plain JSON string: a
/// quote, a backslash or a control character; `None` when there is none. Eight bytes are
/// checked at a time (as serde_json skips through strings): the strings of index lines are
/// short, and a loop over single bytes cost several times as much.
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("a chunk of eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte is zero (or below 0x20) where the subtraction borrows into its high bit.
        let stops = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        if stops & HIGH != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|found| at + found)
}

/// A position in a JSON text.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skips JSON whitespace (space, tab, line feed, carriage return).
    fn skip_blanks(&mut self) {
        let bytes = self.bytes();
        while let Some(&c) = bytes.get(self.at) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_blanks();
        self.bytes().get(self.at).copied()
    }

    /// Consumes `byte` (after whitespace); `None` when something else comes.
    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Consumes `word` (`true`, `false`, `null`) when it comes next.
    fn word(&mut self, word: &[u8]) -> bool {
        self.skip_blanks();
        let found = self.bytes()[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    /// Consumes `null` when it comes next.
    pub(crate) fn null(&mut self) -> bool {
        self.word(b"null")
    }

    /// A string without escapes or control characters (the text between its quotes).
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.at;
        let end = start + string_stop(&bytes[start..])?;
        if bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..end)
    }

    /// Skips a string whose escapes are single characters (`\"`, `\\`, `\n`, …; `\u`
    /// escapes are declined): for values that are checked but not kept, such as a
    /// dependency's `target`, which often quotes.
    pub(crate) fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let mut at = self.at;
        loop {
            at += string_stop(&bytes[at..])?;
            match bytes[at] {
                b'"' => break,
                b'\\' => match *bytes.get(at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                    _ => return None,
                },
                _ => return None,
            }
        }
        self.at = at + 1;
        Some(())
    }

    /// Skips a string (as [`Self::skip_string`]) or `null`.
    pub(crate) fn skip_optional_string(&mut self) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.skip_string()
    }

    /// A string, or `None` inside for `null`.
    #[expect(
        clippy::option_option,
        reason = "the outer `None` declines the text, as everywhere here; the inner one is `null`"
    )]
    pub(crate) fn optional_string(&mut self) -> Option<Option<&'a str>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&mut self) -> Option<bool> {
        if self.word(b"true") {
            Some(true)
        } else if self.word(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A non-negative integer that fits a `u32`, written plainly (no sign, fraction or
    /// exponent).
    pub(crate) fn small_number(&mut self) -> Option<u32> {
        self.skip_blanks();
        let bytes = self.bytes();
        let start = self.at;
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let digits = &bytes[start..end];
        let followed_by_more = matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || followed_by_more {
            return None;
        }
        let value = digits.iter().try_fold(0u32, |value, &c| {
            value.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        })?;
        self.at = end;
        Some(value)
    }

    /// A number of JSON's grammar (`-`, fraction and exponent allowed), skipped.
    fn skip_number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let mut at = self.at;
        let digits = |at: &mut usize| {
            let start = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > start
        };
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        if bytes.get(at) == Some(&b'0') {
            at += 1;
        } else if !digits(&mut at) {
            return None;
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if !digits(&mut at) {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if !digits(&mut at) {
                return None;
            }
        }
        self.at = at;
        Some(())
    }

    /// Skips one value of any kind, checking its syntax.
    pub(crate) fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|cursor, _| cursor.skip_nested(depth + 1)),
            b'[' => self.array(|cursor| cursor.skip_nested(depth + 1)),
            b't' | b'f' => self.boolean().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.skip_number(),
        }
    }

    /// Reads an object, calling `field(cursor, key)` to read each value.
    pub(crate) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array, calling `item(cursor)` to read each element.
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time search finds what a plain loop finds.
    #[test]
    fn string_stops_agree_with_a_plain_search() {
        let mut texts: Vec<Vec<u8>> = vec![Vec::new(), b"abc".to_vec()];
        for stop in [
            b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, b'!', b'#', b'[', b']',
        ] {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = stop;
                texts.push(text.clone());
                text[at / 2] = 0xe9;
                texts.push(text);
            }
        }
        for text in texts {
            let plain = text
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            assert_eq!(string_stop(&text), plain, "{text:?}");
        }
    }

    /// Whatever the cursor accepts, `serde_json` accepts and reads the same way.
    #[test]
    fn accepts_only_what_serde_json_accepts() {
        for text in [
            r#"{"a": [1, -2.5e3, true, false, null, "x", {"b": []}], "c": {}}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "[1 2]",
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": -}"#,
            r#"{"a": 1e}"#,
            r#"{"a": tru}"#,
            r#"{"a": "\u0041"}"#,
            "{\"a\": \"tab\there\"}",
            r#"{"a": [}"#,
            r#"  {"a": "é"}  "#,
            r#"{"a": "say \"hi\"\n\/"}"#,
            r#"{"a": "bad \q"}"#,
        ] {
            let mut cursor = Cursor::new(text);
            let ours = cursor.skip_value().is_some() && cursor.at_end();
            let theirs = serde_json::from_str::<serde_json::Value>(text).is_ok();
            if ours {
                assert!(theirs, "accepted what serde_json refuses: {text}");
            }
        }
        let mut cursor = Cursor::new(r#"{"v": 2, "w": 4294967296, "s": "ab", "n": null}"#);
        let mut seen = Vec::new();
        cursor
            .object(|cursor, key| {
                match key {
                    "v" => seen.push(format!("{:?}", cursor.small_number())),
                    "w" => {
                        seen.push(format!("{:?}", cursor.small_number()));
                        cursor.skip_value()?;
                    }
                    "s" | "n" => seen.push(format!("{:?}", cursor.optional_string())),
                    _ => unreachable!(),
                }
                Some(())
            })
            .unwrap();
        assert_eq!(
            seen,
            ["Some(2)", "None", "Some(Some(\"ab\"))", "Some(None)"]
        );
    }
}
