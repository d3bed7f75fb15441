-- Whether the account has opened a confirmation link sent to its address.
-- Accounts from before are unconfirmed: they confirm by a resend from /me.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- Links sent by email, one row per live link: confirm the address, reset
-- the password, confirm a new address. Only the SHA-256 of the token is
-- kept; a used, replaced or expired link has no row.
CREATE TABLE link_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    -- The address a change-of-email link confirms.
    new_email TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX link_tokens_user_purpose ON link_tokens (user_id, purpose);

-- Mail waiting to be sent. A row names what to send, never a link: the
-- sender makes the link when it sends, so no token is stored in the clear.
-- An instance sending a row holds a lease on it; sent rows are deleted.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    new_email TEXT,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_next_attempt_at ON outbox (next_attempt_at);
