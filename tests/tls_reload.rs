//! A renewed certificate is served after SIGHUP, without a restart. Its own test binary: the
//! signal goes to the whole process.

use std::sync::Arc;
use std::time::Duration;

use confer::config::{Config, Tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A TLS connection that trusts only the certificate(s) in `pem`; `None` if the server
/// presents another one.
async fn connect(addr: std::net::SocketAddr, pem: &[u8]) -> Option<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .ok()
}

async fn get_ok(stream: &mut TlsStream<TcpStream>) {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[tokio::test]
async fn sighup_serves_a_renewed_certificate_and_keeps_a_bad_one_out() {
    confer::tls::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("confer-tls-reload-{}", std::process::id()));
    let server = confer::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        turn_listen: None,
        tls: Tls::SelfSigned,
        ..Config::default()
    })
    .await
    .expect("server starts");
    let store = server.tls.clone().expect("serving TLS");
    let (cert_path, key_path) = confer::tls::self_signed_paths(&dir);
    let old_pem = std::fs::read(&cert_path).unwrap();
    let old_fp = store.fingerprint();
    assert_eq!(server.tls_fingerprint.as_deref(), Some(old_fp.as_str()));
    let mut before = connect(server.addr, &old_pem)
        .await
        .expect("old cert served");
    get_ok(&mut before).await;

    // "Renewal": a new certificate and key in the same files, then SIGHUP.
    let new_fp = confer::tls::generate_self_signed(&dir).unwrap();
    assert_ne!(new_fp, old_fp);
    let new_pem = std::fs::read(&cert_path).unwrap();
    // SAFETY: kill(2) on our own pid with a signal the server handles (it installed the
    // handler in start()).
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);

    let reloaded = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(stream) = connect(server.addr, &new_pem).await {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the new certificate is served after SIGHUP");
    let mut after = reloaded;
    get_ok(&mut after).await;
    assert_eq!(store.fingerprint(), new_fp);
    let presented = after.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(confer::tls::fingerprint(&presented), new_fp);
    // The old certificate is no longer offered to newcomers.
    assert!(connect(server.addr, &old_pem).await.is_none());

    // A broken pair (the key of neither) is refused; the good certificate stays in service.
    std::fs::write(
        &key_path,
        b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert!(store.reload().is_err());
    assert_eq!(store.fingerprint(), new_fp);
    let mut still = connect(server.addr, &new_pem).await.expect("still served");
    get_ok(&mut still).await;

    server.task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
