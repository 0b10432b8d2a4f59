-- Feed pulls (issue 6): one row per attempt to download a registered feed and ingest it, by the
-- scheduler in `focal serve`, `focal feeds pull` or the web UI. The run it made (if any) holds
-- the counts; this row says how the download went. No request header is stored (they may carry
-- API keys), and the URL only as its SHA-256 (its query may carry one too): enough to know
-- whether an earlier response's validators (ETag, Last-Modified) apply to the same address.
CREATE TABLE feed_pulls (
    id            INTEGER PRIMARY KEY,
    feed          TEXT NOT NULL,
    requested_by  TEXT NOT NULL,            -- 'schedule', 'cli:<actor>', 'web:<user>'
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    result        TEXT NOT NULL CHECK (result IN ('ok', 'unchanged', 'failed')),
    http_status   INTEGER,
    bytes         INTEGER,
    run_id        INTEGER REFERENCES runs(id),
    error         TEXT,
    url_sha256    TEXT,
    etag          TEXT,
    last_modified TEXT,
    sha256        TEXT
);
-- The newest pulls of a feed, and its newest good pull, are read by (feed, id) ranges.
CREATE INDEX feed_pulls_by_feed ON feed_pulls(feed, id);
