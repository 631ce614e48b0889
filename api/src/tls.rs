//! TLS for `serve --tls-cert FILE --tls-key FILE` and for the client's `https://` URLs.
//!
//! The server reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1) at start;
//! SIGHUP reads them again, so a renewed certificate (certbot, cert-manager) is picked up without a
//! restart. New connections use the new files; open ones keep theirs. A reload that fails keeps the
//! previous certificate and says why in the log: a typo during renewal must not take the server down.
//!
//! The client trusts the Mozilla roots (webpki-roots) plus, when given, a CA file of the operator's
//! (`--ca-cert` / `MLTRACE_CA_CERT`), for servers whose certificate an internal CA signed.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM block.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the TLS certificate and key cannot be used together: {0}")]
    Config(String),
}

/// The certificate and key files of a server.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

fn file_error(path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::File { path: path.to_path_buf(), message: message.into() }
}

/// Every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read it: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsFiles {
    /// Reads both files into a server configuration (HTTP/1.1 over TLS).
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let certs = read_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| file_error(&self.key, format!("not a usable PEM private key: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The configuration new connections get, replaced on reload.
#[derive(Clone)]
pub struct Reloadable {
    files: TlsFiles,
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl Reloadable {
    /// Loads the files once; an error here stops the server from starting.
    pub fn new(files: TlsFiles) -> Result<Reloadable, TlsError> {
        let config = files.load()?;
        Ok(Reloadable { files, current: Arc::new(RwLock::new(config)) })
    }

    /// The configuration for the next connection.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; on error the previous configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = self.files.load()?;
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }
}

/// A client configuration trusting the Mozilla roots and, if given, the certificates in `ca`.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
