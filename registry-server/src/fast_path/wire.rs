//! Response heads written as bytes, prepared once per index file version.
//!
//! The bytes are the ones hyper writes for the same answer (see `Server::encode` in hyper's
//! `proto/h1/role.rs`): the status line, the prepared header fields in their order with
//! lower-case names, `connection` when the connection's keep-alive differs from its version's
//! default, `content-length` (not on a 304), then `date` and the blank line.

use http::{HeaderMap, StatusCode};

use super::clock;

/// The head of one prepared answer, without the version and the per-request fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WireHead {
    /// `"200 OK\r\n"` and every prepared header line.
    status_and_fields: Box<[u8]>,
    /// `"content-length: N\r\n"`, empty for a 304.
    length_line: Box<[u8]>,
}

/// The four answers of one index file version (see
/// [`PreparedHeaders`](crate::index_cache::PreparedHeaders)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WireHeads {
    /// 200 with the identity bytes.
    pub(crate) ok: WireHead,
    /// 200 with the gzip bytes.
    pub(crate) ok_gzip: WireHead,
    /// 304 for the identity representation.
    pub(crate) not_modified: WireHead,
    /// 304 for the gzip representation.
    pub(crate) not_modified_gzip: WireHead,
}

impl WireHead {
    /// The head of an answer with `status`, `fields` and a body of `length` bytes (`None`
    /// for a 304, which carries no `content-length`).
    pub(crate) fn new(status: StatusCode, fields: &HeaderMap, length: Option<usize>) -> Self {
        let mut head = Vec::with_capacity(64 + fields.len() * 48);
        head.extend_from_slice(status.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        head.extend_from_slice(b"\r\n");
        for (name, value) in fields {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let length_line = length.map_or_else(Vec::new, |length| {
            format!("content-length: {length}\r\n").into_bytes()
        });
        Self {
            status_and_fields: head.into_boxed_slice(),
            length_line: length_line.into_boxed_slice(),
        }
    }

    /// Appends this head, as answered on a connection of `version` with `keep_alive`, to `out`.
    pub(crate) fn write(&self, version: Version, keep_alive: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(match version {
            Version::Http10 => b"HTTP/1.0 ",
            Version::Http11 => b"HTTP/1.1 ",
        });
        out.extend_from_slice(&self.status_and_fields);
        match (version, keep_alive) {
            (Version::Http11, false) => out.extend_from_slice(b"connection: close\r\n"),
            (Version::Http10, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
            _ => {}
        }
        out.extend_from_slice(&self.length_line);
        out.extend_from_slice(b"date: ");
        clock::write_date(out);
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// The HTTP/1 version of a request, which its answer repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// HTTP/1.0: the connection closes after the answer unless the request asked to keep it.
    Http10,
    /// HTTP/1.1: the connection stays open unless the request asked to close it.
    Http11,
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, header};

    use super::*;

    #[test]
    fn a_head_lists_the_fields_in_order_then_length_and_date() {
        let mut fields = HeaderMap::new();
        fields.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        fields.insert(header::ETAG, HeaderValue::from_static("\"abc\""));
        let head = WireHead::new(StatusCode::OK, &fields, Some(12));
        let mut out = Vec::new();
        head.write(Version::Http11, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        let (before_date, date) = text.split_once("date: ").unwrap();
        assert_eq!(
            before_date,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\netag: \"abc\"\r\n\
             connection: close\r\ncontent-length: 12\r\n"
        );
        assert!(date.ends_with(" GMT\r\n\r\n"), "{date:?}");
        assert!(
            httpdate::parse_http_date(date.trim_end()).is_ok(),
            "{date:?}"
        );
    }

    #[test]
    fn a_not_modified_head_has_no_length_and_keeps_http_1_0_alive_when_asked() {
        let head = WireHead::new(StatusCode::NOT_MODIFIED, &HeaderMap::new(), None);
        let mut out = Vec::new();
        head.write(Version::Http10, true, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.0 304 Not Modified\r\nconnection: keep-alive\r\ndate: "),
            "{text:?}"
        );
    }
}
