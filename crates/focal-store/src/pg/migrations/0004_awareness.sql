-- Awareness (issue 17): advisories with their published revisions, the advisory mail outbox,
-- and the policy library with its full-text index (tsvector + GIN). Same tables on SQLite (0007).

CREATE TABLE advisories (
    id           TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    title        TEXT NOT NULL,
    tlp          TEXT NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0,
    published_at BIGINT,
    updated_at   BIGINT NOT NULL,
    row_version  BIGINT NOT NULL,
    doc          TEXT NOT NULL
);
CREATE TABLE advisory_revisions (
    advisory_id TEXT NOT NULL REFERENCES advisories(id),
    number      INTEGER NOT NULL,
    date        BIGINT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (advisory_id, number)
);
CREATE TABLE advisory_mail (
    id              BIGSERIAL PRIMARY KEY,
    advisory_id     TEXT NOT NULL REFERENCES advisories(id),
    revision        INTEGER NOT NULL,
    constituent     TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT,
    answer          TEXT,               -- the SMTP server's answer when sent
    UNIQUE (advisory_id, revision, constituent)
);
CREATE INDEX advisory_mail_due ON advisory_mail(state, next_attempt_at);

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
    seq       BIGSERIAL PRIMARY KEY,
    entity    TEXT NOT NULL REFERENCES library_entities(id),
    item      TEXT NOT NULL,
    place     TEXT NOT NULL,
    item_type TEXT NOT NULL,
    title     TEXT NOT NULL,
    symbol    TEXT,
    country   TEXT,
    year      INTEGER,
    date      TEXT,
    bodies    TEXT NOT NULL,
    doc       TEXT NOT NULL,
    text      TEXT NOT NULL,
    topics    TEXT NOT NULL,
    bodies_text TEXT NOT NULL,
    -- English stemming, so "infrastructure" finds "infrastructures"; title and symbol weigh most.
    -- Slashes become spaces first: PostgreSQL's parser reads A/RES/57/239 as one file-path
    -- token, and "57/239" must be the words 57 and 239, as on SQLite.
    search    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', translate(title, '/', ' ')), 'A') ||
        setweight(to_tsvector('english', translate(coalesce(symbol, ''), '/.', '  ')), 'A') ||
        setweight(to_tsvector('english', translate(topics, '/', ' ')), 'B') ||
        setweight(to_tsvector('english', translate(bodies_text, '/', ' ')), 'C') ||
        setweight(to_tsvector('english', translate(text, '/', ' ')), 'D')
    ) STORED,
    UNIQUE (entity, item)
);
CREATE INDEX library_items_search ON library_items USING GIN (search);
CREATE INDEX library_items_by_type ON library_items(item_type, year);
CREATE INDEX library_items_by_year ON library_items(year);
CREATE TABLE library_item_bodies (
    body TEXT NOT NULL,
    item BIGINT NOT NULL REFERENCES library_items(seq) ON DELETE CASCADE,
    PRIMARY KEY (body, item)
);
CREATE INDEX library_item_bodies_by_item ON library_item_bodies(item);
CREATE TABLE library_symbols (
    key  TEXT NOT NULL,
    item BIGINT NOT NULL REFERENCES library_items(seq) ON DELETE CASCADE,
    PRIMARY KEY (key, item)
);
CREATE INDEX library_symbols_by_item ON library_symbols(item);
