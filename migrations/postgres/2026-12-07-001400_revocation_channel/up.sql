-- Every change that can make a cached token invalid is announced on the
-- channel gatehouse_auth, so that every instance drops it at once: a
-- session ending or its refresh credential rotated (s:ID), a token
-- denylisted (t:JTI), a user row changing or going (u:ID). A notification is delivered only when its transaction
-- commits. The triggers run once a statement: a statement that touches
-- more than 100 rows (an operator's bulk SQL, a purge) sends one '*'
-- instead, which drops every cached token, so that no listener is flooded.
CREATE FUNCTION gatehouse_announce(payloads TEXT[]) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(payloads) > 100 THEN
        PERFORM pg_notify('gatehouse_auth', '*');
    ELSE
        PERFORM pg_notify('gatehouse_auth', payload) FROM unnest(payloads) AS payload;
    END IF;
END
$$;

CREATE FUNCTION gatehouse_sessions_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gatehouse_announce(ARRAY(
        SELECT 's:' || n.id FROM old_rows o JOIN new_rows n ON o.id = n.id
        WHERE (o.ended_at IS NULL AND n.ended_at IS NOT NULL)
           OR o.refresh_hash <> n.refresh_hash));
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_ended AFTER UPDATE ON sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_sessions_ended();

CREATE FUNCTION gatehouse_tokens_denylisted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gatehouse_announce(ARRAY(SELECT 't:' || jti FROM new_rows));
    RETURN NULL;
END
$$;
CREATE TRIGGER denylisted_tokens_added AFTER INSERT ON denylisted_tokens
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_tokens_denylisted();

CREATE FUNCTION gatehouse_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gatehouse_announce(ARRAY(
        SELECT 'u:' || o.id FROM old_rows o JOIN new_rows n ON o.id = n.id
        WHERE o IS DISTINCT FROM n));
    RETURN NULL;
END
$$;
CREATE TRIGGER users_changed AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_users_changed();

CREATE FUNCTION gatehouse_users_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gatehouse_announce(ARRAY(SELECT 'u:' || id FROM old_rows));
    RETURN NULL;
END
$$;
CREATE TRIGGER users_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_users_deleted();
