//! HTTPS: a self-signed certificate generated once into `data_dir/tls`, or a real one from
//! `tls_cert`/`tls_key`; rustls with the ring provider only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
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

/// The certificate the server will use, ready to serve.
pub struct Loaded {
    pub config: RustlsConfig,
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
    let pem = std::fs::read(&cert).with_context(|| format!("cannot read {}", cert.display()))?;
    let fingerprint = fingerprint_of_pem(&pem)
        .with_context(|| format!("{} holds no PEM certificate", cert.display()))?;
    let config = RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| {
            format!(
                "cannot use certificate {} with key {}",
                cert.display(),
                key.display()
            )
        })?;
    Ok(Some(Loaded {
        config,
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
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
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
