-- One row per login on one device. Access tokens name their session (`sid`);
-- a session ends at logout, when ended by its owner or the operator, or when
-- it has been idle or alive too long. Times are Unix seconds.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    -- The idle limit and the end of the lifetime, fixed at login
    -- (remembered logins get longer ones).
    idle_secs BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    remembered BOOLEAN NOT NULL,
    client_ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    -- SHA-256 of the current refresh credential, never the credential.
    refresh_hash TEXT NOT NULL UNIQUE,
    ended_at BIGINT,
    end_reason TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh credentials already rotated away, kept (as hashes) while their
-- session lives: one presented again was stolen, and ends its session.
CREATE TABLE spent_refresh_tokens (
    refresh_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX spent_refresh_tokens_session_id ON spent_refresh_tokens (session_id);
