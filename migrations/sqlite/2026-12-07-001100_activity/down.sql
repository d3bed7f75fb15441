ALTER TABLE outbox DROP COLUMN device;
ALTER TABLE outbox DROP COLUMN client_ip;
DROP TABLE events;
ALTER TABLE users DROP COLUMN disabled;
