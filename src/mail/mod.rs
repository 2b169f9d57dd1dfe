//! Outgoing email: SMTP through lettre when `smtp_url` is set, otherwise a dev mailbox that
//! logs each message and writes it as an `.eml` file under `data_dir/mail/`.
//!
//! Sending happens in a background task: a slow or broken mail server never holds up the
//! request that caused the mail, and a failed send is logged with its reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp_url is not valid: {0}")]
    SmtpUrl(String),
    #[error("mail_from {0:?} is not a valid address")]
    From(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("cannot write to the dev mailbox: {0}")]
    Mailbox(#[from] std::io::Error),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    DevMailbox(PathBuf),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp_url`: `smtps://user:pass@host:465` (TLS), `smtp://user:pass@host:587` (STARTTLS
    /// required), `smtp://host:25?tls=opportunistic`, or `smtp://host:25?tls=none` (plain, for
    /// a relay on the same machine). `None` selects the dev mailbox in `data_dir/mail`.
    pub fn new(
        smtp_url: Option<&str>,
        mail_from: &str,
        data_dir: &Path,
    ) -> Result<Mailer, MailError> {
        let from: Mailbox = mail_from
            .parse()
            .map_err(|_| MailError::From(mail_from.to_owned()))?;
        let transport = match smtp_url {
            Some(url) => {
                let url = lettre_url(url);
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))?;
                Transport::Smtp(
                    builder
                        .timeout(Some(std::time::Duration::from_secs(20)))
                        .build(),
                )
            }
            None => Transport::DevMailbox(data_dir.join("mail")),
        };
        Ok(Mailer {
            transport: Arc::new(transport),
            from,
        })
    }

    /// Where dev mail goes, when there is no SMTP server.
    pub fn dev_mailbox(&self) -> Option<&Path> {
        match &*self.transport {
            Transport::DevMailbox(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Queue a plain-text message; returns at once.
    pub fn send_in_background(&self, to: &str, subject: &str, body: String) {
        let mailer = self.clone();
        let (to, subject) = (to.to_owned(), subject.to_owned());
        tokio::spawn(async move {
            match mailer.send(&to, &subject, body).await {
                Ok(()) => tracing::info!(%to, %subject, "mail sent"),
                Err(e) => tracing::warn!(%to, %subject, error = %e, "mail not sent"),
            }
        });
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.clone())
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &*self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
            }
            Transport::DevMailbox(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let name = format!(
                    "{}-{}.eml",
                    crate::store::now(),
                    crate::auth::token::generate().get(..8).unwrap_or("mail")
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(
                    to = %to,
                    subject,
                    file = %path.display(),
                    "dev mailbox (no smtp_url set):\n{body}"
                );
            }
        }
        Ok(())
    }
}

/// lettre treats a bare `smtp://` as unencrypted; Confer's `smtp://` means STARTTLS unless the
/// URL says otherwise, and `tls=none` asks for plain SMTP explicitly.
fn lettre_url(url: &str) -> String {
    if !url.starts_with("smtp://") {
        return url.to_owned();
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let tls = params.iter().find_map(|p| p.strip_prefix("tls="));
    match tls {
        None => params.push("tls=required"),
        Some("none") => params.retain(|p| *p != "tls=none"),
        Some(_) => {}
    }
    if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_means_starttls_unless_told_otherwise() {
        assert_eq!(lettre_url("smtp://h:587"), "smtp://h:587?tls=required");
        assert_eq!(lettre_url("smtp://h:25?tls=none"), "smtp://h:25");
        assert_eq!(
            lettre_url("smtp://h:25?tls=opportunistic"),
            "smtp://h:25?tls=opportunistic"
        );
        assert_eq!(lettre_url("smtps://u:p@h"), "smtps://u:p@h");
    }

    #[tokio::test]
    async fn dev_mailbox_writes_eml_files() {
        let dir = std::env::temp_dir().join(format!("confer-mail-{}", std::process::id()));
        let mailer = Mailer::new(None, "Confer <confer@localhost>", &dir).unwrap();
        mailer
            .send("ann@example.org", "Hello", "Body text".into())
            .await
            .unwrap();
        let mut entries = std::fs::read_dir(dir.join("mail")).unwrap();
        let file = entries.next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains("Subject: Hello") && text.contains("Body text"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
