-- Identity (issue 11): sessions that can be listed and ended one by one, and throttling per
-- (account, client) and per client.

-- Sessions get a stable id (to list and end them without showing anything secret) and the
-- client address they were signed in from. Sessions are short-lived, so the table is made
-- anew rather than altered: everyone signed in signs in again after the upgrade.
DROP TABLE sessions;
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, so "end session 7" cannot end a later one
    id_hash    TEXT NOT NULL UNIQUE,                -- SHA-256 of the cookie value
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,                    -- Unix microseconds
    expires_at INTEGER NOT NULL,
    client     TEXT                                 -- the address signed in from
);
CREATE INDEX sessions_by_user ON sessions(user_id, expires_at);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- Failures are now counted under 'pair:<client>|<account>' and 'client:<client>' (see
-- focal_identity::throttle); the old per-account and per-address counts are dropped, and old
-- counts are swept by time, hence the index.
DELETE FROM login_failures;
CREATE INDEX login_failures_by_time ON login_failures(last_at);
