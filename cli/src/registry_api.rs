//! Talking to a running registry's web API for `wharf keys` and `wharf publish`: one HTTP
//! client, the token, and refusals turned into the registry's own one-line message.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use wharf_trust::{SigningKey, key_file_is_encrypted};

/// Which registry and which token.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// The registry's URL (as given to `wharf serve --public-url`), e.g. `https://wharf.example.com`.
    #[arg(long, env = "WHARF_REGISTRY", value_name = "URL")]
    pub(crate) registry: String,
    /// The API token [default: the `WHARF_TOKEN` environment variable].
    #[arg(
        long,
        env = "WHARF_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: String,
}

/// Where to find a private key file and how to open it.
#[derive(Debug, Args)]
pub(crate) struct KeyFileArgs {
    /// The private key file (`wharf keys new` writes one).
    #[arg(long = "key", value_name = "FILE")]
    pub(crate) key: std::path::PathBuf,
    /// The environment variable holding the key file's passphrase (for an encrypted file).
    #[arg(long, value_name = "VAR")]
    pub(crate) passphrase_env: Option<String>,
}

impl KeyFileArgs {
    /// Reads and opens the key file.
    pub(crate) fn load(&self) -> anyhow::Result<SigningKey> {
        load_key(&self.key, self.passphrase_env.as_deref())
    }
}

/// Reads the passphrase from the environment variable `var`.
pub(crate) fn passphrase(var: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let value = std::env::var(var).map_err(|_| {
        anyhow::anyhow!("the environment variable `{var}` (named by --passphrase-env) is not set; set it to the key file's passphrase")
    })?;
    if value.is_empty() {
        bail!(
            "the environment variable `{var}` (named by --passphrase-env) is empty; a passphrase cannot be empty"
        );
    }
    Ok(zeroize::Zeroizing::new(value))
}

/// Opens the key file at `path`, decrypting it with the passphrase in `passphrase_env`.
pub(crate) fn load_key(path: &Path, passphrase_env: Option<&str>) -> anyhow::Result<SigningKey> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key file `{}`", path.display()))?,
    );
    let encrypted = key_file_is_encrypted(&text)
        .with_context(|| format!("`{}` is not a wharf key file", path.display()))?;
    let secret = match (encrypted, passphrase_env) {
        (true, None) => bail!(
            "the key file `{}` is encrypted; give --passphrase-env VAR with its passphrase in VAR",
            path.display()
        ),
        (true, Some(var)) => Some(passphrase(var)?),
        (false, _) => None,
    };
    SigningKey::from_key_file(&text, secret.as_ref().map(|s| s.as_bytes()))
        .with_context(|| format!("cannot open the key file `{}`", path.display()))
}

/// A blocking HTTP client with the registry's base URL and token.
pub(crate) struct RegistryApi {
    client: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl RegistryApi {
    /// A client for `args`.
    pub(crate) fn new(args: &RegistryArgs) -> anyhow::Result<Self> {
        // reqwest is built without a default TLS provider; Wharf uses ring everywhere.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_mins(5))
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            client,
            base: args.registry.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` carrying the token.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(reqwest::header::AUTHORIZATION, &self.token)
    }

    /// Sends `request`; a refusal becomes an error with the registry's message.
    pub(crate) fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let response = request
            .send()
            .with_context(|| format!("{what}: cannot reach the registry at {}", self.base))?;
        let status = response.status();
        let body = response
            .text()
            .with_context(|| format!("{what}: the registry's answer could not be read"))?;
        if !status.is_success() {
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| value["errors"][0]["detail"].as_str().map(str::to_owned))
                .unwrap_or(body);
            bail!("{what}: the registry refused ({status}): {detail}");
        }
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&body)
            .with_context(|| format!("{what}: the registry's answer is not JSON"))
    }

    /// The registry's origin: the first line of its newest checkpoint.
    pub(crate) fn origin(&self) -> anyhow::Result<String> {
        let what = "reading the registry's origin";
        let response = self
            .request(reqwest::Method::GET, "/api/wharf/v1/log/checkpoint")
            .send()
            .with_context(|| format!("{what}: cannot reach the registry at {}", self.base))?;
        if !response.status().is_success() {
            bail!(
                "{what}: GET {} answered {}; is {} a Wharf registry?",
                self.url("/api/wharf/v1/log/checkpoint"),
                response.status(),
                self.base
            );
        }
        let text = response.text().context(what)?;
        text.lines()
            .next()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .with_context(|| format!("{what}: the checkpoint is empty"))
    }
}
