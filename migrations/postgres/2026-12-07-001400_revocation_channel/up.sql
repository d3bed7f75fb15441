-- Every change that can make a cached token invalid is announced on the
-- channel gatehouse_auth, so that every instance drops it at once: a
-- session ending, a token denylisted, a user row changing or going. A
-- notification is delivered only when its transaction commits.
CREATE FUNCTION gatehouse_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        PERFORM pg_notify('gatehouse_auth', 's:' || NEW.id);
    ELSIF TG_TABLE_NAME = 'denylisted_tokens' THEN
        PERFORM pg_notify('gatehouse_auth', 't:' || NEW.jti);
    ELSE
        PERFORM pg_notify('gatehouse_auth', 'u:' || OLD.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_ended AFTER UPDATE OF ended_at ON sessions
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION gatehouse_announce();
CREATE TRIGGER denylisted_tokens_added AFTER INSERT ON denylisted_tokens
    FOR EACH ROW EXECUTE FUNCTION gatehouse_announce();
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW)
    EXECUTE FUNCTION gatehouse_announce();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_announce();
