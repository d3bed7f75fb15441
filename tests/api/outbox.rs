//! Email as users and operators see it: who it is from, what it is about,
//! where its links point, and the outbox behind it — sending in the
//! background, retries while the SMTP server is down, mail that waits
//! across restarts, several instances on one database, SMTP logins, the
//! `.eml` folder of a developer's machine, and logs that never show a
//! link's token.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{
    ADDRESS_CHANGED_MAIL, Backend, Browser, CONFIRM_MAIL, Mail, Mailbox, NEW_ADDRESS_MAIL,
    PASSWORD_CHANGED_MAIL, RESET_MAIL, SmtpServer, TestApp, TestMail, TestUser,
    assert_redirects_to, csrf_from, free_port, smtp_available, spawn_with_mail,
};

const RETRYING: &str = "could not send an email; trying again in";

/// `smtp://127.0.0.1:PORT`: where nothing listens until the test starts a
/// server there.
fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

/// Presses the confirm button of an address link.
async fn confirm(browser: &Browser, letter: &Mail) {
    let confirmed = browser.submit_form(&letter.link_path(), &[]).await;
    assert_redirects_to(&confirmed, "/me");
}

/// Asserts that each of `users` was sent one confirmation link, no more.
fn assert_one_confirmation_each<'a>(
    mailbox: &Mailbox,
    users: impl IntoIterator<Item = &'a TestUser>,
) {
    for user in users {
        assert_eq!(
            mailbox.to(&user.email, CONFIRM_MAIL).len(),
            1,
            "{}",
            user.email
        );
    }
}

/// The `From` header without the quotes a mailer may put around the name.
fn unquoted_from(letter: &Mail) -> String {
    letter.from.replace('"', "")
}

/// Whether the message has a plain-text part: it is one, or a multipart
/// message holding one.
fn has_plain_text_part(letter: &Mail) -> bool {
    let content_type = |text: &str| {
        text.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-type:") && line.contains("text/plain")
        })
    };
    content_type(&letter.headers) || content_type(&letter.body)
}

/// Every token the link-carrying emails in `mailbox` hold.
fn link_tokens(mailbox: &Mailbox) -> Vec<String> {
    mailbox
        .messages()
        .iter()
        .filter(|m| m.body.contains("http://") || m.body.contains("https://"))
        .map(Mail::token)
        .collect()
}

async fn every_email_has_the_sender_a_gatehouse_subject_and_plain_text(backend: Backend) {
    const FROM: &str = "Acme Login <login@acme.test>";
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_MAIL_FROM", FROM)
        .spawn()
        .await;
    let mailbox = mail.mailbox();
    let user = app.register_cookie_user().await;
    let email = user.user.email.clone();
    confirm(&app, &mailbox.wait_for(&email, CONFIRM_MAIL).await).await;

    // A change of address, a password change (through the API: the page's
    // session ends with it), a forgotten password and its reset.
    let new_email = TestUser::generate().email;
    let requested = app
        .change_email_via_form(&new_email, &user.user.password)
        .await;
    assert_redirects_to(&requested, "/me");
    confirm(&app, &mailbox.wait_for(&new_email, NEW_ADDRESS_MAIL).await).await;
    mailbox.wait_for(&email, ADDRESS_CHANGED_MAIL).await;

    let token = app.login_via_api(&new_email, &user.user.password).await;
    let changed = app
        .api_change_password(
            Some(&token),
            &json!({
                "current_password": user.user.password,
                "new_password": "second-password-2",
            }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    mailbox.wait_for(&new_email, PASSWORD_CHANGED_MAIL).await;

    app.forgot_via_api(&new_email).await;
    let reset = mailbox.wait_for(&new_email, RESET_MAIL).await;
    let done = app
        .reset_via_form(&reset.link_path(), "third-password-3", "third-password-3")
        .await;
    assert_redirects_to(&done, "/login");
    mailbox
        .wait_for_nth(&new_email, PASSWORD_CHANGED_MAIL, 2)
        .await;

    let messages = mailbox.messages();
    assert_eq!(messages.len(), 6, "{messages:#?}");
    for subject in [
        CONFIRM_MAIL,
        PASSWORD_CHANGED_MAIL,
        NEW_ADDRESS_MAIL,
        ADDRESS_CHANGED_MAIL,
        RESET_MAIL,
    ] {
        assert!(
            messages.iter().any(|m| m.subject.contains(subject)),
            "no {subject:?} among {messages:#?}"
        );
    }
    for letter in &messages {
        assert_eq!(unquoted_from(letter), FROM, "{letter:#?}");
        assert!(letter.subject.contains("gatehouse"), "{letter:#?}");
        assert!(has_plain_text_part(letter), "{letter:#?}");
        assert!(!letter.body.trim().is_empty(), "{letter:#?}");
    }
}

async fn links_start_with_the_public_url_whatever_the_host_header(backend: Backend) {
    const PUBLIC: &str = "https://login.acme.test";
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_PUBLIC_URL", PUBLIC)
        .spawn()
        .await;
    let mailbox = mail.mailbox();

    // Every request of this visitor names a foreign host.
    let api_user = TestUser::generate();
    let registered = app
        .client
        .post(app.url("/api/register"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .json(&api_user.api_registration())
        .send()
        .await
        .expect("POST failed");
    assert_eq!(registered.status(), StatusCode::CREATED);

    let page_user = TestUser::generate();
    let form = app
        .client
        .get(app.url("/register"))
        .header("Host", "evil.example")
        .send()
        .await
        .expect("GET failed");
    let csrf = csrf_from(&form.text().await.expect("body"));
    let registered = app
        .client
        .post(app.url("/register"))
        .header("Host", "evil.example")
        .form(&page_user.register_form(&csrf))
        .send()
        .await
        .expect("POST failed");
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);

    let forgot = app
        .client
        .post(app.url("/api/password/forgot"))
        .header("Host", "evil.example")
        .json(&json!({ "email": api_user.email }))
        .send()
        .await
        .expect("POST failed");
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);

    let letters = [
        mailbox.wait_for(&api_user.email, CONFIRM_MAIL).await,
        mailbox.wait_for(&page_user.email, CONFIRM_MAIL).await,
        mailbox.wait_for(&api_user.email, RESET_MAIL).await,
    ];
    for letter in &letters {
        letter.assert_link_starts_with(&format!("{PUBLIC}/"));
        assert!(!letter.body.contains("evil.example"), "{}", letter.body);
        assert!(!letter.body.contains("127.0.0.1"), "{}", letter.body);
    }
    letters[0].assert_link_starts_with(&format!("{PUBLIC}/verify-email/"));
    letters[2].assert_link_starts_with(&format!("{PUBLIC}/password/reset/"));
}

async fn without_a_public_url_links_name_the_listening_address(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = TestUser::generate();
    let registered = app
        .client
        .post(app.url("/api/register"))
        .header("Host", "evil.example")
        .json(&user.api_registration())
        .send()
        .await
        .expect("POST failed");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let letter = mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    letter.assert_link_starts_with(&format!("{}/verify-email/", app.address));
    assert!(!letter.body.contains("evil.example"), "{}", letter.body);
}

async fn registration_answers_while_smtp_is_down_and_the_mail_follows(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let port = free_port();
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp_url(port))
        .spawn()
        .await;
    let api_user = TestUser::generate();
    let response = app.api_register(&api_user.api_registration()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let page_user = TestUser::generate();
    let response = app.register_via_form(&page_user).await;
    assert_redirects_to(&response, "/me");

    let line = app.wait_for_log_line(RETRYING).await;
    assert!(line.contains("WARN"), "{line}");

    let smtp = SmtpServer::start_with(port, None).expect("aiosmtpd");
    let mailbox = smtp.mailbox();
    mailbox.wait_for(&api_user.email, CONFIRM_MAIL).await;
    let letter = mailbox.wait_for(&page_user.email, CONFIRM_MAIL).await;
    confirm(&app, &letter).await;

    app.forgot_via_api(&api_user.email).await;
    mailbox.wait_for(&api_user.email, RESET_MAIL).await;
    assert_one_confirmation_each(&mailbox, [&api_user, &page_user]);
}

async fn mail_waits_while_the_smtp_server_is_away_and_follows_when_it_is_back(backend: Backend) {
    let Some(mut smtp) = SmtpServer::start() else {
        return;
    };
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp.url())
        .spawn()
        .await;
    let before = app.register_user().await;
    smtp.mailbox().wait_for(&before.email, CONFIRM_MAIL).await;

    smtp.stop();
    let during = app.register_user().await;
    app.wait_for_log_line(RETRYING).await;
    smtp.resume();

    let mailbox = smtp.mailbox();
    let letter = mailbox.wait_for(&during.email, CONFIRM_MAIL).await;
    app.forgot_via_api(&before.email).await;
    mailbox.wait_for(&before.email, RESET_MAIL).await;
    assert_one_confirmation_each(&mailbox, [&before, &during]);
    assert_eq!(mailbox.messages().len(), 3);
    confirm(&app, &letter).await;
}

/// A TCP server that takes one connection and never says a word on it (an
/// SMTP server that hangs), then stops listening, so the port is free for a
/// real server while that first client still waits.
fn silent_server() -> (u16, std::thread::JoinHandle<std::net::TcpStream>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let held = std::thread::spawn(move || listener.accept().expect("accept").0);
    (port, held)
}

async fn an_smtp_server_that_never_answers_holds_the_mail_up_only_for_a_while(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let (port, silent) = silent_server();
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp_url(port))
        .spawn()
        .await;
    let users = [TestUser::generate(), TestUser::generate()];
    for user in &users {
        app.register_via_api(user).await;
    }
    // Connected and waiting for a greeting that never comes; kept open.
    while !silent.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _waiting = silent.join().expect("the silent server");
    let smtp = SmtpServer::start_with(port, None).expect("aiosmtpd");

    // The conversation without answers is given up, and the mail is
    // tried again: it reaches the server that answers.
    let mailbox = smtp.mailbox();
    for user in &users {
        mailbox.wait_for(&user.email, CONFIRM_MAIL).await;
    }
    let line = app.wait_for_log_line(RETRYING).await;
    assert!(line.contains("WARN"), "{line}");
    app.forgot_via_api(&users[0].email).await;
    mailbox.wait_for(&users[0].email, RESET_MAIL).await;
    assert_one_confirmation_each(&mailbox, &users);
}

async fn mail_queued_while_smtp_is_down_is_sent_once_after_a_restart(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let port = free_port();
    let mut app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp_url(port))
        .spawn()
        .await;
    let user = app.register_user().await;
    app.wait_for_log_line(RETRYING).await;

    app.restart().await;
    let smtp = SmtpServer::start_with(port, None).expect("aiosmtpd");
    let mailbox = smtp.mailbox();
    let letter = mailbox.wait_for(&user.email, CONFIRM_MAIL).await;
    app.forgot_via_api(&user.email).await;
    mailbox.wait_for(&user.email, RESET_MAIL).await;
    assert_one_confirmation_each(&mailbox, [&user]);
    confirm(&app, &letter).await;
}

async fn several_waiting_mails_survive_a_restart_onto_a_working_smtp_server(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let down = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp_url(free_port()))
        .spawn()
        .await;
    let users: Vec<TestUser> = (0..3).map(|_| TestUser::generate()).collect();
    for user in &users {
        down.register_via_api(user).await;
    }
    down.forgot_via_api(&users[0].email).await;
    down.wait_for_log_line(RETRYING).await;

    // Stopped while the mail waits; started again with an SMTP server
    // that works.
    let smtp = SmtpServer::start().expect("aiosmtpd");
    let builder = down
        .builder_on_this_database()
        .env("GATEHOUSE_SMTP_URL", &smtp.url());
    drop(down);
    let app = builder.spawn().await;
    let mailbox = smtp.mailbox();
    for user in &users {
        mailbox.wait_for(&user.email, CONFIRM_MAIL).await;
    }
    let reset = mailbox.wait_for(&users[0].email, RESET_MAIL).await;

    app.forgot_via_api(&users[1].email).await;
    mailbox.wait_for(&users[1].email, RESET_MAIL).await;
    assert_one_confirmation_each(&mailbox, &users);
    assert_eq!(mailbox.to(&users[0].email, RESET_MAIL).len(), 1);
    assert_eq!(mailbox.messages().len(), 5);
    // The links were made when sent, by the server that sent them.
    assert_eq!(
        app.get(&reset.link_path()).await.status(),
        StatusCode::OK,
        "{}",
        reset.link()
    );
}

async fn two_instances_send_each_message_exactly_once(backend: Backend) {
    const USERS: usize = 20;
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let first = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp.url())
        .spawn()
        .await;
    let second = first.spawn_another().await;
    let users: Vec<TestUser> = (0..USERS).map(|_| TestUser::generate()).collect();
    let mut registrations = JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let browser = if i % 2 == 0 {
            first.browser.clone()
        } else {
            second.browser.clone()
        };
        let user = user.clone();
        registrations.spawn(async move {
            let response = browser.api_register(&user.api_registration()).await;
            assert_eq!(response.status(), StatusCode::CREATED, "{}", user.email);
        });
    }
    while let Some(done) = registrations.join_next().await {
        done.expect("a registration panicked");
    }

    let mailbox = smtp.mailbox();
    for user in &users {
        mailbox.wait_for(&user.email, CONFIRM_MAIL).await;
    }
    // One more message through each instance, queued after all of them.
    first.forgot_via_api(&users[0].email).await;
    second.forgot_via_api(&users[1].email).await;
    mailbox.wait_for(&users[0].email, RESET_MAIL).await;
    mailbox.wait_for(&users[1].email, RESET_MAIL).await;

    for user in &users {
        let letters = mailbox.to(&user.email, CONFIRM_MAIL);
        assert_eq!(letters.len(), 1, "{}: {letters:#?}", user.email);
        // Made once: no second link replaced it.
        let page = first.get(&letters[0].link_path()).await;
        assert_eq!(page.status(), StatusCode::OK, "{}", user.email);
    }
    assert_eq!(mailbox.messages().len(), USERS + 2);
}

async fn smtp_with_a_login_gets_the_mail_and_the_password_stays_out_of_the_log(backend: Backend) {
    const PASSWORD: &str = "s3cret-pass";
    let Some(smtp) = SmtpServer::start_with_login("mailer", PASSWORD) else {
        return;
    };
    assert!(smtp.url().contains(PASSWORD));
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SMTP_URL", &smtp.url())
        .spawn()
        .await;
    let user = app.register_user().await;
    let letter = smtp.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    letter.assert_link_starts_with(&app.address);
    app.wait_for_log_line("sent an email").await;
    let logs = app.logs();
    assert!(!logs.contains(PASSWORD), "{logs}");
}

async fn a_wrong_smtp_password_keeps_the_mail_until_the_login_is_fixed(backend: Backend) {
    const WRONG: &str = "wrong-pass-42";
    let Some(smtp) = SmtpServer::start_with_login("mailer", "s3cret-pass") else {
        return;
    };
    let app = TestApp::builder(backend)
        .env(
            "GATEHOUSE_SMTP_URL",
            &format!("smtp://mailer:{WRONG}@127.0.0.1:{}", smtp.port),
        )
        .spawn()
        .await;
    let user = app.register_user().await;

    // Logged once the server has refused the login, the only try or the
    // first of several.
    let failure = app
        .wait_for_log_line_where("of a failure", |line| {
            line.contains("gave up sending an email") || line.contains("could not send an email")
        })
        .await;
    assert!(
        failure.contains("WARN") || failure.contains("ERROR"),
        "{failure}"
    );
    assert!(
        failure.contains("WARN"),
        "a refused login is retried: {failure}"
    );
    assert!(smtp.mailbox().messages().is_empty());
    let logs = app.logs();
    assert!(!logs.contains(WRONG), "{logs}");
    assert!(!logs.contains("s3cret-pass"), "{logs}");

    // The operator fixes the password and restarts: the mail was kept.
    let fixed = app
        .builder_on_this_database()
        .env("GATEHOUSE_SMTP_URL", &smtp.url());
    drop(app);
    let app = fixed.spawn().await;
    smtp.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    assert!(!app.logs().contains("s3cret-pass"));
}

async fn without_smtp_mail_is_written_to_the_mail_folder(backend: Backend) {
    let app = TestApp::builder(backend).spawn().await;
    let user = app.register_user().await;
    let folder = app.database.dir.path().join("mail");
    let letter = Mailbox::at(&folder)
        .wait_for(&user.email, CONFIRM_MAIL)
        .await;
    letter.assert_link_starts_with(&format!("{}/verify-email/", app.address));

    let files = eml_files(&folder);
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(folder.join(&files[0])).expect("a readable file");
    assert!(raw.contains(&letter.link()), "{raw}");

    let line = app.wait_for_log_line("wrote an email to").await;
    assert!(
        line.contains(&format!("wrote an email to mail/{}", files[0])),
        "{line}"
    );
    assert_eq!(
        app.logs()
            .lines()
            .filter(|l| l.contains("wrote an email"))
            .count(),
        1,
        "{}",
        app.logs()
    );
    confirm(&app, &letter).await;
}

/// The names of the `.eml` files in `folder`.
fn eml_files(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .expect("the mail folder exists")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml"))
        .collect()
}

async fn no_log_line_shows_a_link_token(backend: Backend) {
    let mail = TestMail::start();
    // Debug lines too: an operator looking into a problem turns them on.
    let app = mail
        .configure(TestApp::builder(backend))
        .env("RUST_LOG", "debug")
        .spawn()
        .await;
    let mailbox = mail.mailbox();
    let user = app.register_cookie_user().await;
    let email = user.user.email.clone();
    let registration = mailbox.wait_for(&email, CONFIRM_MAIL).await;

    // A resend voids the registration's link: both pages are opened and posted.
    let csrf = app.csrf_token_from("/me").await;
    let resend = app
        .post_form("/me/verify-email", &[("csrf_token", csrf.as_str())])
        .await;
    assert_redirects_to(&resend, "/me");
    let resent = mailbox.wait_for_nth(&email, CONFIRM_MAIL, 2).await;
    let void = app.get(&registration.link_path()).await;
    assert_eq!(void.status(), StatusCode::BAD_REQUEST);
    let posted = app
        .post_form(&registration.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(posted.status(), StatusCode::BAD_REQUEST);
    confirm(&app, &resent).await;

    // A change of address and its link.
    let new_email = TestUser::generate().email;
    let requested = app
        .change_email_via_form(&new_email, &user.user.password)
        .await;
    assert_redirects_to(&requested, "/me");
    confirm(&app, &mailbox.wait_for(&new_email, NEW_ADDRESS_MAIL).await).await;

    // A forgotten password, reset on the page, and a second one reset
    // through the API.
    app.forgot_via_api(&new_email).await;
    let reset = mailbox.wait_for(&new_email, RESET_MAIL).await;
    let done = app
        .reset_via_form(
            &reset.link_path(),
            "another-password-1",
            "another-password-1",
        )
        .await;
    assert_redirects_to(&done, "/login");
    app.forgot_via_api(&new_email).await;
    let second_reset = mailbox.wait_for_nth(&new_email, RESET_MAIL, 2).await;
    let api_reset = app
        .api_reset(&second_reset.token(), "another-password-2")
        .await;
    assert_eq!(api_reset.status(), StatusCode::NO_CONTENT);
    // Used links, opened again.
    for letter in [&reset, &second_reset] {
        let used = app.get(&letter.link_path()).await;
        assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    }
    app.login_via_api(&new_email, "another-password-2").await;

    // Log lines are written in order: once this request's line is there,
    // so are the lines of every request before it.
    assert_eq!(app.healthz().await.status(), StatusCode::OK);
    app.wait_for_log_line("path=/healthz").await;

    let tokens: HashSet<String> = link_tokens(&mailbox).into_iter().collect();
    assert_eq!(tokens.len(), 5, "{tokens:?}");
    let logs = app.logs();
    for token in &tokens {
        assert_eq!(token.len(), 32, "{token}");
        for line in logs.lines() {
            assert!(!line.contains(token.as_str()), "a token in the log: {line}");
        }
    }
    assert!(logs.contains("/verify-email/{token}"), "{logs}");
    assert!(logs.contains("/password/reset/{token}"), "{logs}");
}

backend_tests! {
    both:
        every_email_has_the_sender_a_gatehouse_subject_and_plain_text,
        links_start_with_the_public_url_whatever_the_host_header,
        without_a_public_url_links_name_the_listening_address,
        registration_answers_while_smtp_is_down_and_the_mail_follows,
        mail_waits_while_the_smtp_server_is_away_and_follows_when_it_is_back,
        an_smtp_server_that_never_answers_holds_the_mail_up_only_for_a_while,
        mail_queued_while_smtp_is_down_is_sent_once_after_a_restart,
        several_waiting_mails_survive_a_restart_onto_a_working_smtp_server,
        smtp_with_a_login_gets_the_mail_and_the_password_stays_out_of_the_log,
        a_wrong_smtp_password_keeps_the_mail_until_the_login_is_fixed,
        without_smtp_mail_is_written_to_the_mail_folder,
        no_log_line_shows_a_link_token;
    multi_thread:
        two_instances_send_each_message_exactly_once;
}
