use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::AnyConnection;
use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    /// Tokens issued under an older version are dead.
    pub token_version: i32,
    /// The address has been confirmed by a link sent to it.
    pub email_verified: bool,
    /// The operator has disabled the account: it cannot log in.
    pub disabled: bool,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: &'a str,
    pub hashed_password: &'a str,
    pub created_at: time::PrimitiveDateTime,
    pub email_verified: bool,
}

/// Which unique value is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Email,
    Username,
}

impl Taken {
    /// The form field the clash is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Email => "Email already registered",
            Self::Username => "Username already taken",
        }
    }
}

pub fn find_user_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The email wins when both are taken.
pub fn find_taken(
    conn: &mut AnyConnection,
    email: &str,
    username_key: &str,
) -> QueryResult<Option<Taken>> {
    let email_taken: bool = diesel::select(diesel::dsl::exists(
        users::table.filter(users::email.eq(email)),
    ))
    .get_result(conn)?;
    if email_taken {
        return Ok(Some(Taken::Email));
    }
    let name_taken: bool = diesel::select(diesel::dsl::exists(
        users::table.filter(users::username_key.eq(username_key)),
    ))
    .get_result(conn)?;
    Ok(name_taken.then_some(Taken::Username))
}

/// Inserts a user. A unique index that refuses the row (a registration that
/// raced another) comes back as `Err(Ok(Taken))`. Inside a transaction the
/// insert has its own savepoint, so that PostgreSQL still answers the query
/// that finds out which value was taken.
pub fn insert_user(
    conn: &mut AnyConnection,
    new: &NewUser<'_>,
) -> Result<i32, Result<Taken, Error>> {
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values(new)
            .returning(users::id)
            .get_result(conn)
    });
    match inserted {
        Ok(id) => Ok(id),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            match find_taken(conn, new.email, new.username_key) {
                Ok(Some(taken)) => Err(Ok(taken)),
                // The winner's row is not visible yet: the email is the likely clash.
                Ok(None) => Err(Ok(Taken::Email)),
                Err(e) => Err(Err(e)),
            }
        }
        Err(e) => Err(Err(e)),
    }
}

/// Moves the user's token version on: every token issued so far is dead.
pub fn bump_token_version(conn: &mut AnyConnection, id: i32) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::token_version.eq(users::token_version + 1))
        .execute(conn)
        .map(drop)
}

/// Replaces a hash (after a change of the configured bcrypt cost).
pub fn update_password_hash(
    conn: &mut AnyConnection,
    id: i32,
    hashed_password: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::hashed_password.eq(hashed_password))
        .execute(conn)
        .map(drop)
}

/// The bcrypt cost most of the newest thousand stored hashes have (`None`
/// without users): what a login costs today, read in the same time
/// whether there are a thousand accounts or millions.
pub fn most_common_cost(conn: &mut AnyConnection) -> QueryResult<Option<u32>> {
    #[derive(QueryableByName)]
    struct Cost {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        cost: i32,
    }
    // `$2b$12$…`: the cost is the two digits after the second `$`.
    let found: Option<Cost> = diesel::sql_query(
        "SELECT CAST(substr(hashed_password, 5, 2) AS INTEGER) AS cost \
         FROM (SELECT hashed_password FROM users ORDER BY id DESC LIMIT 1000) AS newest \
         WHERE hashed_password LIKE '$2_$__$%' \
         GROUP BY substr(hashed_password, 5, 2) ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .get_result(conn)
    .optional()?;
    Ok(found.and_then(|c| u32::try_from(c.cost).ok()))
}

pub fn find_user_by_id(conn: &mut AnyConnection, id: i32) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Whether a user other than `id` has this email.
pub fn email_taken_by_other(conn: &mut AnyConnection, email: &str, id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::email.eq(email))
            .filter(users::id.ne(id)),
    ))
    .get_result(conn)
}

/// Marks the address confirmed.
/// Marks the address confirmed; `false` when it was so already.
pub fn set_email_verified(conn: &mut AnyConnection, id: i32) -> QueryResult<bool> {
    let changed = diesel::update(
        users::table
            .find(id)
            .filter(users::email_verified.eq(false)),
    )
    .set(users::email_verified.eq(true))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Whether the account exists and is not disabled, as of now.
pub fn is_active(conn: &mut AnyConnection, id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.find(id).filter(users::disabled.eq(false)),
    ))
    .get_result(conn)
}

/// Gives the user a new, confirmed address. A unique index that refuses
/// it (another account took it meanwhile) is `Err(Ok(Taken::Email))`.
pub fn change_email(
    conn: &mut AnyConnection,
    id: i32,
    email: &str,
) -> Result<(), Result<Taken, Error>> {
    let updated = conn.transaction(|conn| {
        diesel::update(users::table.find(id))
            .set((users::email.eq(email), users::email_verified.eq(true)))
            .execute(conn)
    });
    match updated {
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(Ok(Taken::Email)),
        Err(e) => Err(Err(e)),
    }
}

/// Deletes the user; sessions, links and waiting mail go with the row.
pub fn delete_user(conn: &mut AnyConnection, id: i32) -> QueryResult<bool> {
    Ok(diesel::delete(users::table.find(id)).execute(conn)? > 0)
}

/// An account as the operator lists it.
#[derive(Debug, Clone, Queryable)]
pub struct Listed {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub two_factor: bool,
    pub created_at: time::PrimitiveDateTime,
}

/// Every account, oldest first; or only the one with `email`.
pub fn list(conn: &mut AnyConnection, email: Option<&str>) -> QueryResult<Vec<Listed>> {
    use crate::schema::two_factor;
    let mut query = users::table
        .left_join(two_factor::table)
        .select((
            users::id,
            users::username,
            users::email,
            users::email_verified,
            users::disabled,
            two_factor::user_id.nullable().is_not_null(),
            users::created_at,
        ))
        .order(users::id)
        .into_boxed();
    if let Some(email) = email {
        query = query.filter(users::email.eq(email.to_owned()));
    }
    query.load(conn)
}

/// Sets whether the account is disabled; `false` when it was so already.
pub fn set_disabled(conn: &mut AnyConnection, id: i32, disabled: bool) -> QueryResult<bool> {
    let changed = diesel::update(users::table.find(id).filter(users::disabled.ne(disabled)))
        .set(users::disabled.eq(disabled))
        .execute(conn)?;
    Ok(changed > 0)
}
