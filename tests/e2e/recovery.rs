//! Mail flows in a real browser, reading the mail as a developer does on a
//! fresh start: `.eml` files in the server's `mail/` folder.

use crate::driver::E2e;
use crate::helpers::{Mailbox, TestUser};

fn mailbox(t: &E2e) -> Mailbox {
    Mailbox::at(&t.app.database.dir.path().join("mail"))
}

e2e_test!(
    async fn a_forgotten_password_is_reset_from_the_mail(t) {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let browser = t.browser().await;
        browser.goto("/login").await;
        browser.follow("Forgot your password?").await;
        browser.type_into("Email", &user.email).await;
        browser.press("Send the link").await;
        assert_eq!(browser.path().await, "/login");
        assert!(browser.text().await.contains("If an account exists for that address"));

        let letter = mailbox(&t).wait_for(&user.email, "Reset your gatehouse password").await;
        browser.goto(&letter.link_path()).await;
        browser.type_into("New password", "a-fresh-start-42").await;
        browser.type_into("Confirm new password", "a-fresh-start-42").await;
        browser.press("Set the new password").await;
        assert_eq!(browser.path().await, "/login");
        assert!(browser.text().await.contains("Your password has been reset"));

        browser.log_in_here(&user.email, &user.password).await;
        assert!(browser.text().await.contains("Invalid email or password"));
        browser.goto("/login").await;
        browser.log_in_here(&user.email, "a-fresh-start-42").await;
        assert_eq!(browser.path().await, "/me");
        mailbox(&t).wait_for(&user.email, "Your gatehouse password was changed").await;
    }
);

e2e_test!(
    async fn the_password_is_changed_on_its_page_and_this_browser_stays_in(t) {
        let user = TestUser::generate();
        t.app.register_via_api(&user).await;
        let browser = t.browser().await;
        browser.log_in(&user).await;
        let other = t.browser().await;
        other.log_in(&user).await;

        browser.follow("Change password").await;
        browser.type_into("Current password", &user.password).await;
        browser.type_into("New password", "another-secret-77").await;
        browser.type_into("Confirm new password", "another-secret-77").await;
        browser.press("Change password").await;
        assert_eq!(browser.path().await, "/me");
        assert!(browser.text().await.contains("Your password has been changed"));

        // The other browser is out; this one stays in.
        other.goto("/me").await;
        assert!(other.path().await.starts_with("/login"), "{}", other.path().await);
        browser.goto("/me").await;
        assert_eq!(browser.path().await, "/me");
        mailbox(&t).wait_for(&user.email, "Your gatehouse password was changed").await;
    }
);

e2e_test!(
    async fn a_person_confirms_resets_changes_the_address_and_deletes_the_account(t) {
        let user = TestUser::generate();
        let mail = mailbox(&t);
        let browser = t.browser().await;
        browser.register(&user).await;
        assert_eq!(browser.path().await, "/me");
        assert!(browser.text().await.contains("Your email address is not confirmed"));

        let confirm = mail.wait_for(&user.email, "Confirm your email address").await;
        browser.goto(&confirm.link_path()).await;
        browser.press("Confirm my email address").await;
        assert_eq!(browser.path().await, "/me");
        let me = browser.text().await;
        assert!(me.contains("Your email address is confirmed"), "{me}");
        assert!(!me.contains("not confirmed"), "{me}");

        browser.press("Log out").await;
        browser.follow("Forgot your password?").await;
        browser.type_into("Email", &user.email).await;
        browser.press("Send the link").await;
        let reset = mail.wait_for(&user.email, "Reset your gatehouse password").await;
        browser.goto(&reset.link_path()).await;
        browser.type_into("New password", "reset-and-ready-9").await;
        browser.type_into("Confirm new password", "reset-and-ready-9").await;
        browser.press("Set the new password").await;
        browser.log_in_here(&user.email, "reset-and-ready-9").await;
        assert_eq!(browser.path().await, "/me");

        let new_email = format!("new-{}", user.email);
        browser.follow("Change email address").await;
        browser.type_into("New email address", &new_email).await;
        browser.type_into("Current password", "reset-and-ready-9").await;
        browser.press("Send the confirmation link").await;
        assert!(browser.text().await.contains(&format!("We have sent a confirmation link to {new_email}")));
        let change = mail.wait_for(&new_email, "Confirm your new email address").await;
        browser.goto(&change.link_path()).await;
        browser.press("Confirm my email address").await;
        assert!(browser.text().await.contains(&new_email));
        mail.wait_for(&user.email, "Your gatehouse email address was changed").await;

        browser.follow("Delete account").await;
        browser.type_into("Current password", "reset-and-ready-9").await;
        browser.press("Delete my account").await;
        assert_eq!(browser.path().await, "/");
        assert!(browser.text().await.contains("Your account has been deleted"));
        browser.goto("/login").await;
        browser.log_in_here(&new_email, "reset-and-ready-9").await;
        assert!(browser.text().await.contains("Invalid email or password"));
    }
);
