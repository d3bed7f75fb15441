//! Mail over TLS to a real SMTP server with a certificate of a CA of the
//! test's own, trusted through `GATEHOUSE_SMTP_CA_FILE`: STARTTLS and
//! implicit TLS, with a login; and a certificate nobody vouches for is
//! refused, the mail kept for a retry.

use reqwest::StatusCode;

use crate::helpers::{Backend, CONFIRM_MAIL, SmtpServer, SmtpTls, TestApp, TestUser};

const RETRYING: &str = "could not send an email; trying again";

async fn mail_over(tls: SmtpTls, backend: Backend) {
    let login = Some(("mailer".to_owned(), "tls-pass-123".to_owned()));
    let Some(smtp) = SmtpServer::start_tls(tls, login) else {
        return;
    };
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp.url())
        .env(
            "GATEHOUSE_SMTP_CA_FILE",
            &smtp.ca_file().display().to_string(),
        )
        .spawn()
        .await;
    let user = app.register_user().await;
    let letter = smtp.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    assert!(letter.link().contains("/verify-email/"));
    assert!(
        !app.logs().contains("tls-pass-123"),
        "the SMTP password was logged"
    );
}

async fn mail_goes_over_starttls_with_a_login(backend: Backend) {
    mail_over(SmtpTls::StartTls, backend).await;
}

async fn mail_goes_over_implicit_tls_with_a_login(backend: Backend) {
    mail_over(SmtpTls::Implicit, backend).await;
}

async fn an_untrusted_certificate_is_refused_and_the_mail_waits(backend: Backend) {
    let Some(smtp) = SmtpServer::start_tls(SmtpTls::StartTls, None) else {
        return;
    };
    // No CA file: the test CA is not among the Mozilla roots.
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp.url())
        .spawn()
        .await;
    let user = TestUser::generate();
    let response = app.api_register(&user.api_registration()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.wait_for_log_line(RETRYING).await;
    assert!(smtp.mailbox().messages().is_empty());
}

backend_tests!(
    mail_goes_over_starttls_with_a_login,
    mail_goes_over_implicit_tls_with_a_login,
    an_untrusted_certificate_is_refused_and_the_mail_waits,
);
