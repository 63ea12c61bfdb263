//! Reading one request head with `httparse` and deciding whether the fast path may answer it.

use std::mem::MaybeUninit;

use crate::handlers::index::Conditions;

use super::wire::Version;

/// Header lines the fast path reads; a head with more goes to hyper (which allows 100).
const MAX_HEADERS: usize = 32;

/// What the bytes at the front of a connection's buffer are.
#[derive(Debug)]
pub(crate) enum Head<'a> {
    /// A complete `GET` or `HEAD` without a body that the fast path may answer.
    Fast(FastRequest<'a>),
    /// The start of a head; more bytes are needed.
    Partial,
    /// Anything else (another method, a body, `Expect`, `Upgrade`, a parse error, more
    /// header lines than the fast path reads): hyper answers it.
    Other,
}

/// A request the fast path may answer, borrowing from the buffer.
#[derive(Debug)]
pub(crate) struct FastRequest<'a> {
    /// Bytes of the head, request line to blank line.
    pub(crate) length: usize,
    /// The request target: an origin-form path without query.
    pub(crate) path: &'a str,
    /// `HEAD` rather than `GET`.
    pub(crate) head_only: bool,
    /// HTTP/1.0 or HTTP/1.1.
    pub(crate) version: Version,
    /// Whether the connection stays open after the answer, as hyper decides it.
    pub(crate) keep_alive: bool,
    /// The headers the answer depends on.
    pub(crate) conditions: Conditions<'a>,
}

/// Reads the head at the start of `buf`.
pub(crate) fn read_head(buf: &[u8]) -> Head<'_> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Head::Other,
    };
    let Some(path) = request
        .path
        .filter(|p| p.starts_with('/') && !p.bytes().any(|b| b == b'?' || b == b'#'))
    else {
        return Head::Other;
    };
    let version = match request.version {
        Some(1) => Version::Http11,
        Some(0) => Version::Http10,
        _ => return Head::Other,
    };
    let mut keep_alive = version == Version::Http11;
    let mut saw_close = false;
    let mut conditions = Conditions::default();
    for header in &*request.headers {
        let name = header.name;
        let slot = if name.eq_ignore_ascii_case("if-none-match") {
            &mut conditions.if_none_match
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            &mut conditions.if_modified_since
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            &mut conditions.accept_encoding
        } else if name.eq_ignore_ascii_case("connection") {
            // As hyper reads it: once a line asks to close, a later `keep-alive` does not
            // undo it; HTTP/1.0 stays open only when asked.
            if saw_close || connection_has(header.value, "close") {
                saw_close = true;
                keep_alive = false;
            } else if !keep_alive {
                keep_alive = connection_has(header.value, "keep-alive");
            }
            continue;
        } else if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Head::Other;
        } else {
            continue;
        };
        slot.get_or_insert(header.value);
    }
    Head::Fast(FastRequest {
        length,
        path,
        head_only,
        version,
        keep_alive,
        conditions,
    })
}

/// Whether a `Connection` value lists `token` (hyper's `connection_has`).
fn connection_has(value: &[u8], token: &str) -> bool {
    std::str::from_utf8(value).is_ok_and(|value| {
        value
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(bytes: &[u8]) -> FastRequest<'_> {
        match read_head(bytes) {
            Head::Fast(request) => request,
            other => panic!("not fast: {other:?}"),
        }
    }

    #[test]
    fn a_cargo_fetch_is_fast_with_its_conditions() {
        let bytes = b"GET /index/se/rd/serde HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\
                      If-None-Match: \"abc\"\r\n\r\nGET /next";
        let request = fast(bytes);
        assert_eq!(request.length, bytes.len() - b"GET /next".len());
        assert_eq!(request.path, "/index/se/rd/serde");
        assert!(!request.head_only && request.keep_alive);
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.conditions.if_none_match, Some(&b"\"abc\""[..]));
        assert_eq!(request.conditions.accept_encoding, Some(&b"gzip"[..]));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_lines() {
        assert!(!fast(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!fast(b"GET /a HTTP/1.0\r\n\r\n").keep_alive);
        assert!(fast(b"HEAD /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        let twice = b"GET /a HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n";
        assert!(!fast(twice).keep_alive);
    }

    #[test]
    fn anything_else_goes_to_hyper() {
        for other in [
            &b"POST /index/a HTTP/1.1\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            b"GET /a?x=1 HTTP/1.1\r\n\r\n",
            b"GET http://h/a HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /a HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(matches!(read_head(other), Head::Other), "{other:?}");
        }
        assert!(matches!(read_head(b"GET /a HTTP/1.1\r\nHo"), Head::Partial));
    }
}
