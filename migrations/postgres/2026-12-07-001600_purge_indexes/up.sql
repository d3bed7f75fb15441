-- The purge finds ended, expired and idle sessions through indexes rather
-- than by reading every session, however many sessions are stored.
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_until ON sessions ((last_used_at + idle_secs));
