DROP INDEX sessions_idle_until;
DROP INDEX sessions_expires_at;
DROP INDEX sessions_ended_at;
