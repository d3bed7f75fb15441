//! Two-factor authentication in a real browser: set up by reading the
//! secret off the page (codes computed here with totp-lite, not by the
//! server's code), log out, log in with a code, then with a recovery code;
//! every two-factor page through axe in the light and dark scheme at 320 px.

use std::time::{SystemTime, UNIX_EPOCH};

use fantoccini::Locator;

use crate::axe;
use crate::driver::{Browser, Scheme, Viewport};
use crate::helpers::{TestUser, base32_decode};

/// The QR code in a screenshot, read by zbar's `zbarimg` (Debian's
/// `zbar-tools`); `None`, with one line, where it is not installed, except
/// in CI where it must be.
fn scan_qr(screenshot: &str) -> Option<String> {
    const ZBARIMG: &str = "/usr/bin/zbarimg";
    if !std::path::Path::new(ZBARIMG).exists() {
        assert!(
            !crate::driver::in_ci(),
            "QR checks must run in CI: apt-get install zbar-tools"
        );
        static NOTICE: std::sync::Once = std::sync::Once::new();
        crate::driver::notice_once(
            &NOTICE,
            "skipping QR decoding: apt-get install zbar-tools to run it",
        );
        return None;
    }
    let path = crate::driver::screenshot_dir().join(format!("{screenshot}.png"));
    let output = std::process::Command::new(ZBARIMG)
        .args(["--quiet", "--raw"])
        .arg(&path)
        .output()
        .expect("zbarimg runs");
    assert!(
        output.status.success(),
        "no QR code found in {}",
        path.display()
    );
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The code of the 30 s step `offset` steps from now.
fn code(secret: &[u8], offset: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = u64::try_from(now + offset * 30).unwrap();
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, secret, at)
}

/// axe in both schemes at 320 px, on the page as it is.
async fn axe_both_schemes(browser: &Browser, page: &str, failures: &mut Vec<String>) {
    browser.set_viewport(Viewport::PHONE).await;
    for scheme in [Scheme::Light, Scheme::Dark] {
        browser.set_scheme(scheme).await;
        for violation in axe::violations(browser).await {
            failures.push(format!("{page} ({}, 320): axe: {violation}", scheme.name()));
        }
        let wide = browser
            .js("return document.documentElement.scrollWidth > document.documentElement.clientWidth;")
            .await;
        if wide == true {
            failures.push(format!(
                "{page} ({}, 320): scrolls horizontally",
                scheme.name()
            ));
        }
        browser
            .screenshot(&format!("two-factor-{page}-{}-320", scheme.name()))
            .await;
    }
}

e2e_test!(
    #[axe]
    async fn two_factor_is_set_up_from_the_page_and_logs_in_with_a_code(t) {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let browser = t.browser().await;
        let mut failures = Vec::new();
        browser.log_in(&user).await;

        browser.follow("Two-factor authentication").await;
        assert!(browser.text().await.contains("Two-factor authentication is off"));
        axe_both_schemes(&browser, "off", &mut failures).await;

        browser.follow("Set up two-factor authentication").await;
        let svg = browser.client.find(Locator::Css(".qr svg")).await;
        assert!(svg.is_ok(), "no inline QR code");
        let shown = browser
            .client
            .find(Locator::Id("secret"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let secret = base32_decode(&shown);
        assert_eq!(secret.len(), 20, "a 160-bit secret: {shown}");
        axe_both_schemes(&browser, "setup", &mut failures).await;
        // What a phone's camera reads off the page, in both schemes: the
        // set-up link.
        let link = browser
            .client
            .find(Locator::LinkText("open the set-up link"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        for scheme in ["light", "dark"] {
            if let Some(read) = scan_qr(&format!("two-factor-setup-{scheme}-320")) {
                assert_eq!(read, link, "the QR code in the {scheme} scheme");
            }
        }

        browser.type_into("Code", &code(&secret, 0)).await;
        browser.type_into("Current password", &user.password).await;
        browser.press("Turn on two-factor authentication").await;
        let codes_page = browser.text().await;
        assert!(codes_page.contains("Two-factor authentication is on"), "{codes_page}");
        let recovery: Vec<String> = {
            let mut found = Vec::new();
            for item in browser.client.find_all(Locator::Css("#recovery-codes code")).await.unwrap() {
                found.push(item.text().await.unwrap());
            }
            found
        };
        assert_eq!(recovery.len(), 10, "{codes_page}");
        axe_both_schemes(&browser, "recovery-codes", &mut failures).await;

        browser.goto("/me/two-factor").await;
        assert!(browser.text().await.contains("Two-factor authentication is on"));
        axe_both_schemes(&browser, "on", &mut failures).await;

        // Log out, log in: the password, then a code (the next step's).
        browser.goto("/me").await;
        browser.press("Log out").await;
        browser.goto("/login").await;
        browser.log_in_here(&user.email, &user.password).await;
        assert_eq!(browser.path().await, "/login/two-factor");
        let field = browser.field("Code").await;
        assert_eq!(field.attr("autocomplete").await.unwrap().as_deref(), Some("one-time-code"));
        assert_eq!(field.attr("inputmode").await.unwrap().as_deref(), Some("numeric"));
        axe_both_schemes(&browser, "login-code", &mut failures).await;
        browser.type_into("Code", &code(&secret, 1)).await;
        browser.press("Log in").await;
        assert_eq!(browser.path().await, "/me");

        // Phone lost: a wrong code, then a recovery code.
        browser.press("Log out").await;
        browser.goto("/login").await;
        browser.log_in_here(&user.email, &user.password).await;
        browser.type_into("Code", "000000").await;
        browser.press("Log in").await;
        assert!(browser.text().await.contains("Invalid code"));
        axe_both_schemes(&browser, "login-code-error", &mut failures).await;
        browser.type_into("Code", &recovery[0]).await;
        browser.press("Log in").await;
        assert_eq!(browser.path().await, "/me");

        assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    }
);
