//! The HTTP client builder of the load tools.

/// `reqwest::Client::builder()`, after making `ring` the process's TLS crypto provider.
///
/// The workspace builds reqwest with rustls but without a default provider (aws-lc-rs needs
/// cmake and nasm), and reqwest refuses to build a client, even a plain-HTTP one, until a
/// provider is installed. Installing twice is harmless.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
