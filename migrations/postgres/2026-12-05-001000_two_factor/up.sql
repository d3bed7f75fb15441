-- Two-factor authentication, one row per account that has it on. The TOTP
-- secret is sealed (ChaCha20-Poly1305) under a key derived from the server
-- secret: a dump of the database alone yields no working codes.
CREATE TABLE two_factor (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    -- The newest 30 s step whose code was accepted: a code works once.
    last_step BIGINT NOT NULL,
    enabled_at BIGINT NOT NULL
);

-- Single-use recovery codes, as HMAC-SHA-256 (under a key from the server
-- secret) only.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);
