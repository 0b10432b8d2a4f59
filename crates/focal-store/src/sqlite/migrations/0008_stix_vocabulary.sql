-- A wider STIX vocabulary (issue 12): several TAXII API roots, one per trust community, each
-- with its own collections; and the record of STIX 2.0 objects stepped to 2.1 on import.

CREATE TABLE taxii_api_roots (
    name        TEXT PRIMARY KEY,   -- the URL segment: /taxii2/<name>/
    title       TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL
);

-- The API root every node had before: its collections stay where they were.
INSERT INTO taxii_api_roots (name, title, description, created_at)
VALUES ('root', 'Sharing', 'Indicators and sightings shared under TLP 2.0', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Which API root a collection belongs to (the store checks the root exists: SQLite cannot add
-- a column with both a REFERENCES clause and a default).
ALTER TABLE taxii_collections ADD COLUMN api_root TEXT NOT NULL DEFAULT 'root';
CREATE INDEX taxii_collections_by_root ON taxii_collections (api_root);

-- One row per stored object version that arrived as STIX 2.0: what was changed, and the
-- original (JSON: {"from", "changes", "original"}).
CREATE TABLE stix_conversions (
    collection_id TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    version_us    INTEGER NOT NULL,
    record        TEXT NOT NULL,
    PRIMARY KEY (collection_id, object_id, version_us)
);
