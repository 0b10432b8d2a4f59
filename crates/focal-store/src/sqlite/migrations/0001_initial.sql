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
-- second write of the same event is ignored. The columns are the ones queries filter on; the rest
-- of the event is `detail`, a JSON object with IntelMQ's field names (for example
-- json_extract(detail, '$."source.port"')), and `raw`, the original record. Times are Unix
-- microseconds; addresses are 16-byte IPv6 (IPv4 mapped), so a CIDR filter is a range.
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY,
    id                  BLOB NOT NULL UNIQUE,
    run_id              INTEGER NOT NULL REFERENCES runs(id),
    time_event          INTEGER NOT NULL,  -- time.source, else time.observation
    feed_name           TEXT NOT NULL,
    source_ip           BLOB,
    source_net_first    BLOB,              -- source.network bounds, for network indicators
    source_net_last     BLOB,
    source_asn          INTEGER,
    source_cc           TEXT,
    classification_type TEXT NOT NULL,
    malware_name        TEXT,
    tlp                 TEXT NOT NULL,
    constituent         TEXT,
    detail              TEXT NOT NULL,
    raw                 BLOB
);
-- Every secondary index costs a B-tree insert per event on ingest (measured in BENCHMARKS.md), so
-- only the one that notification, statistics and the constituent view need is kept. Its key ends
-- in the rowid, which only grows, so inserts append to each constituent's run of entries instead
-- of landing at random. Time and address filters scan in storage order.
CREATE INDEX events_by_constituent ON events(constituent);

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
