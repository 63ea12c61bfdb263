//! `/git/index/…`: the git export of the index over git's smart HTTP protocol, for fetches
//! and clones only. Each request runs `git http-backend` as a CGI program on the bare
//! repository `<git root>/index.git`; its answer is read whole and sent on.
//!
//! Tokens: a git client sends no cargo token, so on an `auth-required` registry the
//! export wants the token as the HTTP Basic password (any user name), which git's and
//! cargo's credential helpers provide; without one it answers 401 with a Basic challenge.

use std::path::Path;
use std::process::Stdio;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use tokio::io::AsyncWriteExt as _;
use wharf_storage::{Scope, StorageError};

use crate::error::ApiError;
use crate::response::Resp;
use crate::state::AppState;

/// Where the export is served.
pub(crate) const PREFIX: &str = "/git/index";
/// The repository's directory inside the git root.
const REPO_DIR: &str = "index.git";
/// The realm of the Basic challenge.
const CHALLENGE: &str = "Basic realm=\"Wharf git index\", charset=\"UTF-8\"";

/// What a request under [`PREFIX`] asks for, checked before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GitRequest {
    /// `GET` of `info/refs` and the other read-only files.
    Read,
    /// `POST /git-upload-pack`: a fetch negotiation, which has a body.
    UploadPack,
}

/// Classifies a request under [`PREFIX`] (`rest` is the path after it), refusing pushes,
/// other methods and paths outside the repository.
pub(crate) fn classify(
    state: &AppState,
    method: &Method,
    rest: &str,
    query: Option<&str>,
) -> Result<GitRequest, ApiError> {
    if state.config.git_index.is_none() {
        return Err(ApiError::not_found(
            "this registry has no git index; use the sparse index at /index/ (an operator turns the git export on with the serve setting `git-index = true`)",
        ));
    }
    if !(rest.is_empty() || rest.starts_with('/')) || rest.split('/').any(|part| part == "..") {
        return Err(ApiError::not_found(format!(
            "no such endpoint: {method} {PREFIX}{rest}"
        )));
    }
    let wants_push = rest == "/git-receive-pack"
        || query.is_some_and(|query| {
            form_urlencoded::parse(query.as_bytes())
                .any(|(key, value)| key == "service" && value == "git-receive-pack")
        });
    if wants_push {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "the git index at {PREFIX} is read-only: it can be fetched and cloned, not pushed to; publish with `cargo publish`"
            ),
        )
        .with_header(header::ALLOW, ""));
    }
    match (method, rest) {
        (&Method::POST, "/git-upload-pack") => Ok(GitRequest::UploadPack),
        (_, "/git-upload-pack") => Err(method_not_allowed(method, rest, "POST")),
        (&Method::GET | &Method::HEAD, _) => Ok(GitRequest::Read),
        _ => Err(method_not_allowed(method, rest, "GET, HEAD")),
    }
}

fn method_not_allowed(method: &Method, rest: &str, allow: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {PREFIX}{rest}; use {allow}"),
    )
    .with_header(header::ALLOW, allow)
}

/// The token a git client presents: the HTTP Basic password, or (as cargo sends it) the
/// raw `Authorization` value, with an optional `Bearer ` prefix.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        let password = password.trim();
        return (!password.is_empty()).then(|| password.to_owned());
    }
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// The token rule of the index files, with git's Basic challenge instead of cargo's.
/// Checked before a request's body is read.
pub(crate) async fn check_reader(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.config.auth_required {
        return Ok(());
    }
    let challenge = |detail: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
            .with_header(header::WWW_AUTHENTICATE, CHALLENGE)
    };
    let Some(token) = presented_token(headers) else {
        return Err(challenge(format!(
            "this registry requires a token: give a token with the `read` scope as the HTTP password for {PREFIX} (any user name), e.g. through a git credential helper"
        )));
    };
    match state.storage.authenticate_async(&token).await {
        Ok(principal) => Ok(principal.require_scope(Scope::Read)?),
        Err(
            error @ (StorageError::InvalidToken
            | StorageError::ExpiredToken
            | StorageError::RevokedToken),
        ) => Err(challenge(error.to_string())),
        Err(other) => Err(other.into()),
    }
}

/// Answers a request [`classify`] and [`check_reader`] accepted, with its body (empty for
/// reads).
pub(crate) async fn serve(
    state: &AppState,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Resp, ApiError> {
    let Some(root) = state.config.git_index.as_deref() else {
        return Err(ApiError::not_found("this registry has no git index"));
    };
    if !root.join(REPO_DIR).join("HEAD").is_file() {
        return Err(ApiError::not_found(format!(
            "the git index is not written yet; it appears at {PREFIX} shortly after the server starts"
        )));
    }
    let head = method == Method::HEAD;
    let output = run_backend(
        root,
        if head { &Method::GET } else { method },
        rest,
        query,
        headers,
        body,
    )
    .await?;
    let mut response = cgi_response(&output)?;
    if head {
        *response.body_mut() = crate::response::Body::empty();
    }
    Ok(response)
}

/// Runs `git http-backend` for one request and returns what it wrote to stdout.
async fn run_backend(
    root: &Path,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Vec<u8>, ApiError> {
    let header_text = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{REPO_DIR}{rest}"))
        .env("QUERY_STRING", query.unwrap_or_default())
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env(
            "HTTP_GIT_PROTOCOL",
            header_text(HeaderName::from_static("git-protocol")),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| {
        ApiError::internal("starting `git http-backend` for the git index", &error)
    })?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A backend that stops reading early ends the pipe; its answer says why.
            let _ = stdin.write_all(&body).await;
        }
    };
    let ((), output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(|error| {
        ApiError::internal("running `git http-backend` for the git index", &error)
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        tracing::warn!(path = %rest, stderr = %stderr.trim(), "git http-backend wrote to stderr");
    }
    if output.stdout.is_empty() {
        return Err(ApiError::internal(
            "serving the git index",
            &format!("`git http-backend` answered nothing ({})", output.status),
        ));
    }
    Ok(output.stdout)
}

/// Turns a CGI answer (header lines, a blank line, the body) into a response.
fn cgi_response(output: &[u8]) -> Result<Resp, ApiError> {
    let (head, body) = split_cgi(output).ok_or_else(|| {
        ApiError::internal(
            "serving the git index",
            &"`git http-backend` answered without headers",
        )
    })?;
    let mut response = Response::new(crate::response::Body::full(Bytes::copy_from_slice(body)));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok());
            *response.status_mut() = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    // Git's "forbidden" means the repository is not exported: for a client that is a
    // missing file, never a 403.
    if response.status() == StatusCode::FORBIDDEN {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(response)
}

/// The header text and the body of a CGI answer.
fn split_cgi(output: &[u8]) -> Option<(String, &[u8])> {
    let crlf = output
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| (at, 4));
    let lf = output
        .windows(2)
        .position(|window| window == b"\n\n")
        .map(|at| (at, 2));
    let (at, len) = match (crlf, lf) {
        (Some(crlf), Some(lf)) => {
            if crlf.0 < lf.0 {
                crlf
            } else {
                lf
            }
        }
        (found, None) | (None, found) => found?,
    };
    let head = String::from_utf8_lossy(&output[..at]).into_owned();
    Some((head, &output[at + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_answers_become_responses() {
        let answer = b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnot here\n";
        let response = cgi_response(answer).unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
        let plain =
            cgi_response(b"Content-Type: application/x-git-upload-pack-result\n\nPACK").unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(cgi_response(b"no blank line").is_err());
    }

    #[test]
    fn tokens_come_as_basic_passwords_or_raw() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_token(&headers), None);
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:s3cret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert_eq!(presented_token(&headers).as_deref(), Some("s3cret"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("raw-token"));
        assert_eq!(presented_token(&headers).as_deref(), Some("raw-token"));
    }
}
