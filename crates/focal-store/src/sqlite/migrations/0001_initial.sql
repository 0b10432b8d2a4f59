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
    resume_line   INTEGER NOT NULL DEFAULT 0,
    -- Values every event of the run shares, kept once here instead of once per event.
    feed_provider TEXT,
    feed_url      TEXT,
    observed      INTEGER NOT NULL          -- time.observation, Unix microseconds
);
CREATE INDEX runs_by_content ON runs(sha256, feed);

-- AS names, once per AS (the latest name seen), instead of once per event.
CREATE TABLE as_names (
    asn  INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

-- One row per event after de-duplication. `id` is the deterministic event id (16 bytes); the
-- writer keeps ids unique (see dedup_chunks). feed.name, feed.provider, feed.url and
-- time.observation come from the event's run; source.as_name from as_names. Rare fields and
-- extra.* are `detail`, a JSON object with IntelMQ's field names (NULL when empty). Times are Unix
-- microseconds; addresses are 16-byte IPv6 (IPv4 mapped), so a CIDR filter is a range.
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY,
    id                  BLOB NOT NULL,
    run_id              INTEGER NOT NULL REFERENCES runs(id),
    time_event          INTEGER NOT NULL,  -- time.source, else time.observation
    time_source         INTEGER,
    source_ip           BLOB,
    source_net_first    BLOB,              -- source.network bounds, for network indicators
    source_net_last     BLOB,
    source_port         INTEGER,
    source_asn          INTEGER,
    source_network      TEXT,
    source_cc           TEXT,
    source_fqdn         TEXT,
    destination_ip      BLOB,
    destination_port    INTEGER,
    protocol_transport  TEXT,
    malware_name        TEXT,
    classification_type TEXT NOT NULL,
    tlp                 TEXT NOT NULL,
    constituent         TEXT,
    detail              TEXT,
    raw                 BLOB
);
-- The ids of stored events, by de-duplication window: one row per window per commit, holding the
-- sorted 16-byte ids written in that commit. Two events can only be the same if they share a
-- window, so an ingest loads the ids of the windows it touches and checks new events in memory.
-- This replaces a unique index on events.id, whose random inserts were a third of ingest time.
CREATE TABLE dedup_chunks (
    id      INTEGER PRIMARY KEY,
    window  INTEGER NOT NULL,   -- window length in seconds, 0 for "no window"
    bucket  INTEGER NOT NULL,   -- window number since the Unix epoch
    run_id  INTEGER NOT NULL REFERENCES runs(id),
    ids     BLOB NOT NULL
);
CREATE INDEX dedup_chunks_by_window ON dedup_chunks(window, bucket);

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
