//! A tampering HTTP proxy for verification tests: a real HTTP/1.1 server on `127.0.0.1:0`
//! in front of a running `wharf serve` that forwards each request and rewrites the answer
//! by rule, as a hostile mirror, CDN or network would: flip a byte in a line, inject a
//! dependency, copy a line to another name, replay an old document, drop or add a line,
//! serve a forged log (a rewritten leaf, a fork), stream endless data or drip it.
//!
//! `config.json` is always rewritten so its `api` and `dl` point at the proxy, so every
//! request of a client goes through it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A rewrite of a body, given the request's query string.
pub type EditFn = dyn Fn(&str, &[u8]) -> Vec<u8> + Send + Sync;

/// What a rule does to an answer.
pub enum Action {
    /// Serve these bytes with status 200.
    Replace(Vec<u8>),
    /// Rewrite the upstream body (with status 200); the closure gets the request's query
    /// string (empty when none) and the upstream body.
    Edit(Box<EditFn>),
    /// Answer this status with an empty body.
    Status(u16),
    /// Stream data without end (until the client hangs up).
    Endless,
    /// Send the upstream body one byte at a time, waiting this long between bytes.
    Drip(Duration),
}

/// One rewrite: requests whose path (without the query) matches get `action`.
pub struct Rule {
    path: String,
    prefix: bool,
    query: Option<String>,
    action: Action,
}

impl Rule {
    /// A rule for requests to exactly `path` (e.g. `/index/.wharf/timestamp`).
    pub fn exact(path: &str, action: Action) -> Self {
        Self {
            path: path.to_owned(),
            prefix: false,
            query: None,
            action,
        }
    }

    /// A rule for every path starting with `prefix`.
    pub fn prefix(prefix: &str, action: Action) -> Self {
        Self {
            path: prefix.to_owned(),
            prefix: true,
            query: None,
            action,
        }
    }

    /// Restricts the rule to requests with exactly this query string.
    #[must_use]
    pub fn with_query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    fn matches(&self, path: &str, query: Option<&str>) -> bool {
        let path_ok = if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        };
        path_ok
            && self
                .query
                .as_deref()
                .is_none_or(|wanted| Some(wanted) == query)
    }
}

type Rules = Arc<Mutex<Vec<Rule>>>;

/// The running proxy; stops when dropped.
pub struct TamperProxy {
    addr: String,
    rules: Rules,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for TamperProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TamperProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TamperProxy {
    /// Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:41234`).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address").to_string();
        let rules: Rules = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let http = reqwest::blocking::Client::builder()
            .no_gzip()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let (accept_rules, accept_stop, own) =
            (Arc::clone(&rules), Arc::clone(&stop), addr.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (rules, http, upstream, own) = (
                    Arc::clone(&accept_rules),
                    http.clone(),
                    upstream.clone(),
                    own.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve(stream, &rules, &http, &upstream, &own);
                });
            }
        });
        Self { addr, rules, stop }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The sparse index URL through the proxy.
    pub fn index_url(&self) -> String {
        format!("sparse+http://{}/index/", self.addr)
    }

    /// Replaces every rule.
    pub fn set(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap_or_else(PoisonError::into_inner) = rules;
    }

    /// Adds a rule (the first matching rule wins).
    pub fn add(&self, rule: Rule) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rule);
    }

    /// Removes every rule: the proxy forwards faithfully again.
    pub fn clear(&self) {
        self.set(Vec::new());
    }
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

/// One request as received.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("GET").to_owned(),
        parts.next().unwrap_or("/").to_owned(),
    );
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().unwrap_or(0);
            }
            if !["host", "connection", "content-length", "accept-encoding"]
                .iter()
                .any(|skip| name.eq_ignore_ascii_case(skip))
            {
                headers.push((name, value));
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Sends the request upstream; returns status, content type and body (502 when upstream is
/// unreachable).
fn forward(
    http: &reqwest::blocking::Client,
    upstream: &str,
    request: Request,
) -> (u16, String, Vec<u8>) {
    let mut outgoing = http.request(
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET),
        format!("{upstream}{}", request.target),
    );
    for (name, value) in &request.headers {
        outgoing = outgoing.header(name, value);
    }
    match outgoing.body(request.body).send() {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain")
                .to_owned();
            let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
            (status, content_type, body)
        }
        Err(_) => (
            502,
            "text/plain".to_owned(),
            b"upstream unreachable".to_vec(),
        ),
    }
}

/// Serves one connection: one request, `Connection: close`.
fn serve(
    mut out: TcpStream,
    rules: &Rules,
    http: &reqwest::blocking::Client,
    upstream: &str,
    own: &str,
) -> std::io::Result<()> {
    let request = read_request(&out)?;
    let (path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (request.target.clone(), String::new()),
    };
    let (mut status, content_type, mut answer) = forward(http, upstream, request);
    if path == "/index/config.json" {
        let own_url = format!("http://{own}");
        answer = String::from_utf8_lossy(&answer)
            .replace(upstream, &own_url)
            .into_bytes();
    }
    let rules = rules.lock().unwrap_or_else(PoisonError::into_inner);
    let query_given = (!query.is_empty()).then_some(query.as_str());
    match rules
        .iter()
        .find(|rule| rule.matches(&path, query_given))
        .map(|rule| &rule.action)
    {
        None => {}
        Some(Action::Replace(bytes)) => {
            status = 200;
            answer.clone_from(bytes);
        }
        Some(Action::Edit(edit)) => {
            status = 200;
            answer = edit(&query, &answer);
        }
        Some(Action::Status(code)) => {
            status = *code;
            answer.clear();
        }
        Some(Action::Endless) => {
            drop(rules);
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
            )?;
            let chunk = vec![b'a'; 64 * 1024];
            loop {
                out.write_all(&chunk)?;
            }
        }
        Some(Action::Drip(pause)) => {
            let pause = *pause;
            drop(rules);
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            )?;
            for byte in answer {
                out.write_all(&[byte])?;
                out.flush()?;
                std::thread::sleep(pause);
            }
            return Ok(());
        }
    }
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    )?;
    out.write_all(&answer)?;
    out.flush()
}

/// An [`Action::Edit`] from a closure over the body alone.
pub fn edit(edit: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> Action {
    Action::Edit(Box::new(move |_, body| edit(body)))
}

/// Applies `edit` to the line of an index file for `version` (the line whose `"vers"` is
/// it); other lines are kept byte for byte.
pub fn edit_line(file: &[u8], version: &str, edit: impl Fn(&str) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(file);
    let needle = format!("\"vers\":\"{version}\"");
    let mut out = String::new();
    for line in text.split_terminator('\n') {
        if line.contains(&needle) {
            out.push_str(&edit(line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Removes the line for `version` from an index file.
pub fn drop_line(file: &[u8], version: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(file);
    let needle = format!("\"vers\":\"{version}\"");
    text.split_terminator('\n')
        .filter(|line| !line.contains(&needle))
        .flat_map(|line| [line, "\n"])
        .collect::<String>()
        .into_bytes()
}

/// Adds `line` at the end of an index file.
pub fn add_line(file: &[u8], line: &str) -> Vec<u8> {
    let mut out = file.to_vec();
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out
}
