//! Mail: what each message says, and how it leaves (SMTP, or `.eml` files
//! for a developer to read). Knows nothing of accounts or HTTP; the
//! outbox sender in `auth` decides what to send and when.

mod messages;
pub mod schedule;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use messages::{Letter, LinkPurpose, Notice};

use crate::config::MailSettings;

/// How long one SMTP conversation may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Where a sent message went.
#[derive(Debug)]
pub enum Sent {
    Smtp,
    File(PathBuf),
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// Sending again will not help (the server refused the recipient, the
    /// address is malformed): give up now.
    pub permanent: bool,
    pub reason: String,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder.
    Files(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Where mail goes, for the start-up line (no password in it).
    description: String,
}

impl Mailer {
    /// The transport the settings name; the mail folder is created now.
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let transport = match &settings.smtp_url {
            Some(url) => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())?;
                if let Some(ca) = &settings.smtp_ca {
                    builder = trusting(builder, url.expose(), ca)?;
                }
                Transport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build())
            }
            None => {
                std::fs::create_dir_all(&settings.mail_dir).map_err(|error| {
                    anyhow::anyhow!(
                        "GATEHOUSE_MAIL_DIR: cannot create {}: {error}",
                        settings.mail_dir.display()
                    )
                })?;
                Transport::Files(settings.mail_dir.clone())
            }
        };
        let description = match &settings.smtp_url {
            Some(url) => format!("{url:?}"),
            None => format!(".eml files in {}", settings.mail_dir.display()),
        };
        Ok(Self {
            transport,
            from: settings.from.clone(),
            description,
        })
    }

    /// Where mail goes, for the start-up line.
    pub fn describe(&self) -> &str {
        &self.description
    }

    pub async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let permanent = |reason: String| SendError {
            permanent: true,
            reason,
        };
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|error| permanent(format!("the recipient is not an address: {error}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            // Lines are wrapped short (see `messages`), so lettre sends plain
            // 7bit and a link stays whole for whoever reads the raw message.
            .body(email.text.clone())
            .map_err(|error| permanent(format!("cannot build the message: {error}")))?;
        match &self.transport {
            // lettre's timeout covers only the connect: the whole
            // conversation is bounded here, so a server that stops
            // answering fails the try (well within the sender's lease).
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(SMTP_TIMEOUT, smtp.send(message)).await {
                    Ok(Ok(_)) => Ok(Sent::Smtp),
                    Ok(Err(error)) => Err(SendError {
                        permanent: gives_up(&error),
                        reason: error.to_string(),
                    }),
                    Err(_) => Err(SendError {
                        permanent: false,
                        reason: format!(
                            "the SMTP server did not finish the conversation within {}s",
                            SMTP_TIMEOUT.as_secs()
                        ),
                    }),
                }
            }
            Transport::Files(dir) => {
                let path = dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
                let bytes = message.formatted();
                let written = path.clone();
                tokio::task::spawn_blocking(move || write_whole(&written, &bytes))
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|result| result.map_err(|error| error.to_string()))
                    .map(|()| Sent::File(path))
                    .map_err(|reason| SendError {
                        permanent: false,
                        reason,
                    })
            }
        }
    }
}

/// Writes `bytes` to `path` under a temporary name first, then renames it:
/// whoever reads the folder sees whole messages only.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension("eml.part");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// The transport of `url` with its TLS trusting the certificates in `ca`
/// besides the Mozilla roots; a plain URL has no TLS to change.
fn trusting(
    builder: AsyncSmtpTransportBuilder,
    url: &str,
    ca: &[u8],
) -> anyhow::Result<AsyncSmtpTransportBuilder> {
    let parsed = url::Url::parse(url)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("GATEHOUSE_SMTP_URL names no host"))?
        .to_owned();
    let mode = parsed
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    let parameters = || -> anyhow::Result<TlsParameters> {
        Ok(TlsParameters::builder(host.clone())
            .add_root_certificate(Certificate::from_pem(ca)?)
            .build_rustls()?)
    };
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => builder.tls(Tls::Wrapper(parameters()?)),
        (_, Some("required")) => builder.tls(Tls::Required(parameters()?)),
        (_, Some("opportunistic")) => builder.tls(Tls::Opportunistic(parameters()?)),
        _ => builder,
    })
}

/// Whether an SMTP failure ends the message's tries: a permanent refusal
/// of the message or its recipient does, but not one of the login (`53x`:
/// the credentials are the operator's to fix, and the mail waits for it).
fn gives_up(error: &lettre::transport::smtp::Error) -> bool {
    use lettre::transport::smtp::response::Category;
    error.is_permanent()
        && !error
            .status()
            .is_some_and(|code| code.category == Category::Unspecified3)
}
