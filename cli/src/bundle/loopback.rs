//! A GET-only HTTP/1.1 server on `127.0.0.1:0` that answers each request from a function of
//! its path and query: export records a registry through it, import and unpack serve the
//! staged bundle through it, so the verifier that `wharf verify` runs checks a bundle over
//! the same requests it sends a live registry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Answers `path?query` (the query only when the request has one) with a body, or `None`
/// for 404.
pub(crate) type Answer = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

/// Starts the server on its own thread; returns its origin (`http://127.0.0.1:PORT`). The
/// server lives as long as the process.
pub(crate) fn start(answer: Arc<Answer>) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("binding a loopback port to serve the bundle")?;
    listener
        .set_nonblocking(true)
        .context("setting up the loopback listener")?;
    let address: SocketAddr = listener
        .local_addr()
        .context("reading the loopback address")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the loopback server's runtime")?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((stream, _)) = listener.accept().await {
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let answer = Arc::clone(&answer);
                        async move { Ok::<_, Infallible>(respond(&answer, &request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    Ok(format!("http://{address}"))
}

async fn respond(
    answer: &Arc<Answer>,
    request: &Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let answer = Arc::clone(answer);
    // The answer may block (export fetches upstream with a blocking client), so it runs on
    // a thread of its own, outside the runtime.
    let body = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || answer(&target))
            .join()
            .ok()
            .flatten()
    })
    .await
    .ok()
    .flatten();
    if let Some(body) = body {
        Response::new(Full::new(Bytes::from(body)))
    } else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    }
}
