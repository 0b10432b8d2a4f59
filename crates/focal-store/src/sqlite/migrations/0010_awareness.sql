-- Awareness (issue 17): advisories with their published revisions, the advisory mail outbox,
-- and the policy library with its full-text index. Same tables on PostgreSQL (0003).

-- An advisory's working copy and workflow state (`doc`: the Advisory as JSON without its
-- revisions); `row_version` makes every save a compare-and-set.
CREATE TABLE advisories (
    id           TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    title        TEXT NOT NULL,
    tlp          TEXT NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0,   -- the latest published revision, 0 if none
    published_at INTEGER,                      -- Unix microseconds of that revision
    updated_at   INTEGER NOT NULL,
    row_version  INTEGER NOT NULL,
    doc          TEXT NOT NULL
);
-- Published revisions: inserted once, never updated (the store refuses a save that would).
CREATE TABLE advisory_revisions (
    advisory_id TEXT NOT NULL REFERENCES advisories(id),
    number      INTEGER NOT NULL,
    date        INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (advisory_id, number)
);
-- One message per advisory revision and constituent.
CREATE TABLE advisory_mail (
    id              INTEGER PRIMARY KEY,
    advisory_id     TEXT NOT NULL REFERENCES advisories(id),
    revision        INTEGER NOT NULL,
    constituent     TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    answer          TEXT,               -- the SMTP server's answer when sent
    UNIQUE (advisory_id, revision, constituent)
);
CREATE INDEX advisory_mail_due ON advisory_mail(state, next_attempt_at);

-- The policy library: each entity stored whole (`doc`, for export), its items in rows for
-- search and facets.
CREATE TABLE library_entities (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    country      TEXT,
    last_updated TEXT NOT NULL,
    items        INTEGER NOT NULL,
    doc          TEXT NOT NULL
);
CREATE TABLE library_items (
    seq       INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL REFERENCES library_entities(id),
    item      TEXT NOT NULL,
    place     TEXT NOT NULL,
    item_type TEXT NOT NULL,
    title     TEXT NOT NULL,
    symbol    TEXT,
    country   TEXT,
    year      INTEGER,
    date      TEXT,
    bodies    TEXT NOT NULL,    -- JSON array, for showing
    doc       TEXT NOT NULL,
    UNIQUE (entity, item)
);
CREATE INDEX library_items_by_type ON library_items(item_type, year);
CREATE INDEX library_items_by_year ON library_items(year);
CREATE TABLE library_item_bodies (
    body TEXT NOT NULL,
    item INTEGER NOT NULL,
    PRIMARY KEY (body, item)
) WITHOUT ROWID;
CREATE INDEX library_item_bodies_by_item ON library_item_bodies(item);
-- Every tail of two or more `/` parts of a symbol, upper-cased: `57/239` finds A/RES/57/239.
CREATE TABLE library_symbols (
    key  TEXT NOT NULL,
    item INTEGER NOT NULL,
    PRIMARY KEY (key, item)
) WITHOUT ROWID;
CREATE INDEX library_symbols_by_item ON library_symbols(item);
-- Full text (rowid = library_items.seq). Porter stemming, so "infrastructure" finds
-- "infrastructures"; written and deleted with the items, in the same transaction.
CREATE VIRTUAL TABLE library_fts USING fts5(
    title, symbol, text, topics, bodies,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
