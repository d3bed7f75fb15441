-- An account the operator has disabled cannot log in; its sessions ended
-- when it was disabled.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;

-- What happened to each account: one row per event, kept for
-- GATEHOUSE_ACTIVITY_RETENTION. No foreign key: a deleted account keeps
-- one `account.deleted` row, without address or device. Times are Unix
-- seconds; `id` orders events of the same second (a reset request is
-- recorded when its mail is made, with the time it was asked for).
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    ip TEXT NOT NULL,
    device TEXT NOT NULL
);
CREATE INDEX events_user_id ON events (user_id, at, id);
CREATE INDEX events_at ON events (at);

-- Who asked for a password reset, for the account's `password.reset_requested`
-- event: the request path does not look the address up, the sender does.
ALTER TABLE outbox ADD COLUMN client_ip TEXT;
ALTER TABLE outbox ADD COLUMN device TEXT;
