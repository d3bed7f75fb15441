//! Names, paths and texts of the app that tests look for: cookie names,
//! the messages the server renders, and text that must never leak.

/// Name of the cookie holding the JWT.
pub const AUTH_COOKIE: &str = "gatehouse_token";
/// Name of the cookie holding flash messages and the CSRF token.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// Default token lifetime in seconds (15 minutes).
pub const DEFAULT_TTL_SECS: u64 = 900;
/// Where an anonymous visitor of `/me` is sent.
pub const LOGIN_FOR_ME: &str = "/login?next=%2Fme";

// Field messages rendered by the server, in pages and in the API.
pub const USERNAME_LENGTH: &str = "Username must be between 3 and 32 characters";
pub const USERNAME_CHARACTERS: &str =
    "Username may contain only letters, digits, underscores, hyphens and dots";
pub const EMAIL_INVALID: &str = "Enter a valid email address";
pub const EMAIL_TOO_LONG: &str = "Email must be at most 254 characters";
pub const PASSWORD_TOO_SHORT: &str = "Password must be at least 8 characters";
pub const PASSWORD_TOO_LONG: &str = "Password must be at most 72 bytes";
pub const PASSWORDS_DIFFER: &str = "Passwords do not match";
pub const EMAIL_TAKEN: &str = "Email already registered";
pub const USERNAME_TAKEN: &str = "Username already taken";
pub const INVALID_CREDENTIALS: &str = "Invalid email or password";
pub const LOGGED_OUT: &str = "You have been logged out";
/// A right password of an account the operator has disabled.
pub const ACCOUNT_DISABLED: &str = "This account is disabled";

/// Text that would show serde, SQL or a panic leaking into an answer.
pub const LEAKS: [&str; 8] = [
    "invalid type",
    "missing field",
    "expected",
    "line 1 column",
    "SELECT",
    "INSERT",
    "panicked",
    "diesel",
];

/// The content type of an HTML form post.
pub const FORM: &str = "application/x-www-form-urlencoded";

// Subjects of the mail the server sends (a test matches a part of one).
pub const CONFIRM_MAIL: &str = "Confirm your email address";
pub const NEW_ADDRESS_MAIL: &str = "Confirm your new email address";
pub const ADDRESS_CHANGED_MAIL: &str = "Your gatehouse email address was changed";
pub const RESET_MAIL: &str = "Reset your gatehouse password";
pub const PASSWORD_CHANGED_MAIL: &str = "Your gatehouse password was changed";

/// The page of a link that is unknown, used or out of date.
pub const LINK_INVALID: &str = "This link is invalid or has expired";
