DROP TABLE outbox;
DROP TABLE link_tokens;
ALTER TABLE users DROP COLUMN email_verified;
