//! TLS for `serve --tls-cert FILE --tls-key FILE`.
//!
//! The server reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1) at start;
//! SIGHUP reads them again, so a renewed certificate (certbot, cert-manager) is picked up without a
//! restart. New connections use the new files; open ones keep theirs. A reload that fails keeps the
//! previous certificate and says why in the log: a typo during renewal must not take the server down.

pub use mltrace_client::tls::TlsError;
use mltrace_client::tls::{file_error, provider, read_certs};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The certificate and key files of a server.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
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
