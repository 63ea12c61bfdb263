//! Async index sources: [`AsyncIndexSource`] and [`run_with_async_source`], which runs the
//! (synchronous) resolver on a thread of its own while the caller's async task answers its
//! requests for packages, so no runtime thread blocks. The dependencies named in each
//! answer are fetched ahead, a few at a time, while the resolver works.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::stream::{FuturesUnordered, StreamExt as _};
use wharf_index_format::{DependencyKind, IndexEntry};

use crate::{IndexSource, ResolveError};

/// How many index requests [`run_with_async_source`] keeps in flight ahead of the resolver.
pub const PREFETCH_IN_FLIGHT: usize = 8;

/// A source of index entries whose reads are async (an HTTP client on a runtime, say).
/// Resolve through one with [`run_with_async_source`].
pub trait AsyncIndexSource: Sync {
    /// Every version of `name`, as [`IndexSource::versions`] returns them: `Ok(empty)` when
    /// the package does not exist, [`ResolveError::index`] when it cannot be read.
    fn versions(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<[IndexEntry]>, ResolveError>> + Send;
}

/// A request from the resolver's thread.
struct Request {
    name: String,
    reply: std::sync::mpsc::SyncSender<Result<Arc<[IndexEntry]>, ResolveError>>,
}

/// The resolver's view of the async source: each read is a request answered by the task
/// that runs [`run_with_async_source`].
struct Bridge {
    requests: mpsc::UnboundedSender<Request>,
}

impl IndexSource for Bridge {
    fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
        let gone = || ResolveError::index(name, "the async index source stopped answering");
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.requests
            .unbounded_send(Request {
                name: name.to_owned(),
                reply,
            })
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

/// Runs `work` (which resolves with the [`IndexSource`] it is given) on a new thread and
/// answers its reads from `source` on the calling task; returns what `work` returns.
/// Dropping the returned future makes the remaining reads fail, so `work` ends soon after.
///
/// ```
/// use std::sync::Arc;
/// use wharf_resolver::{
///     AsyncIndexSource, IndexEntry, IndexSource, MemoryIndex, Requirements, ResolveError,
///     Resolver, run_with_async_source,
/// };
///
/// /// Stands for an HTTP client: answers from memory, asynchronously.
/// struct Remote(MemoryIndex);
///
/// impl AsyncIndexSource for Remote {
///     async fn versions(&self, name: &str) -> Result<Arc<[IndexEntry]>, ResolveError> {
///         self.0.versions(name)
///     }
/// }
///
/// let mut index = MemoryIndex::default();
/// index.add(IndexEntry::builder("log", "0.4.22").build().unwrap());
/// let wanted = Requirements::new().require("log", "0.4");
/// let resolution = futures::executor::block_on(run_with_async_source(&Remote(index), move |index| {
///     Resolver::new(index).resolve_requirements(&wanted)
/// }))
/// .unwrap();
/// assert_eq!(resolution.versions_of("log")[0].to_string(), "0.4.22");
/// ```
pub async fn run_with_async_source<S, F, T>(source: &S, work: F) -> Result<T, ResolveError>
where
    S: AsyncIndexSource,
    F: FnOnce(&dyn IndexSource) -> Result<T, ResolveError> + Send + 'static,
    T: Send + 'static,
{
    let (requests, mut incoming) = mpsc::unbounded::<Request>();
    let (done, mut outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name("wharf-resolve".to_owned())
        .spawn(move || {
            let bridge = Bridge { requests };
            let _ = done.send(work(&bridge));
        })
        .map_err(|e| ResolveError::Thread {
            reason: format!("it could not start: {e}"),
        })?;

    let mut answers = Answers::default();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < PREFETCH_IN_FLIGHT
            && let Some(name) = answers.next_prefetch()
        {
            in_flight.push(fetch(source, name));
        }
        futures::select! {
            request = incoming.next() => {
                if let Some(Request { name, reply }) = request
                    && let Some(name) = answers.ask(name, reply)
                {
                    in_flight.push(fetch(source, name));
                }
            }
            (name, result) = in_flight.select_next_some() => answers.arrived(&name, result),
            result = outcome => {
                return result.unwrap_or_else(|_| {
                    Err(ResolveError::Thread {
                        reason: "it panicked".to_owned(),
                    })
                });
            }
        }
    }
}

/// One read of `name`, paired with its name.
async fn fetch<S: AsyncIndexSource>(
    source: &S,
    name: String,
) -> (String, Result<Arc<[IndexEntry]>, ResolveError>) {
    let result = source.versions(&name).await;
    (name, result)
}

type Reply = std::sync::mpsc::SyncSender<Result<Arc<[IndexEntry]>, ResolveError>>;

/// What is known, asked for and in flight.
#[derive(Default)]
struct Answers {
    done: HashMap<String, Arc<[IndexEntry]>>,
    in_flight: HashSet<String>,
    waiting: HashMap<String, Vec<Reply>>,
    queue: VecDeque<String>,
}

impl Answers {
    /// Answers a request now when it can; returns the name when a read must start.
    fn ask(&mut self, name: String, reply: Reply) -> Option<String> {
        if let Some(found) = self.done.get(&name) {
            let _ = reply.send(Ok(Arc::clone(found)));
            return None;
        }
        self.waiting.entry(name.clone()).or_default().push(reply);
        self.in_flight.insert(name.clone()).then_some(name)
    }

    /// The next queued dependency not read yet.
    fn next_prefetch(&mut self) -> Option<String> {
        while let Some(name) = self.queue.pop_front() {
            if !self.done.contains_key(&name) && self.in_flight.insert(name.clone()) {
                return Some(name);
            }
        }
        None
    }

    /// Records a read: answers whoever waits, queues the dependencies it names. A failed
    /// read nobody asked for yet (a prefetch) is forgotten, so asking reads again.
    fn arrived(&mut self, name: &str, result: Result<Arc<[IndexEntry]>, ResolveError>) {
        self.in_flight.remove(name);
        let waiting = self.waiting.remove(name).unwrap_or_default();
        match result {
            Ok(entries) => {
                for entry in entries.iter() {
                    for dep in entry.deps.iter().filter(|d| d.kind != DependencyKind::Dev) {
                        let dep = dep.package_name();
                        if !self.done.contains_key(dep) && !self.in_flight.contains(dep) {
                            self.queue.push_back(dep.to_owned());
                        }
                    }
                }
                for reply in waiting {
                    let _ = reply.send(Ok(Arc::clone(&entries)));
                }
                self.done.insert(name.to_owned(), entries);
            }
            Err(error) => {
                let mut error = Some(error);
                for reply in waiting {
                    let this = error
                        .take()
                        .unwrap_or_else(|| ResolveError::index(name, "the read failed"));
                    let _ = reply.send(Err(this));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use wharf_index_format::IndexDependency;

    use super::*;

    fn entries(name: &str, deps: Vec<IndexDependency>) -> Arc<[IndexEntry]> {
        Arc::from([IndexEntry::builder(name, "1.0.0")
            .deps(deps)
            .build()
            .unwrap()])
    }

    #[test]
    fn answers_fetch_normal_dependencies_ahead_and_read_each_name_once() {
        let mut answers = Answers::default();
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        assert_eq!(answers.ask("top".to_owned(), reply), Some("top".to_owned()));
        let deps = vec![
            IndexDependency::new("lib", "1"),
            IndexDependency::new("tool", "1").with_kind(DependencyKind::Build),
            IndexDependency::new("test-helper", "1").with_kind(DependencyKind::Dev),
        ];
        answers.arrived("top", Ok(entries("top", deps)));
        assert_eq!(answer.recv().unwrap().unwrap().len(), 1);

        // Normal and build dependencies are read ahead, dev ones not.
        assert_eq!(answers.next_prefetch().as_deref(), Some("lib"));
        assert_eq!(answers.next_prefetch().as_deref(), Some("tool"));
        assert_eq!(answers.next_prefetch(), None);

        // Asking for a name in flight waits for that read instead of starting another.
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        assert_eq!(answers.ask("lib".to_owned(), reply), None);
        answers.arrived("lib", Ok(entries("lib", Vec::new())));
        assert_eq!(answer.recv().unwrap().unwrap()[0].name, "lib");

        // A failed read ahead is forgotten: asking reads again, and gets that read's error.
        answers.arrived("tool", Err(ResolveError::index("tool", "down")));
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        assert_eq!(
            answers.ask("tool".to_owned(), reply),
            Some("tool".to_owned())
        );
        answers.arrived("tool", Err(ResolveError::index("tool", "still down")));
        let error = answer.recv().unwrap().unwrap_err().to_string();
        assert!(error.contains("still down"), "{error}");
    }
}
