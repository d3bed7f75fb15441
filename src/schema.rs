// The tables of migrations/sqlite and migrations/postgres (the same schema).

diesel::table! {
    denylisted_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    rate_limits (key) {
        key -> Text,
        count -> Integer,
        reset_at -> BigInt,
    }
}

diesel::table! {
    server_secret (id) {
        id -> Integer,
        secret -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Integer,
        created_at -> BigInt,
        last_used_at -> BigInt,
        idle_secs -> BigInt,
        expires_at -> BigInt,
        remembered -> Bool,
        client_ip -> Text,
        user_agent -> Text,
        refresh_hash -> Text,
        ended_at -> Nullable<BigInt>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    spent_refresh_tokens (refresh_hash) {
        refresh_hash -> Text,
        session_id -> Text,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(spent_refresh_tokens -> sessions (session_id));

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        username_key -> Text,
        email -> Text,
        hashed_password -> Text,
        created_at -> Timestamp,
        token_version -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    denylisted_tokens,
    rate_limits,
    server_secret,
    sessions,
    spent_refresh_tokens,
    users
);
