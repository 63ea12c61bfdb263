//! Small helpers to build responses with the one body type the server uses: bytes in
//! memory, or a blob streamed from the store as it is read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use hyper::body::{Frame, SizeHint};
use wharf_storage::{BlobStream, StorageError};

/// The response type of every handler.
pub type Resp = Response<Body>;

/// The body of every response: bytes held in memory, or a blob sent a chunk at a time as the
/// store delivers it (a download never holds a large `.crate` whole).
#[derive(Debug)]
pub struct Body(Kind);

#[derive(Debug)]
enum Kind {
    /// Everything at once (or nothing, once sent).
    Bytes(Option<Bytes>),
    /// A blob; its length is announced up front.
    Blob(BlobStream),
}

impl Body {
    /// A body of `bytes`.
    #[must_use]
    pub fn full(bytes: Bytes) -> Self {
        Self(Kind::Bytes(Some(bytes).filter(|bytes| !bytes.is_empty())))
    }

    /// An empty body.
    #[must_use]
    pub fn empty() -> Self {
        Self(Kind::Bytes(None))
    }

    /// A body streamed from `blob`.
    #[must_use]
    pub fn blob(blob: BlobStream) -> Self {
        Self(Kind::Blob(blob))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = StorageError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StorageError>>> {
        match &mut self.get_mut().0 {
            Kind::Bytes(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Kind::Blob(blob) => blob.poll_chunk(cx).map(|chunk| {
                chunk.map(|chunk| {
                    chunk.map(Frame::data).inspect_err(|error| {
                        // The client sees the connection end before the announced length.
                        tracing::warn!(%error, "reading a blob from the store failed mid-download");
                    })
                })
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Kind::Bytes(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            Kind::Blob(blob) => SizeHint::with_exact(blob.size()),
        }
    }
}

/// A response with a body and a content type.
pub(crate) fn bytes_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut response = Response::new(Body::full(body));
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
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
