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

diesel::allow_tables_to_appear_in_same_query!(denylisted_tokens, rate_limits, server_secret, users);
