-- Sharing (STIX 2.1 over TAXII 2.1): collections of STIX objects, where each came from, peers
-- and their cursors, sharing policies, TAXII status resources, and the user store (peers today;
-- the web application extends it).

CREATE TABLE sharing_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE taxii_collections (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT,
    alias       TEXT UNIQUE,
    max_tlp     TEXT,            -- highest TLP this collection ever releases (NULL: no own limit)
    created_at  TEXT NOT NULL
);

-- One row per object version. seq orders rows; date_added (Unix microseconds) is strictly
-- increasing with seq, so it is a unique pagination key that TAXII clients see.
CREATE TABLE stix_objects (
    seq            INTEGER PRIMARY KEY,
    collection_id  TEXT NOT NULL REFERENCES taxii_collections(id),
    object_id      TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    version        TEXT NOT NULL,   -- modified, else created, else date_added (as TAXII says)
    version_us     INTEGER NOT NULL,
    spec_version   TEXT NOT NULL,
    date_added     INTEGER NOT NULL,
    tlp            TEXT NOT NULL,
    meta           TEXT NOT NULL,   -- JSON: what the sharing policy needs (classification, constituent, sensitive values)
    origin         TEXT,            -- the peer or user it came from; NULL if made on this node
    body           TEXT NOT NULL,
    UNIQUE (collection_id, object_id, version_us)
);
CREATE INDEX stix_objects_by_id ON stix_objects (collection_id, object_id);
CREATE INDEX stix_objects_by_object ON stix_objects (object_id);
CREATE UNIQUE INDEX stix_objects_by_added ON stix_objects (collection_id, date_added);

-- Every (object, version) received from a peer, kept even if the object is later deleted, so
-- nothing is imported twice nor sent back where it came from.
CREATE TABLE provenance (
    object_id   TEXT NOT NULL,
    version_us  INTEGER NOT NULL,
    peer        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (object_id, version_us, peer)
);

CREATE TABLE peers (
    name              TEXT PRIMARY KEY,
    api_root          TEXT NOT NULL,
    collection        TEXT NOT NULL,   -- the remote collection id
    local_collection  TEXT NOT NULL REFERENCES taxii_collections(id),
    username          TEXT,
    secret            TEXT,            -- password or bearer token for the remote node
    auth              TEXT NOT NULL,   -- basic | bearer | none
    pull              INTEGER NOT NULL,
    push              INTEGER NOT NULL,
    pull_cursor       TEXT,            -- the remote date_added to ask added_after of
    push_cursor       INTEGER NOT NULL DEFAULT 0, -- local date_added pushed up to
    last_sync_at      TEXT,
    last_error        TEXT,
    pulled            INTEGER NOT NULL DEFAULT 0,
    pushed            INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL
);

-- Who may receive what: one policy (JSON) per principal, a peer or a user name.
CREATE TABLE sharing_policies (
    principal TEXT PRIMARY KEY,
    policy    TEXT NOT NULL
);

CREATE TABLE taxii_status (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'auditor', 'constituent', 'peer')),
    organisation  TEXT,
    password_hash TEXT,                -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,  -- SHA-256 of a 256-bit random token
    label       TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
);

CREATE TABLE collection_rights (
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL REFERENCES taxii_collections(id),
    can_read      INTEGER NOT NULL,
    can_write     INTEGER NOT NULL,
    PRIMARY KEY (user_id, collection_id)
);
