//! One round of a crash test: publishers in flight while the server is killed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::TestRegistry;

/// Sends one publish of `name` `version` to the registry at `url` with `http`; true when it
/// was acknowledged with 200.
pub type SendPublish = dyn Fn(&reqwest::blocking::Client, &str, &str, &str) -> bool + Send + Sync;

/// Runs `publishers` threads, each publishing its own package `{prefix}-{worker}` at versions
/// 1.0.0, 1.0.1, … through `send`, kills the registry with SIGKILL after `delay`, starts it
/// again on the same data and returns the `(name, version)` pairs acknowledged before the
/// kill.
pub fn publish_until_killed(
    registry: &mut TestRegistry,
    prefix: &str,
    publishers: usize,
    delay: Duration,
    send: &Arc<SendPublish>,
) -> Vec<(String, String)> {
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..publishers {
        let url = registry.url();
        let (stop, acknowledged, send) = (
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            Arc::clone(send),
        );
        let http = registry.http();
        let name = format!("{prefix}-{worker}");
        workers.push(std::thread::spawn(move || {
            for patch in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let version = format!("1.0.{patch}");
                if !send(&http, &url, &name, &version) {
                    break;
                }
                acknowledged
                    .lock()
                    .expect("no poisoned lock")
                    .push((name.clone(), version));
            }
        }));
    }
    std::thread::sleep(delay);
    registry.kill9();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("publisher threads do not panic");
    }
    registry.start_again();
    acknowledged.lock().expect("no poisoned lock").clone()
}
