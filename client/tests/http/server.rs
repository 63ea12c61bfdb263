//! A small real HTTP/1.1 server on `127.0.0.1:0`, plain or behind TLS, whose answers the test
//! sets per path, and which records every request it gets.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// What the server answers for one path.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// gzip the body when the request accepts gzip.
    pub(crate) gzip: bool,
    /// Extra response headers, as `Name: value` lines.
    pub(crate) headers: Vec<String>,
    /// The answer's `ETag`: sent with it, and a request whose `If-None-Match` equals it gets
    /// an empty 304 instead.
    pub(crate) etag: Option<String>,
}

impl Answer {
    pub(crate) fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            gzip: false,
            headers: Vec::new(),
            etag: None,
        }
    }

    pub(crate) fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            gzip: false,
            headers: Vec::new(),
            etag: None,
        }
    }

    pub(crate) fn gzipped(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Sends `ETag: <etag>`, and answers 304 when `If-None-Match` is `etag`.
    pub(crate) fn etag(mut self, etag: &str) -> Self {
        self.headers.push(format!("ETag: {etag}"));
        self.etag = Some(etag.to_owned());
        self
    }

    /// Adds a response header line (`Name: value`).
    pub(crate) fn header(mut self, line: &str) -> Self {
        self.headers.push(line.to_owned());
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    /// Header names lowercased.
    pub(crate) headers: HashMap<String, String>,
    /// Whether the answer was sent gzip-encoded.
    pub(crate) gzipped: bool,
    /// The status answered.
    pub(crate) status: u16,
}

#[derive(Debug, Default)]
struct Shared {
    /// Answers per path; a path with several answers gives them in turn, the last one for ever.
    answers: HashMap<String, Vec<Answer>>,
    /// When set, requests without `Authorization: <token>` get 401.
    token: Option<String>,
    seen: Vec<Seen>,
}

/// The server; it stops when dropped.
pub(crate) struct TestServer {
    addr: String,
    scheme: &'static str,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `config.json` at `/index/config.json` and nothing else yet, over plain HTTP.
    pub(crate) fn start() -> Self {
        Self::start_with(None)
    }

    /// Like [`TestServer::start`], every connection behind TLS with `tls`.
    pub(crate) fn start_tls(tls: Arc<ServerConfig>) -> Self {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<Arc<ServerConfig>>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().expect("a bound address").to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    let tls = tls.clone();
                    std::thread::spawn(move || match tls {
                        Some(tls) => serve_tls(stream, tls, &shared),
                        None => serve(stream, &shared),
                    });
                }
            })
        };
        let server = Self {
            addr,
            scheme,
            shared,
            stop,
            acceptor: Some(acceptor),
        };
        let config = format!(
            r#"{{"dl":"{scheme}://{}/dl","api":"{scheme}://{}"}}"#,
            server.addr, server.addr
        );
        server.set("/index/config.json", Answer::ok(config));
        server
    }

    /// `sparse+http(s)://127.0.0.1:PORT/index/`.
    pub(crate) fn index_url(&self) -> String {
        format!("sparse+{}://{}/index/", self.scheme, self.addr)
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .expect("an address with a port")
    }

    /// Answers `path` with `answer` from now on.
    pub(crate) fn set(&self, path: &str, answer: Answer) {
        self.set_sequence(path, vec![answer]);
    }

    /// Answers `path` with each of `answers` in turn, then the last one for ever.
    pub(crate) fn set_sequence(&self, path: &str, answers: Vec<Answer>) {
        self.shared
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answers);
    }

    /// The answer currently set for `path` (the last of a sequence).
    pub(crate) fn answer_of(&self, path: &str) -> Answer {
        self.shared.lock().unwrap().answers[path]
            .last()
            .expect("every set path has an answer")
            .clone()
    }

    /// Requires `Authorization: <token>` on every request.
    pub(crate) fn require_token(&self, token: &str) {
        self.shared.lock().unwrap().token = Some(token.to_owned());
    }

    /// Every request so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    /// How many requests asked for `path`.
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.seen().iter().filter(|seen| seen.path == path).count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers one request behind TLS (a client that rejects the certificate ends it during the
/// handshake) and closes the connection cleanly.
fn serve_tls(stream: TcpStream, tls: Arc<ServerConfig>, shared: &Mutex<Shared>) {
    let connection = ServerConnection::new(tls).expect("a TLS server connection");
    let mut stream = StreamOwned::new(connection, stream);
    serve(&mut stream, shared);
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

/// Answers one request and closes the connection.
fn serve(mut stream: impl Read + Write, shared: &Mutex<Shared>) {
    // A GET has no body, so nothing the reader buffers beyond the head is lost.
    let mut reader = BufReader::new(&mut stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let answer = {
        let mut shared = shared.lock().unwrap();
        let authorised = shared
            .token
            .as_ref()
            .is_none_or(|token| headers.get("authorization") == Some(token));
        let answer = if authorised {
            match shared.answers.get_mut(&path) {
                Some(answers) if answers.len() > 1 => answers.remove(0),
                Some(answers) => answers[0].clone(),
                None => Answer::status(404, r#"{"errors":[{"detail":"not found"}]}"#),
            }
        } else {
            Answer::status(401, r#"{"errors":[{"detail":"a token is required"}]}"#)
        };
        let not_modified = answer
            .etag
            .as_ref()
            .is_some_and(|etag| headers.get("if-none-match") == Some(etag));
        let answer = if not_modified {
            Answer {
                status: 304,
                body: Vec::new(),
                gzip: false,
                ..answer
            }
        } else {
            answer
        };
        let accepts_gzip = headers
            .get("accept-encoding")
            .is_some_and(|value| value.contains("gzip"));
        let gzipped = answer.gzip && accepts_gzip;
        shared.seen.push(Seen {
            path,
            headers,
            gzipped,
            status: answer.status,
        });
        (answer, gzipped)
    };
    let (answer, gzipped) = answer;
    let body = if gzipped {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&answer.body).unwrap();
        encoder.finish().unwrap()
    } else {
        answer.body
    };
    let mut head = format!(
        "HTTP/1.1 {} Test\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n",
        answer.status,
        body.len()
    );
    if gzipped {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    for line in &answer.headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    drop(reader);
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}
