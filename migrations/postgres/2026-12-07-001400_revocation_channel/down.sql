DROP TRIGGER users_deleted ON users;
DROP TRIGGER users_changed ON users;
DROP TRIGGER denylisted_tokens_added ON denylisted_tokens;
DROP TRIGGER sessions_ended ON sessions;
DROP FUNCTION gatehouse_announce();
