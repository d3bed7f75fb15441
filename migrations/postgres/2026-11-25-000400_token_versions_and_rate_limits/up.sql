-- Raised to revoke every token of a user at once; tokens carry the version
-- they were issued under.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

-- Fixed-window counters of failed logins and registrations, shared by every
-- instance on the database.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    -- Unix seconds at which the window ends and the count starts over.
    reset_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_reset_at ON rate_limits (reset_at);
