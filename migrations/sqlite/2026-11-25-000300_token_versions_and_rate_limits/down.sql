DROP TABLE rate_limits;
ALTER TABLE users DROP COLUMN token_version;
