//! `tls = self-signed`: HTTPS and wss:// with a certificate generated once and reused.

mod common;

use std::sync::Arc;

use confer::config::{Config, Tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn config(data_dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_owned(),
        turn_listen: None,
        tls: Tls::SelfSigned,
        ..Config::default()
    }
}

/// A TLS connection that trusts only the server's generated certificate.
async fn connect(server: &confer::Server, data_dir: &std::path::Path) -> TlsStream<TcpStream> {
    let (cert, _) = confer::tls::self_signed_paths(data_dir);
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the generated certificate")
}

async fn https(
    server: &confer::Server,
    data_dir: &std::path::Path,
    request: &str,
) -> common::Response {
    let mut stream = connect(server, data_dir).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    common::Response::parse(&raw)
}

fn header<'a>(response: &'a common::Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn self_signed_https_wss_secure_cookies_and_a_reused_certificate() {
    let dir = std::env::temp_dir().join(format!("confer-tls-{}", std::process::id()));
    let server = confer::start(config(&dir)).await.expect("server starts");
    assert!(server.local_url().starts_with("https://127.0.0.1:"));
    let first = server.tls_fingerprint.clone().expect("fingerprint");

    let page = https(
        &server,
        &dir,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script"));
    assert_eq!(
        header(&page, "strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(header(&page, "content-security-policy").is_some());

    // Sign-up sets the session cookie: Secure under TLS.
    let body = r#"{"username":"tlsuser","email":"tls@example.org","password":"correct horse battery","confirm":"correct horse battery"}"#;
    let signup = https(
        &server,
        &dir,
        &format!(
            "POST /api/account/signup HTTP/1.1\r\nHost: localhost\r\nOrigin: https://localhost\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    let cookie = header(&signup, "set-cookie").unwrap_or_else(|| {
        panic!("no cookie: {} {}", signup.status, signup.body);
    });
    assert!(cookie.contains("Secure"), "{cookie}");

    // wss://: the welcome arrives over the TLS stream.
    let stream = connect(&server, &dir).await;
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", stream)
        .await
        .expect("WebSocket over TLS");
    use futures_util::StreamExt;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("welcome in time")
        .unwrap()
        .unwrap();
    assert!(frame.to_text().unwrap().contains("\"welcome\""), "{frame}");
    drop(ws);
    server.task.abort();

    // A second start reuses the certificate.
    let again = confer::start(config(&dir)).await.expect("second start");
    assert_eq!(again.tls_fingerprint.as_deref(), Some(first.as_str()));
    again.task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
