-- The web application (issue 6): login sessions, login throttling, and scoped, revocable API
-- tokens.

-- A session is known by the SHA-256 of its cookie value, so a copy of the database does not
-- hand out live sessions. csrf is the synchronizer token every form of the session carries.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,          -- Unix microseconds
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- Failed logins per key ('user:NAME' or 'ip:ADDRESS'): how many since the last success and
-- when the last one was. The wait before the next attempt grows exponentially with failures.
CREATE TABLE login_failures (
    key       TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL,
    last_at   INTEGER NOT NULL            -- Unix microseconds
);

-- What a token may do on /api/v1: 'read' (GET only) or 'write'. Tokens issued before this
-- migration keep full rights, as they had. Revoking sets revoked_at and expires the token, so
-- the TAXII check (which looks at expires_at) refuses it too.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;

-- Event counts per UTC day for the dashboard, by dimension ('type', 'asn', 'cc') and constituent
-- ('' for none), so the dashboard reads a few thousand rows instead of scanning events. Brought
-- up to date from the cursor 'web_rollup' (the last event seq counted) in one transaction with
-- the cursor, like grouping; events are only ever appended, so each is counted once.
CREATE TABLE event_rollup (
    dim         TEXT NOT NULL,
    day         INTEGER NOT NULL,     -- days since 1970-01-01 (UTC) of time_event
    constituent TEXT NOT NULL,
    value       TEXT NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (dim, day, constituent, value)
);
