DROP TRIGGER users_deleted ON users;
DROP TRIGGER users_changed ON users;
DROP TRIGGER denylisted_tokens_added ON denylisted_tokens;
DROP TRIGGER sessions_ended ON sessions;
DROP FUNCTION gatehouse_users_deleted();
DROP FUNCTION gatehouse_users_changed();
DROP FUNCTION gatehouse_tokens_denylisted();
DROP FUNCTION gatehouse_sessions_ended();
DROP FUNCTION gatehouse_announce(TEXT[]);
