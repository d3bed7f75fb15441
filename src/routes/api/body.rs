//! Reading JSON bodies: an object whose fields are strings, read exactly,
//! and the body of each API request, whose schema the OpenAPI document
//! shows. Fields other than the ones named are ignored.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth;
use crate::domain::FieldError;
use crate::web::ApiError;

/// A JSON object with no key twice (serde_json would keep the last one
/// silently). Anything but an object is a deserialization error, which the
/// JSON config turns into 422.
pub struct JsonObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = JsonObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonObject, A::Error> {
                let mut map = Map::new();
                let mut seen = HashSet::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom("a key appears twice"));
                    }
                    map.insert(key, value);
                }
                Ok(JsonObject(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Takes the named string fields out of an object. A missing field is `""`
/// when `required` is false; other fields are ignored.
pub fn string_fields<const N: usize>(
    object: &JsonObject,
    names: [&'static str; N],
    required: bool,
) -> Result<[String; N], ApiError> {
    let mut errors = Vec::new();
    let values = names.map(|field| match object.0.get(field) {
        Some(Value::String(value)) => value.clone(),
        None if !required => String::new(),
        None => {
            errors.push(FieldError {
                field,
                message: "This field is required",
            });
            String::new()
        }
        Some(_) => {
            errors.push(FieldError {
                field,
                message: "Must be a string",
            });
            String::new()
        }
    });
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(auth::Error::Invalid(errors).into())
    }
}

/// An optional boolean field: absent is `false`.
pub fn flag_field(object: &JsonObject, field: &'static str) -> Result<bool, ApiError> {
    match object.0.get(field) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(auth::Error::Invalid(vec![FieldError {
            field,
            message: "Must be true or false",
        }])
        .into()),
    }
}

/// `POST /api/register`. A missing field counts as empty, and is refused
/// by the rules of that field.
#[derive(ToSchema)]
pub struct RegisterRequest {
    /// 3–32 letters, digits, `_`, `-` and `.` (after NFKC normalization and
    /// trimming); unique whatever the case.
    pub username: String,
    /// An address of at most 254 characters; stored trimmed and in lower case.
    pub email: String,
    /// At least 8 characters and at most 72 bytes (after NFKC
    /// normalization), no control characters, not a common password.
    pub password: String,
}

impl RegisterRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [username, email, password] =
            string_fields(body, ["username", "email", "password"], false)?;
        Ok(Self {
            username,
            email,
            password,
        })
    }
}

/// `POST /api/login`.
#[derive(ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A remembered session lasts `GATEHOUSE_REMEMBER_FOR` instead of the
    /// idle limit and lifetime of an ordinary one.
    #[schema(required = false, default = false)]
    pub remember: bool,
    /// The two-factor code (six digits) or a recovery code, for an account
    /// with two-factor authentication on; ignored for any other account.
    /// Empty counts as absent.
    #[schema(value_type = String, required = false)]
    pub code: Option<String>,
}

impl LoginRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [email, password] = string_fields(body, ["email", "password"], true)?;
        let remember = flag_field(body, "remember")?;
        let [code] = string_fields(body, ["code"], false)?;
        Ok(Self {
            email,
            password,
            remember,
            code: Some(code).filter(|c| !c.trim().is_empty()),
        })
    }
}

/// `POST /api/refresh`.
#[derive(ToSchema)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last login or refresh of the session.
    pub refresh_token: String,
}

impl RefreshRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [refresh_token] = string_fields(body, ["refresh_token"], true)?;
        Ok(Self { refresh_token })
    }
}

/// `POST /api/me/password`.
#[derive(ToSchema)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    /// The rules of a registration's password.
    pub new_password: String,
}

impl PasswordChangeRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [current_password, new_password] =
            string_fields(body, ["current_password", "new_password"], true)?;
        Ok(Self {
            current_password,
            new_password,
        })
    }
}

/// `DELETE /api/me`.
#[derive(ToSchema)]
pub struct DeleteAccountRequest {
    pub current_password: String,
}

impl DeleteAccountRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [current_password] = string_fields(body, ["current_password"], true)?;
        Ok(Self { current_password })
    }
}

/// `POST /api/password/forgot`.
#[derive(ToSchema)]
pub struct ForgotPasswordRequest {
    pub email: String,
}

impl ForgotPasswordRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [email] = string_fields(body, ["email"], true)?;
        Ok(Self { email })
    }
}

/// `POST /api/password/reset`.
#[derive(ToSchema)]
pub struct ResetPasswordRequest {
    /// The token of the link in the reset email (the last part of
    /// `/password/reset/{token}`).
    pub token: String,
    /// The rules of a registration's password.
    pub password: String,
}

impl ResetPasswordRequest {
    pub fn read(body: &JsonObject) -> Result<Self, ApiError> {
        let [token, password] = string_fields(body, ["token", "password"], true)?;
        Ok(Self { token, password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Result<JsonObject, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn only_objects_are_read() {
        for json in [r#"["a@b.c", "pw"]"#, r#""a""#, "5", "null"] {
            assert!(object(json).is_err_and(|e| e.is_data()), "{json}");
        }
        assert!(object(r#"{"email": "a@b.c"}"#).is_ok());
    }

    #[test]
    fn a_repeated_key_is_refused() {
        assert!(object(r#"{"email": "a", "email": "b"}"#).is_err_and(|e| e.is_data()));
    }

    #[test]
    fn fields_must_be_strings() {
        let body = object(r#"{"email": 5, "password": "x", "extra": true}"#).expect("object");
        let Err(ApiError(crate::web::AppError::Auth(auth::Error::Invalid(errors)))) =
            string_fields(&body, ["email", "password"], true)
        else {
            panic!("a number is not a string");
        };
        assert_eq!(
            errors,
            [FieldError {
                field: "email",
                message: "Must be a string"
            }]
        );
    }

    #[test]
    fn missing_fields_are_empty_or_required() {
        let body = object(r#"{"email": "a@b.c"}"#).expect("object");
        let fields = string_fields(&body, ["email", "password"], false).ok();
        assert_eq!(fields, Some(["a@b.c".to_owned(), String::new()]));
        assert!(string_fields(&body, ["email", "password"], true).is_err());
    }
}
