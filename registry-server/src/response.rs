//! Small helpers to build responses with the one body type the server uses.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// A response with a body and a content type.
pub(crate) fn bytes_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Resp {
    bytes_response(status, "application/json", body)
}

/// A 200 JSON response from a value.
pub(crate) fn json_ok(value: &serde_json::Value) -> Resp {
    json_response(StatusCode::OK, Bytes::from(value.to_string()))
}

/// An empty response with a status.
pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
