//! Where `wharf bundle export` reads a registry: a running registry over HTTP (`--from URL`),
//! or a registry's data directory (`--data DIR`), whose storage is opened in this process and
//! answered by the same request handler `wharf serve` runs, without a listening socket. Both
//! answer the same requests with the same bytes, so the bundle's recorded answers, proofs and
//! blobs do not depend on where they were read.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wharf_registry_server::{AppState, ServerConfig, handle, warm_cache};

use super::{ExportArgs, origin_of};

/// A registry export reads from.
pub(crate) enum Source {
    /// A registry over HTTP(S).
    Remote {
        http: reqwest::blocking::Client,
        /// `scheme://host[:port]`.
        origin: String,
        token: Option<String>,
        /// A licence presented with every download (premium ones need it).
        licence: Option<String>,
    },
    /// A data directory, answered in this process.
    Data {
        runtime: tokio::runtime::Runtime,
        state: Arc<AppState>,
        /// `scheme://host[:port]` of the public URL.
        origin: String,
        /// The public URL's path without its trailing slash (`""` at the root), which a
        /// reverse proxy would strip before the request reaches the server.
        prefix: String,
    },
}

/// An opened source, the sparse index's origin and path (`/index/`), and how messages name it.
pub(crate) struct Opened {
    pub(crate) source: Source,
    pub(crate) origin: String,
    pub(crate) index_path: String,
    pub(crate) shown: String,
}

/// Opens the source `args` name (`--from` or `--data`).
pub(crate) fn open(args: &ExportArgs) -> anyhow::Result<Opened> {
    match (&args.from, &args.data) {
        (Some(from), None) => {
            let licence = args
                .licence
                .as_deref()
                .map(|path| {
                    std::fs::read_to_string(path)
                        .map(|text| text.trim().to_owned())
                        .with_context(|| {
                            format!("cannot read the licence file `{}`", path.display())
                        })
                })
                .transpose()?;
            open_remote(from, args.token.clone(), licence)
        }
        (None, Some(data)) => open_data(data, args.public_url.as_deref()),
        _ => bail!("give exactly one of `--from URL` and `--data DIR`"),
    }
}

fn open_remote(
    from: &str,
    token: Option<String>,
    licence: Option<String>,
) -> anyhow::Result<Opened> {
    let index = from.trim().trim_start_matches("sparse+").to_owned();
    let (origin, index_path) = origin_of(&index).with_context(|| {
        format!(
            "`{from}` is not a sparse index URL; give one as cargo does, e.g. `sparse+https://registry.example/index/`"
        )
    })?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_mins(5))
        .build()
        .context("building the HTTP client")?;
    Ok(Opened {
        source: Source::Remote {
            http,
            origin: origin.clone(),
            token,
            licence,
        },
        origin,
        index_path,
        shown: from.to_owned(),
    })
}

fn open_data(data: &Path, public_url: Option<&str>) -> anyhow::Result<Opened> {
    let Some(public_url) = public_url else {
        bail!(
            "`--data {}` needs `--public-url URL`: the URL cargo reaches this registry at (the one `wharf serve --public-url` was given), which its config.json names",
            data.display()
        );
    };
    let public_url = public_url.trim_end_matches('/');
    let (origin, path) = origin_of(public_url).with_context(|| {
        format!(
            "`--public-url {public_url}` is not an http(s) URL such as `https://registry.example`"
        )
    })?;
    let prefix = path.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let state = runtime.block_on(async {
        let storage = crate::settings::open_existing_storage_read_only(data).await?;
        let state = Arc::new(AppState::new(
            storage,
            ServerConfig::new(public_url.to_owned(), false),
        ));
        warm_cache(&state)
            .await
            .with_context(|| format!("reading the index files of `{}`", data.display()))?;
        anyhow::Ok(state)
    })?;
    Ok(Opened {
        source: Source::Data {
            runtime,
            state,
            origin: origin.clone(),
            prefix: prefix.clone(),
        },
        origin,
        index_path: format!("{prefix}/index/"),
        shown: format!("the registry in `{}`", data.display()),
    })
}

impl Source {
    /// The body of `target` (`/index/config.json`, `/api/…?start=0&end=3`: path and query
    /// under the origin); `None` when the registry has no such file (404, 410, 451).
    pub(crate) fn get(&self, target: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Self::Remote { origin, .. } => self.get_url(&format!("{origin}{target}")),
            Self::Data {
                runtime,
                state,
                prefix,
                ..
            } => {
                let Some(local) = target.strip_prefix(prefix.as_str()) else {
                    return Ok(None);
                };
                let request = hyper::Request::get(local)
                    .body(Full::new(Bytes::new()))
                    .with_context(|| format!("`{target}` is not a request path"))?;
                let state = Arc::clone(state);
                runtime.block_on(async move {
                    let Ok(response) = handle(state, request).await;
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map(|body| body.to_bytes().to_vec())
                        .unwrap_or_default();
                    match status.as_u16() {
                        200 => Ok(Some(body)),
                        404 | 410 | 451 => Ok(None),
                        _ => bail!(
                            "reading `{target}` from the data directory answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        ),
                    }
                })
            }
        }
    }

    /// The body of `url` (a download URL from `config.json`); `None` on 404.
    pub(crate) fn get_url(&self, url: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Self::Remote {
                http,
                token,
                licence,
                ..
            } => {
                let mut request = http.get(url);
                if let Some(token) = token {
                    request = request.header("Authorization", token);
                }
                if let Some(licence) = licence {
                    request = request.header("Wharf-Licence", licence);
                }
                let response = request
                    .send()
                    .with_context(|| format!("fetching `{url}`"))?;
                if matches!(response.status().as_u16(), 404 | 410 | 451) {
                    return Ok(None);
                }
                let body = response
                    .error_for_status()
                    .and_then(reqwest::blocking::Response::bytes)
                    .with_context(|| format!("fetching `{url}`"))?;
                Ok(Some(body.to_vec()))
            }
            Self::Data {
                origin,
                prefix,
                runtime,
                state,
            } => match url.strip_prefix(origin.as_str()) {
                // Blobs come from the registry's blob store itself (the disk or its bucket),
                // as the operator's: no download check, no counting.
                Some(target)
                    if target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("/blobs/sha256/")) =>
                {
                    let hex = target.rsplit('/').next().unwrap_or_default();
                    let blob = runtime
                        .block_on(state.storage.blob(hex))
                        .with_context(|| format!("reading the blob `{hex}` from the blob store"))?;
                    Ok(blob.map(|bytes| bytes.to_vec()))
                }
                Some(target) => self.get(target),
                None => bail!(
                    "the download URL `{url}` is not under the public URL's origin `{origin}`"
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry made in `dir` (its database, keys and index), then closed.
    fn make_registry(dir: &Path) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let storage = wharf_storage::Storage::open(wharf_storage::StorageConfig::local(dir))
                .await
                .unwrap();
            storage.settle().await;
        });
    }

    #[test]
    fn a_data_directory_answers_under_the_public_urls_path_as_its_server_would() {
        let dir = tempfile::tempdir().unwrap();
        make_registry(dir.path());
        let opened = open_data(dir.path(), Some("https://registry.example/wharf/")).unwrap();
        assert_eq!(opened.origin, "https://registry.example");
        assert_eq!(opened.index_path, "/wharf/index/");
        let config = opened
            .source
            .get("/wharf/index/config.json")
            .unwrap()
            .expect("config.json");
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(
            config["dl"],
            "https://registry.example/wharf/blobs/sha256/{sha256-checksum}"
        );
        assert!(
            opened
                .source
                .get("/wharf/api/wharf/v1/log/checkpoint")
                .unwrap()
                .is_some()
        );
        assert_eq!(opened.source.get("/wharf/index/3/n/nop").unwrap(), None);
        assert_eq!(
            opened.source.get("/elsewhere/index/config.json").unwrap(),
            None
        );
        let outside = opened
            .source
            .get_url("https://other.example/blobs/sha256/00")
            .unwrap_err();
        assert!(outside.to_string().contains("not under"), "{outside}");
    }

    #[test]
    fn a_data_directory_needs_a_public_url_and_a_registry() {
        let dir = tempfile::tempdir().unwrap();
        let missing = open_data(dir.path(), None).err().expect("refused");
        assert!(missing.to_string().contains("--public-url"), "{missing}");
        let empty = open_data(dir.path(), Some("http://127.0.0.1:1"))
            .err()
            .expect("refused");
        assert!(empty.to_string().contains("no registry in"), "{empty}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
