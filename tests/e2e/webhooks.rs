//! Webhooks over real HTTP: a receiver on 127.0.0.1:0 answers 500 to the first delivery
//! and 200 after; it checks each body's `Wharf-Signature` (HMAC-SHA256 computed here from
//! RFC 2104, independently of the server's), sees the retry, and receives the publish,
//! yank, deprecation and advisory events; the delivery log shows both attempts; only the
//! administrator registers webhooks. A delivery whose receiver is down survives a restart of
//! the server and arrives signed once the receiver is up, and the database files never hold
//! the secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wharf_e2e_tests::TestResult;

use crate::lifecycle::{Lifecycle, ok};

const SECRET: &str = "a-long-webhook-secret-for-tests";

/// RFC 2104 HMAC with SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0_u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

/// One received request: its event header, signature header and body, and whether it was
/// answered 200.
pub(crate) struct Received {
    pub(crate) event: String,
    pub(crate) signature: String,
    pub(crate) body: String,
    pub(crate) answered_ok: bool,
}

/// A receiver answering 500 to its first request and 200 to the others.
fn receiver() -> TestResult<(String, mpsc::Receiver<Received>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    Ok((url, serve(listener, |count| count >= 1)))
}

/// Answers the requests on `listener` (counted from 0) for which `succeeds` says so with 200
/// and the others with 500, passing each on.
pub(crate) fn serve(
    listener: TcpListener,
    succeeds: impl Fn(usize) -> bool + Send + 'static,
) -> mpsc::Receiver<Received> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for (count, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
            let (mut length, mut event, mut signature) = (0, String::new(), String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if let Some(value) = lower.strip_prefix("wharf-event:") {
                    value.trim().clone_into(&mut event);
                }
                if lower.starts_with("wharf-signature:") {
                    line["wharf-signature:".len()..]
                        .trim()
                        .clone_into(&mut signature);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answered_ok = succeeds(count);
            let status = if answered_ok {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let _ = send.send(Received {
                event,
                signature,
                body: String::from_utf8_lossy(&body).into_owned(),
                answered_ok,
            });
        }
    });
    receive
}

/// `POST /api/wharf/v1/webhooks` registering `url` (with [`SECRET`]) with `token`.
fn register(
    lifecycle: &Lifecycle,
    token: &str,
    url: &str,
) -> reqwest::Result<reqwest::blocking::Response> {
    lifecycle
        .registry
        .http()
        .post(format!(
            "{}/api/wharf/v1/webhooks",
            lifecycle.registry.url()
        ))
        .header("Authorization", token)
        .json(&serde_json::json!({ "url": url, "secret": SECRET }))
        .send()
}

/// Registers `url` as the administrator.
pub(crate) fn register_as_admin(lifecycle: &Lifecycle, url: &str) -> TestResult {
    let registered = register(lifecycle, &lifecycle.admin, url)?;
    assert_eq!(registered.status().as_u16(), 200, "{}", registered.text()?);
    Ok(())
}

#[test]
#[allow(clippy::too_many_lines)] // one receiver through four events and the log
fn webhooks_are_signed_retried_after_a_500_and_logged() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let (url, received) = receiver()?;
    let refused = register(&lifecycle, &lifecycle.alice, &url)?;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text()?.contains("needs the role tenant-admin"));
    register_as_admin(&lifecycle, &url)?;

    // A deprecation: the first delivery gets 500, the retry 200, both signed alike.
    ok(&lifecycle.wharf(
        &["deprecate", "widget", "--message", "use new-widget"],
        &lifecycle.alice,
    ));
    let first = received.recv_timeout(Duration::from_secs(30))?;
    let retry = received.recv_timeout(Duration::from_secs(30))?;
    for delivery in [&first, &retry] {
        assert_eq!(delivery.event, "deprecate");
        assert_eq!(
            delivery.signature,
            format!(
                "sha256={}",
                hmac_sha256(SECRET.as_bytes(), delivery.body.as_bytes())
            )
        );
        let body: serde_json::Value = serde_json::from_str(&delivery.body)?;
        assert_eq!(body["event"], "deprecate");
        assert_eq!(body["target"], "widget");
        assert_eq!(body["actor"], "alice");
    }
    assert_eq!(first.body, retry.body, "a retry sends the same event");

    // A yank and an advisory are announced too.
    let yank = lifecycle
        .registry
        .http()
        .delete(format!(
            "{}/api/v1/crates/widget/1.0.0/yank",
            lifecycle.registry.url()
        ))
        .header("Authorization", &lifecycle.alice)
        .send()?;
    assert_eq!(yank.status().as_u16(), 200);
    assert_eq!(
        received.recv_timeout(Duration::from_secs(30))?.event,
        "yank"
    );
    ok(&lifecycle.wharf(
        &[
            "admin",
            "advisory",
            "publish",
            "--id",
            "WHARF-2026-0002",
            "--package",
            "widget",
            "--affected",
            "<1.1.0",
            "--severity",
            "low",
            "--description",
            "a test",
        ],
        &lifecycle.admin,
    ));
    assert_eq!(
        received.recv_timeout(Duration::from_secs(30))?.event,
        "advisory.publish"
    );

    // The delivery log holds the failed attempt and the retry.
    let log: serde_json::Value = lifecycle
        .registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/webhooks/deliveries",
            lifecycle.registry.url()
        ))
        .header("Authorization", &lifecycle.admin)
        .send()?
        .json()?;
    let deprecations: Vec<(u64, String)> = log["deliveries"]
        .as_array()
        .ok_or("a deliveries list")?
        .iter()
        .filter(|d| d["event"] == "deprecate")
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap_or(0),
                d["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(deprecations.contains(&(1, "500".to_owned())), "{log}");
    assert!(deprecations.contains(&(2, "200".to_owned())), "{log}");
    Ok(())
}

/// The outbox rows of the registry (`GET /api/wharf/v1/webhooks/deliveries`).
pub(crate) fn outbox(lifecycle: &Lifecycle) -> TestResult<Vec<serde_json::Value>> {
    let log: serde_json::Value = lifecycle
        .registry
        .http()
        .get(format!(
            "{}/api/wharf/v1/webhooks/deliveries",
            lifecycle.registry.url()
        ))
        .header("Authorization", &lifecycle.admin)
        .send()?
        .json()?;
    Ok(log["outbox"].as_array().ok_or("an outbox list")?.clone())
}

/// Whether any file of the data directory's database holds `needle`.
fn database_holds(data: &std::path::Path, needle: &[u8]) -> TestResult<bool> {
    for entry in std::fs::read_dir(data)? {
        let path = entry?.path();
        let is_database = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("wharf.db"));
        if is_database
            && std::fs::read(&path)?
                .windows(needle.len())
                .any(|window| window == needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[test]
fn a_delivery_pending_at_a_stop_arrives_after_the_restart() -> TestResult {
    let mut lifecycle = Lifecycle::start()?;
    // The receiver's address, with nothing listening on it yet: the receiver is down.
    let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let url = format!("http://{address}/hook");
    register_as_admin(&lifecycle, &url)?;

    // The secret is sealed: no database file holds it; the key is beside the signing keys.
    let data = lifecycle.registry.data_dir().to_path_buf();
    assert!(!database_holds(&data, SECRET.as_bytes())?);
    let key = data.join("keys").join("webhooks.key");
    assert!(key.exists(), "{}", key.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    }

    let published = lifecycle
        .registry
        .http()
        .put(format!("{}/api/v1/crates/new", lifecycle.registry.url()))
        .header("Authorization", &lifecycle.alice)
        .body(wharf_e2e_tests::upload::publish_body_with_deps(
            "widget",
            "1.2.0",
            &[("host-api", "^1")],
        ))
        .send()?;
    assert_eq!(published.status().as_u16(), 200, "{}", published.text()?);

    // The first attempt finds nobody listening; the delivery stays pending.
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    loop {
        let rows = outbox(&lifecycle)?;
        let tried = rows
            .iter()
            .any(|row| row["event"] == "publish" && row["attempts"].as_u64() >= Some(1));
        if tried {
            let row = &rows[0];
            assert_eq!(row["state"], "pending", "{row}");
            assert!(
                row["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("no answer")),
                "{row}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt was recorded: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    lifecycle.registry.restart();
    let received = serve(TcpListener::bind(address)?, |_| true);
    let delivery = received.recv_timeout(Duration::from_mins(2))?;
    assert_eq!(delivery.event, "publish");
    assert_eq!(
        delivery.signature,
        format!(
            "sha256={}",
            hmac_sha256(SECRET.as_bytes(), delivery.body.as_bytes())
        )
    );
    let body: serde_json::Value = serde_json::from_str(&delivery.body)?;
    assert_eq!(body["event"], "publish");
    assert_eq!(body["target"], "widget@1.2.0");
    assert_eq!(body["actor"], "alice");

    // The outbox says delivered, after at least two attempts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = outbox(&lifecycle)?;
        if rows[0]["state"] == "delivered" {
            assert!(rows[0]["attempts"].as_u64() >= Some(2), "{rows:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!database_holds(&data, SECRET.as_bytes())?);
    Ok(())
}
