// The tables of migrations/sqlite and migrations/postgres (the same schema).

diesel::table! {
    denylisted_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        user_id -> Integer,
        at -> BigInt,
        event -> Text,
        ip -> Text,
        device -> Text,
    }
}

diesel::table! {
    link_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Integer,
        purpose -> Text,
        new_email -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        user_id -> Nullable<Integer>,
        recipient -> Text,
        new_email -> Nullable<Text>,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        device -> Nullable<Text>,
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
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Integer,
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

diesel::joinable!(link_tokens -> users (user_id));
diesel::joinable!(outbox -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(two_factor -> users (user_id));
diesel::joinable!(spent_refresh_tokens -> sessions (session_id));

diesel::table! {
    two_factor (user_id) {
        user_id -> Integer,
        secret -> Text,
        last_step -> BigInt,
        enabled_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        username_key -> Text,
        email -> Text,
        hashed_password -> Text,
        created_at -> Timestamp,
        token_version -> Integer,
        email_verified -> Bool,
        disabled -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    denylisted_tokens,
    events,
    link_tokens,
    outbox,
    rate_limits,
    recovery_codes,
    server_secret,
    sessions,
    spent_refresh_tokens,
    two_factor,
    users
);
