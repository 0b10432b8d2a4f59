-- Focal's first SQLite schema: constituents, ingestion runs, events and the quarantine.

CREATE TABLE constituents (
    pk          INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    abuse_email TEXT NOT NULL,
    asns        TEXT NOT NULL,  -- JSON array of numbers
    netblocks   TEXT NOT NULL,  -- JSON array of CIDR strings
    domains     TEXT NOT NULL,  -- JSON array of strings
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    feed          TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    resumed_from  INTEGER REFERENCES runs(id),
    rows_read     INTEGER NOT NULL DEFAULT 0,
    events_stored INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    quarantined   INTEGER NOT NULL DEFAULT 0,
    resume_offset INTEGER NOT NULL DEFAULT 0,
    resume_line   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_content ON runs(sha256, feed);

-- One row per event after de-duplication. `id` is the deterministic event id (16 bytes), so a
-- second write of the same event is ignored. Times are Unix microseconds; addresses are 16-byte
-- IPv6 (IPv4 mapped), so a CIDR filter is a range scan.
CREATE TABLE events (
    seq                       INTEGER PRIMARY KEY,
    id                        BLOB NOT NULL UNIQUE,
    run_id                    INTEGER NOT NULL REFERENCES runs(id),
    time_event                INTEGER NOT NULL,  -- time.source, else time.observation
    time_source               INTEGER,
    time_observation          INTEGER NOT NULL,
    feed_name                 TEXT NOT NULL,
    feed_provider             TEXT,
    feed_url                  TEXT,
    source_ip                 BLOB,
    source_port               INTEGER,
    source_asn                INTEGER,
    source_as_name            TEXT,
    source_network            TEXT,
    source_cc                 TEXT,
    source_fqdn               TEXT,
    source_url                TEXT,
    destination_ip            BLOB,
    destination_port          INTEGER,
    destination_fqdn          TEXT,
    protocol_transport        TEXT,
    protocol_application      TEXT,
    malware_name              TEXT,
    classification_type       TEXT NOT NULL,
    classification_identifier TEXT,
    comment                   TEXT,
    tlp                       TEXT NOT NULL,
    constituent               TEXT,
    extra                     TEXT,
    raw                       BLOB
);
CREATE INDEX events_by_time ON events(time_event);
CREATE INDEX events_by_constituent ON events(constituent, time_event);
CREATE INDEX events_by_source_ip ON events(source_ip);

-- Malformed records, with where they came from. (sha256, line) is unique, so re-reading the same
-- file quarantines each bad record once.
CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    sha256         TEXT NOT NULL,
    feed           TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    line           INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    field          TEXT,
    reason         TEXT NOT NULL,
    raw            BLOB NOT NULL,
    quarantined_at TEXT NOT NULL,
    UNIQUE (sha256, feed, line)
);
