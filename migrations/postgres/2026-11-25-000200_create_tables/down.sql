DROP TABLE server_secret;
DROP TABLE denylisted_tokens;
DROP TABLE users;
