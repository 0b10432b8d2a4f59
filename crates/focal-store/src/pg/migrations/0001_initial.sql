-- Focal's first PostgreSQL schema. The same tables as the SQLite backend's 0001, with two
-- differences that come from having many writers instead of one:
--   * events.id carries a real UNIQUE constraint. Several workers write at once, so the database,
--     not an in-memory id set, decides that an event exists once; `INSERT ... ON CONFLICT DO
--     NOTHING` makes a redelivered or re-read record a no-op.
--   * there is no dedup_chunks table (the constraint replaces it), and the distributed pipeline's
--     jobs and chunks have tables of their own.
-- Times are Unix microseconds (BIGINT) and addresses 16-byte IPv6 (IPv4 mapped) as in SQLite, so
-- both backends share the encoding code and a CIDR filter is a byte range.

CREATE TABLE constituents (
    pk          BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    abuse_email TEXT NOT NULL,
    asns        TEXT NOT NULL,  -- JSON array of numbers
    netblocks   TEXT NOT NULL,  -- JSON array of CIDR strings
    domains     TEXT NOT NULL,  -- JSON array of strings
    language    TEXT,           -- BCP 47 tag for notifications; NULL for the default
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE runs (
    id            BIGSERIAL PRIMARY KEY,
    feed          TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    resumed_from  BIGINT REFERENCES runs(id),
    rows_read     BIGINT NOT NULL DEFAULT 0,
    events_stored BIGINT NOT NULL DEFAULT 0,
    duplicates    BIGINT NOT NULL DEFAULT 0,
    quarantined   BIGINT NOT NULL DEFAULT 0,
    resume_offset BIGINT NOT NULL DEFAULT 0,
    resume_line   BIGINT NOT NULL DEFAULT 0,
    feed_provider TEXT,
    feed_url      TEXT,
    observed      BIGINT NOT NULL
);
CREATE INDEX runs_by_content ON runs(sha256, feed);

CREATE TABLE as_names (
    asn  BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE events (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  BYTEA NOT NULL UNIQUE,
    run_id              BIGINT NOT NULL REFERENCES runs(id),
    time_event          BIGINT NOT NULL,
    time_source         BIGINT,
    source_ip           BYTEA,
    source_net_first    BYTEA,
    source_net_last     BYTEA,
    source_port         INTEGER,
    source_asn          BIGINT,
    source_network      TEXT,
    source_cc           TEXT,
    source_fqdn         TEXT,
    destination_ip      BYTEA,
    destination_port    INTEGER,
    protocol_transport  TEXT,
    malware_name        TEXT,
    classification_type TEXT NOT NULL,
    tlp                 TEXT NOT NULL,
    constituent         TEXT,
    detail              TEXT,
    raw                 BYTEA
);
CREATE INDEX events_by_constituent ON events(constituent);

CREATE TABLE quarantine (
    id             BIGSERIAL PRIMARY KEY,
    run_id         BIGINT NOT NULL REFERENCES runs(id),
    sha256         TEXT NOT NULL,
    feed           TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    line           BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    field          TEXT,
    reason         TEXT NOT NULL,
    raw            BYTEA NOT NULL,
    quarantined_at TEXT NOT NULL,
    UNIQUE (sha256, feed, line)
);

-- A distributed ingest: one file of one feed, split into chunks that workers process. The feed
-- definition and the CSV header travel with the job, so a worker needs no copy of either.
CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES runs(id),
    feed            TEXT NOT NULL,
    feed_definition TEXT NOT NULL,   -- the feed's TOML
    header          BYTEA,           -- the CSV header record, when the feed has one
    header_line     BIGINT,
    file_name       TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            BIGINT NOT NULL,
    chunk_records   INTEGER NOT NULL, -- how the file was cut, so a resumed submit cuts it alike
    chunk_bytes     INTEGER NOT NULL,
    chunks_total    INTEGER,         -- NULL while the submitter is still publishing
    status          TEXT NOT NULL,   -- publishing | queued | completed
    created_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX jobs_by_content ON jobs(sha256, feed);

-- One row per published chunk. A worker writes the chunk's events, quarantined records and this
-- row's result in one transaction, so `status = 'done'` means exactly "its events are stored";
-- a redelivered chunk that is already done is acknowledged without writing anything.
CREATE TABLE job_chunks (
    job_id        BIGINT NOT NULL REFERENCES jobs(id),
    chunk_no      INTEGER NOT NULL,
    first_line    BIGINT NOT NULL,
    last_line     BIGINT NOT NULL,
    records       INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    status        TEXT NOT NULL,     -- queued | done | failed
    error         TEXT,              -- why a chunk failed for good (an unreadable message)
    rows_read     BIGINT NOT NULL DEFAULT 0,
    events_stored BIGINT NOT NULL DEFAULT 0,
    duplicates    BIGINT NOT NULL DEFAULT 0,
    quarantined   BIGINT NOT NULL DEFAULT 0,
    worker        TEXT,
    deliveries    INTEGER NOT NULL DEFAULT 0,
    finished_at   TEXT,
    PRIMARY KEY (job_id, chunk_no)
);

-- The append-only, hash-chained audit log (see audit_chain.rs). Ids are dense and assigned under
-- an advisory lock, so concurrent writers extend one chain.
CREATE TABLE audit_log (
    id        BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    before    TEXT,
    after     TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log(action, subject);
