//! The accounts JSON API: sign up, sign in, sign out, forgot/reset/change password, recent calls.
//!
//! Errors are JSON `{"error": "...", "fields": {"field": "message"}}` with a fitting status.
//! No answer tells whether a username or email exists, except sign-up's "already taken".

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;

use super::client_ip::ClientIp;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::auth::rules::{self, FieldErrors};
use crate::auth::{RESET_LIFETIME_SECS, SESSION_COOKIE, SESSION_LIFETIME_SECS, password, token};
use crate::store::{NewUser, StoreError, User};

/// A failed API call.
pub enum ApiError {
    BadRequest(String),
    Fields(FieldErrors),
    Conflict(FieldErrors),
    Unauthorized(String),
    TooMany(Duration),
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let fields = |errors: FieldErrors| {
            let map: Map<String, Value> = errors
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            Value::Object(map)
        };
        match self {
            ApiError::BadRequest(msg) => {
                (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
            }
            ApiError::Fields(errors) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "Please correct the marked fields.", "fields": fields(errors)})),
            )
                .into_response(),
            ApiError::Conflict(errors) => (
                StatusCode::CONFLICT,
                Json(json!({"error": "Already taken.", "fields": fields(errors)})),
            )
                .into_response(),
            ApiError::Unauthorized(msg) => {
                (StatusCode::UNAUTHORIZED, Json(json!({"error": msg}))).into_response()
            }
            ApiError::TooMany(wait) => {
                let secs = wait.as_secs().max(1);
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"error": format!("Too many attempts. Try again in {secs} seconds.")})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response
            }
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "Accounts are unavailable right now. Please try again shortly."})),
            )
                .into_response(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "account storage failed");
        ApiError::Unavailable
    }
}

type ApiResult = Result<Response, ApiError>;

/// Parse a JSON body with a clear error instead of axum's plain-text rejection.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| {
        ApiError::BadRequest(
            "The request body must be a JSON object with the expected fields.".into(),
        )
    })
}

fn limit(result: Result<(), Duration>) -> Result<(), ApiError> {
    result.map_err(ApiError::TooMany)
}

fn user_json(user: &User) -> Value {
    json!({"id": user.id, "username": user.username, "email": user.email})
}

fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_LIFETIME_SECS))
        .build()
}

fn clear_cookie() -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, "")).path("/").build()
}

/// The signed-in user behind a cookie jar, if any.
pub async fn current_user(state: &AppState, jar: &CookieJar) -> Result<Option<User>, StoreError> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    if !token::well_formed(cookie.value()) {
        return Ok(None);
    }
    state
        .store
        .session_user(&token::digest(cookie.value()), SESSION_LIFETIME_SECS)
        .await
}

/// The signed-in identity for a signaling session. A database outage must not stop calls:
/// the person is then treated as a guest.
pub async fn signed_in(state: &AppState, jar: &CookieJar) -> Option<crate::signaling::SignedIn> {
    match current_user(state, jar).await {
        Ok(user) => user.map(|u| crate::signaling::SignedIn {
            user_id: u.id,
            username: u.username,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the session cookie");
            None
        }
    }
}

async fn start_session(
    state: &AppState,
    jar: CookieJar,
    user: &User,
) -> Result<CookieJar, ApiError> {
    let token = token::generate();
    state
        .store
        .create_session(&token::digest(&token), user.id, SESSION_LIFETIME_SECS)
        .await?;
    Ok(jar.add(session_cookie(token, state.config.secure_cookies())))
}

/// Check a new password and its confirmation, then hash it.
async fn new_password_hash(password: &str, confirm: &str) -> Result<String, ApiError> {
    let mut errors = FieldErrors::new();
    rules::check_new_password(&mut errors, "password", password, confirm);
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    hash_password(password).await
}

async fn hash_password(password: &str) -> Result<String, ApiError> {
    password::hash(password).await.map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::Unavailable
    })
}

#[derive(Deserialize)]
pub struct SignUp {
    username: String,
    email: String,
    password: String,
    confirm: String,
}

pub async fn sign_up(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    jar: CookieJar,
    bytes: Bytes,
) -> ApiResult {
    let form: SignUp = body(&bytes)?;
    limit(state.limits.sign_up_ip.check(&peer.to_string()))?;
    let username = form.username.trim();
    let mut errors = FieldErrors::new();
    if let Some(p) = rules::username_problem(username) {
        errors.push(("username", p));
    }
    if let Some(p) = rules::email_problem(&form.email) {
        errors.push(("email", p));
    }
    rules::check_new_password(&mut errors, "password", &form.password, &form.confirm);
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors));
    }
    let hash = hash_password(&form.password).await?;
    let user = match state
        .store
        .create_user(NewUser {
            username,
            email: &form.email,
            password_hash: &hash,
        })
        .await
    {
        Ok(user) => user,
        Err(StoreError::UsernameTaken) => {
            return Err(ApiError::Conflict(vec![(
                "username",
                "That username is already taken.".into(),
            )]));
        }
        Err(StoreError::EmailTaken) => {
            return Err(ApiError::Conflict(vec![(
                "email",
                "An account with that email already exists. Sign in or reset your password.".into(),
            )]));
        }
        Err(e) => return Err(e.into()),
    };
    let jar = start_session(&state, jar, &user).await?;
    Ok((
        StatusCode::CREATED,
        jar,
        Json(json!({"user": user_json(&user)})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SignIn {
    login: String,
    password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    jar: CookieJar,
    bytes: Bytes,
) -> ApiResult {
    let form: SignIn = body(&bytes)?;
    let login = form.login.trim();
    limit(state.limits.sign_in_ip.check(&peer.to_string()))?;
    limit(
        state
            .limits
            .sign_in_account
            .check(&crate::store::users_key(login)),
    )?;
    let wrong = || ApiError::Unauthorized("Wrong username, email or password.".into());
    if login.is_empty()
        || login.chars().count() > rules::MAX_EMAIL_CHARS
        || form.password.len() > rules::MAX_PASSWORD_BYTES
    {
        return Err(wrong());
    }
    let Some(user) = state.store.user_by_login(login).await? else {
        password::dummy_verify(&form.password).await;
        return Err(wrong());
    };
    if !password::verify(&form.password, &user.password_hash).await {
        return Err(wrong());
    }
    let jar = start_session(&state, jar, &user).await?;
    Ok((jar, Json(json!({"user": user_json(&user)}))).into_response())
}

pub async fn sign_out(State(state): State<AppState>, jar: CookieJar) -> ApiResult {
    if let Some(cookie) = jar.get(SESSION_COOKIE)
        && token::well_formed(cookie.value())
    {
        state
            .store
            .delete_session(&token::digest(cookie.value()))
            .await?;
    }
    Ok((jar.remove(clear_cookie()), StatusCode::NO_CONTENT).into_response())
}

pub async fn me(State(state): State<AppState>, jar: CookieJar) -> ApiResult {
    match current_user(&state, &jar).await? {
        Some(user) => Ok(Json(json!({"user": user_json(&user)})).into_response()),
        None => Err(ApiError::Unauthorized("Not signed in.".into())),
    }
}

#[derive(Deserialize)]
pub struct Forgot {
    email: String,
}

/// Always the same answer, whether or not the address has an account.
pub async fn forgot(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let form: Forgot = body(&bytes)?;
    if let Some(p) = rules::email_problem(&form.email) {
        return Err(ApiError::Fields(vec![("email", p)]));
    }
    limit(state.limits.reset_ip.check(&peer.to_string()))?;
    let answer = Json(
        json!({"message": "If an account uses that address, a reset link is on its way. It works for 30 minutes."}),
    );
    if state
        .limits
        .reset_account
        .check(&crate::store::users_key(&form.email))
        .is_err()
    {
        // Quietly stop mailing one address repeatedly, without revealing that it exists.
        return Ok((StatusCode::ACCEPTED, answer).into_response());
    }
    if let Some(user) = state.store.user_by_email(&form.email).await? {
        let token = token::generate();
        state
            .store
            .create_reset(&token::digest(&token), user.id, RESET_LIFETIME_SECS)
            .await?;
        let link = format!("{}/reset?token={token}", state.base_url(&headers));
        let body = format!(
            "Hello {},\n\nSomeone (hopefully you) asked to reset the password of your Confer account.\n\
             Open this link within 30 minutes to choose a new password:\n\n{link}\n\n\
             If you did not ask for this, ignore this message; your password stays as it is.\n",
            user.username
        );
        state
            .mailer
            .send_in_background(&user.email, "Reset your Confer password", body);
    }
    Ok((StatusCode::ACCEPTED, answer).into_response())
}

#[derive(Deserialize)]
pub struct Reset {
    token: String,
    password: String,
    confirm: String,
}

pub async fn reset(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    jar: CookieJar,
    bytes: Bytes,
) -> ApiResult {
    let form: Reset = body(&bytes)?;
    limit(state.limits.reset_ip.check(&peer.to_string()))?;
    // Check the new password before using up the link, so a typo does not waste it.
    let hash = new_password_hash(&form.password, &form.confirm).await?;
    let invalid = || {
        ApiError::BadRequest(
            "This reset link is invalid, expired or already used. Ask for a new one.".into(),
        )
    };
    if !token::well_formed(&form.token) {
        return Err(invalid());
    }
    let Some(user_id) = state
        .store
        .consume_reset(&token::digest(&form.token))
        .await?
    else {
        return Err(invalid());
    };
    // Also revokes every session, so whoever had the old password is signed out.
    state.store.set_password_hash(user_id, &hash).await?;
    Ok((
        jar.remove(clear_cookie()),
        Json(json!({"message": "Your password is changed. Sign in with the new one."})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ChangePassword {
    current: String,
    password: String,
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    jar: CookieJar,
    bytes: Bytes,
) -> ApiResult {
    let form: ChangePassword = body(&bytes)?;
    let Some(user) = current_user(&state, &jar).await? else {
        return Err(ApiError::Unauthorized("Not signed in.".into()));
    };
    limit(
        state
            .limits
            .sign_in_account
            .check(&crate::store::users_key(&user.username)),
    )?;
    if !password::verify(&form.current, &user.password_hash).await {
        return Err(ApiError::Fields(vec![(
            "current",
            "That is not your current password.".into(),
        )]));
    }
    let hash = new_password_hash(&form.password, &form.confirm).await?;
    state.store.set_password_hash(user.id, &hash).await?;
    // Other sessions are revoked; keep this one signed in with a fresh session.
    let jar = start_session(&state, jar, &user).await?;
    Ok((jar, Json(json!({"message": "Your password is changed."}))).into_response())
}

pub async fn recent_calls(State(state): State<AppState>, jar: CookieJar) -> ApiResult {
    let Some(user) = current_user(&state, &jar).await? else {
        return Err(ApiError::Unauthorized("Not signed in.".into()));
    };
    let calls = state.store.recent_calls(user.id, 50).await?;
    let rows: Vec<Value> = calls
        .iter()
        .map(|c| {
            let outgoing = c.caller_user_id == Some(user.id);
            json!({
                "call": c.call_id,
                "direction": if outgoing { "outgoing" } else { "incoming" },
                "other": if outgoing { &c.callee } else { &c.caller },
                "started_at": c.started_at,
                "answered_at": c.answered_at,
                "ended_at": c.ended_at,
                "outcome": c.outcome,
            })
        })
        .collect();
    Ok(Json(json!({"calls": rows})).into_response())
}
