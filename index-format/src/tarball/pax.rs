//! A strict reader of PAX extended-header records: `"<len> <key>=<value>\n"`, repeated.

use std::collections::BTreeMap;

/// Parses every record of a PAX extended header. Stricter than POSIX readers: the length
/// must be exact decimal without leading zeros, keys must be UTF-8 and unique, and values
/// must not contain a newline (some readers split records on newlines).
pub(crate) fn parse_pax_records(mut data: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut records = BTreeMap::new();
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .filter(|&at| at > 0 && at <= 20)
            .ok_or("a record does not start with `<length> `")?;
        let digits = &data[..space];
        if !digits.iter().all(u8::is_ascii_digit) || digits[0] == b'0' {
            return Err(format!(
                "record length `{}` is not a decimal number",
                digits.escape_ascii()
            ));
        }
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("record length does not fit")?;
        if length > data.len() || length < space + 3 {
            return Err(format!(
                "record length {length} does not fit the {} bytes left",
                data.len()
            ));
        }
        let (record, rest) = data.split_at(length);
        data = rest;
        let body = record[space + 1..]
            .strip_suffix(b"\n")
            .ok_or_else(|| format!("record of length {length} does not end in a newline"))?;
        let equals = body
            .iter()
            .position(|&b| b == b'=')
            .filter(|&at| at > 0)
            .ok_or("a record has no `key=`")?;
        let (key, value) = (&body[..equals], &body[equals + 1..]);
        let key = std::str::from_utf8(key)
            .map_err(|_| format!("key `{}` is not UTF-8", key.escape_ascii()))?;
        if value.contains(&b'\n') || key.contains('\0') {
            return Err(format!("record `{key}` contains a newline or NUL"));
        }
        if records.insert(key.to_owned(), value.to_vec()).is_some() {
            return Err(format!("key `{key}` appears twice"));
        }
    }
    Ok(records)
}

/// Formats one record with its self-inclusive length, for building test archives.
#[cfg(test)]
pub(crate) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut length = body_len + 1;
    while length.to_string().len() + body_len != length {
        length += 1;
    }
    let mut out = format!("{length} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_well_formed_records() {
        let mut data = pax_record("path", b"demo-1.0.0/src/lib.rs");
        data.extend(pax_record("size", b"12"));
        let records = parse_pax_records(&data).unwrap();
        assert_eq!(records["path"], b"demo-1.0.0/src/lib.rs");
        assert_eq!(records["size"], b"12");
    }

    #[test]
    fn refuses_malformed_records() {
        let mut twice = pax_record("path", b"a");
        twice.extend(pax_record("path", b"b"));
        for (data, expected) in [
            (b"9 path=ab\n".to_vec(), "does not end in a newline"),
            (b"012 path=ab\n".to_vec(), "not a decimal number"),
            (b"99 path=ab\n".to_vec(), "does not fit"),
            (b"path=ab\n".to_vec(), "does not start with"),
            (b"7 =abc\n".to_vec(), "no `key=`"),
            (twice, "appears twice"),
            (pax_record("path", b"a\nb"), "newline"),
        ] {
            let err = parse_pax_records(&data).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}
