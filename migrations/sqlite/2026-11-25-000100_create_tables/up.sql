CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    -- The username lower-cased: its plain UNIQUE index makes names unique
    -- regardless of case. Emails are stored normalized, so the email column
    -- is its own key.
    username_key TEXT NOT NULL,
    email TEXT NOT NULL,
    hashed_password TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE denylisted_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    -- Unix seconds after which the token is dead anyway and the row can go.
    expires_at BIGINT NOT NULL
);
CREATE INDEX denylisted_tokens_expires_at ON denylisted_tokens (expires_at);

-- The generated signing secret, when GATEHOUSE_SECRET is not set: one row.
CREATE TABLE server_secret (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    secret TEXT NOT NULL
);
