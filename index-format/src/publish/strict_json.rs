//! A JSON reader stricter than serde_json's defaults: UTF-8 only, no byte-order mark, and
//! no object with the same key twice (at any depth), so two readers can never see
//! different values in one document.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as one JSON object. The error is a reason phrased for a person.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err("the document starts with a UTF-8 byte-order mark".to_owned());
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(format!(
            "the document is not UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ));
    }
    let StrictValue(value) = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("expected a JSON object, found {}", kind_of(&other))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A [`Value`] whose objects were checked for duplicate keys while parsing.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_plain_object() {
        let map = parse_object(br#"{"a":[1,{"b":null}],"c":"d"}"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn refuses_what_two_readers_could_read_differently() {
        let cases: [(&[u8], &str); 6] = [
            (b"\xEF\xBB\xBF{}", "byte-order mark"),
            (b"{\"a\":\"\xFF\"}", "not UTF-8 (bad byte at offset 6)"),
            (br#"{"a":1,"a":2}"#, "duplicate key `a`"),
            (br#"{"f":{"x":[],"x":["y"]}}"#, "duplicate key `x`"),
            (b"[1]", "expected a JSON object, found an array"),
            (b"{} {}", "trailing characters"),
        ];
        for (bytes, expected) in cases {
            let err = parse_object(bytes).unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }
}
