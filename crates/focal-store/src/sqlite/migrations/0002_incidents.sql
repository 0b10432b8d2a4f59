-- Incidents, the audit log and the notification outbox (issue 4).

-- The language a constituent's notifications are written in (BCP 47 tag); NULL for the default.
ALTER TABLE constituents ADD COLUMN language TEXT;

-- One incident groups the events that share a grouping key (by default constituent ×
-- classification.type × UTC day of the event). Times are Unix microseconds.
CREATE TABLE incidents (
    id                  INTEGER PRIMARY KEY,
    group_key           TEXT NOT NULL,
    constituent         TEXT NOT NULL,
    classification_type TEXT NOT NULL,
    state               TEXT NOT NULL,
    severity            TEXT NOT NULL,       -- the effective severity
    severity_override   INTEGER NOT NULL DEFAULT 0,  -- 1 when set by hand
    tlp                 TEXT NOT NULL,       -- the most restrictive TLP of its events
    assignee            TEXT,
    event_count         INTEGER NOT NULL DEFAULT 0,
    first_event         INTEGER NOT NULL,
    last_event          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    due_at              INTEGER NOT NULL,    -- SLA: resolve by
    closed_at           INTEGER              -- when it left the open states
);
-- At most one open incident per key: new events join it instead of opening another.
CREATE UNIQUE INDEX incidents_open_by_key ON incidents(group_key)
    WHERE state IN ('new', 'acknowledged', 'notified', 'in_progress');
CREATE INDEX incidents_by_constituent ON incidents(constituent);

-- Which incident each event belongs to (an event belongs to at most one). Keyed by the event's
-- seq, which grouping visits in increasing order, so inserts append.
CREATE TABLE incident_events (
    event_seq   INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id)
);
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, event_seq);

-- What happened to an incident: created, transitions, assignment, severity, comments, notified.
CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL            -- JSON
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline(incident_id, id);

-- Named progress markers, e.g. 'grouping' = the last event seq grouped. Saved in the same
-- transaction as the work they mark, so a killed process resumes exactly where it stopped.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Append-only, hash-chained audit log: hash = SHA-256 over this entry's fields and prev_hash.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    before    TEXT,                      -- JSON or NULL
    after     TEXT,                      -- JSON or NULL
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Per constituent, the last event seq already claimed into an outbox message.
CREATE TABLE notify_cursors (
    constituent TEXT PRIMARY KEY,
    last_seq    INTEGER NOT NULL
);

-- The transactional outbox: one row per message to send. A row covers the constituent's events
-- with after_seq < seq <= last_seq; rows of one constituent never overlap.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    constituent     TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    after_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    range_events    INTEGER NOT NULL,    -- events of the constituent in the range
    message_id      TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,       -- pending, sending, sent, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_by_state ON outbox(state, next_attempt_at);

-- Every attempt to deliver an outbox message, successful or not.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id),
    constituent TEXT NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,           -- sent, retry, failed
    detail      TEXT NOT NULL
);
CREATE INDEX deliveries_by_constituent ON deliveries(constituent, at);
