//! HTTPS: a self-signed certificate generated once into `data_dir/tls`, or a real one from
//! `tls_cert`/`tls_key`; rustls with the ring provider only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::Tls;

/// Install ring as rustls's process-wide crypto provider. Idempotent; must run before any
/// rustls config is built, or a second backend in the tree makes rustls panic at start.
pub fn install_crypto_provider() {
    // Err means a provider is already installed (by us earlier, or by the embedding program).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where the self-signed certificate and key live.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Why a certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("the certificate in {cert} does not go with the key in {key}: {source}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The TLS configuration in use: the certificate it serves can be swapped while the server
/// runs (`reload`); each new connection takes the current one.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<ServerConfig>, String)>,
}

impl CertStore {
    /// Read `cert` and `key` (PEM) and build the server configuration.
    pub fn open(cert: &Path, key: &Path) -> Result<CertStore, CertError> {
        let current = server_config(cert, key)?;
        Ok(CertStore {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(current),
        })
    }

    /// The configuration for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// SHA-256 fingerprint of the certificate being served.
    pub fn fingerprint(&self) -> String {
        match self.current.read() {
            Ok(guard) => guard.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Read the files again and serve what they hold now to new connections (connections
    /// already up keep theirs). On error the old certificate stays. Returns the new fingerprint.
    pub fn reload(&self) -> Result<String, CertError> {
        let fresh = server_config(&self.cert, &self.key)?;
        let fingerprint = fresh.1.clone();
        match self.current.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(fingerprint)
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

/// On every SIGHUP, read the certificate and key again (renewed by certbot, say) and serve
/// the new ones to new connections; a bad pair is logged and the old one kept. Unix only.
pub fn reload_on_sighup(store: Arc<CertStore>) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match store.reload() {
                    Ok(fingerprint) => tracing::info!(
                        "SIGHUP: reloaded {}, SHA-256 fingerprint {fingerprint}",
                        store.cert_path().display()
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "SIGHUP: cannot reload the certificate; still serving the previous one"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = store;
    Ok(())
}

/// A rustls server configuration (ring, HTTP/1.1 only) from PEM files, with the leaf's
/// fingerprint.
fn server_config(cert: &Path, key: &Path) -> Result<(Arc<ServerConfig>, String), CertError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| CertError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let chain = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CertError::NoCertificate(cert.to_owned()))?;
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate(cert.to_owned()));
    };
    let fingerprint = fingerprint(leaf);
    let private =
        PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|_| CertError::NoKey(key.to_owned()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|source| CertError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|source| CertError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?;
    // The server speaks HTTP/1.1 only (src/http/serve.rs): WebSockets need it, and its
    // header-read timeout is what keeps slow clients from holding connections.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), fingerprint))
}

/// The certificate the server will use, ready to serve.
pub struct Loaded {
    pub config: Arc<CertStore>,
    pub cert_path: PathBuf,
    /// SHA-256 of the leaf certificate's DER, as colon-separated hex.
    pub fingerprint: String,
    /// Whether it was generated during this start.
    pub generated: bool,
}

/// Load the configured certificate, generating the self-signed one first if it is missing.
pub async fn load(tls: &Tls, data_dir: &Path) -> anyhow::Result<Option<Loaded>> {
    let (cert, key, generated) = match tls {
        Tls::Off => return Ok(None),
        Tls::Files { cert, key } => (cert.clone(), key.clone(), false),
        Tls::SelfSigned => {
            let (cert, key) = self_signed_paths(data_dir);
            let generated = if cert.exists() && key.exists() {
                false
            } else {
                generate_self_signed(data_dir)?;
                true
            };
            (cert, key, generated)
        }
    };
    let config = CertStore::open(&cert, &key).with_context(|| {
        format!(
            "cannot use certificate {} with key {}",
            cert.display(),
            key.display()
        )
    })?;
    let fingerprint = config.fingerprint();
    Ok(Some(Loaded {
        config: Arc::new(config),
        cert_path: cert,
        fingerprint,
        generated,
    }))
}

/// (Re)generate the self-signed certificate in `data_dir/tls`; returns its fingerprint.
pub fn generate_self_signed(data_dir: &Path) -> anyhow::Result<String> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    let dir = cert_path.parent().expect("tls dir");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = hostname() {
        names.push(host);
    }
    names.extend(lan_addresses().iter().map(IpAddr::to_string));
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot generate a self-signed certificate")?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(fingerprint(certified.cert.der()))
}

/// Write a file only its owner can read (mode 0600 from creation on Unix).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An older file keeps its mode on open; tighten it too.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// SHA-256 of a DER certificate as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Fingerprint of the first certificate in a PEM file.
pub fn fingerprint_of_pem(pem: &[u8]) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    Some(fingerprint(&der))
}

/// This machine's host name, if it has a usable one.
fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| name.to_owned())
}

/// Non-loopback addresses of this machine's interfaces (the LAN URLs phones can open).
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        // Link-local IPv6 needs a zone id in URLs; browsers do not take those.
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_kept_private_and_fingerprinted() {
        let dir = std::env::temp_dir().join(format!("confer-tls-unit-{}", std::process::id()));
        let fp = generate_self_signed(&dir).unwrap();
        let (cert, key) = self_signed_paths(&dir);
        assert_eq!(
            fingerprint_of_pem(&std::fs::read(&cert).unwrap()).as_deref(),
            Some(fp.as_str())
        );
        assert_eq!(fp.len(), 32 * 3 - 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
