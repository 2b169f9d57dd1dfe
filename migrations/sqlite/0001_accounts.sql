CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,
    email_key     TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE password_resets (
    token_hash TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_resets_user ON password_resets(user_id);

CREATE TABLE call_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id        TEXT    NOT NULL UNIQUE,
    caller_name    TEXT    NOT NULL,
    callee_name    TEXT    NOT NULL,
    caller_user_id BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    callee_user_id BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    started_at     BIGINT  NOT NULL,
    answered_at    BIGINT,
    ended_at       BIGINT,
    outcome        TEXT
);
CREATE INDEX call_log_caller ON call_log(caller_user_id, started_at);
CREATE INDEX call_log_callee ON call_log(callee_user_id, started_at);
