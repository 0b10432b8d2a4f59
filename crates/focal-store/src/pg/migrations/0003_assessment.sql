-- Self-assessment, risk register and vulnerability management (crates/focal-assessment).
-- Structured values are JSON in `body`; the other columns are what is looked up or filtered on.

CREATE TABLE assessment_frameworks (
    id          TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    canonical   TEXT NOT NULL,
    source_text TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE assessments (
    id                BIGSERIAL PRIMARY KEY,
    framework_id      TEXT NOT NULL,
    framework_version TEXT NOT NULL,
    subject_kind      TEXT NOT NULL,
    subject_name      TEXT NOT NULL,
    constituent       TEXT,
    status            TEXT NOT NULL,
    based_on          BIGINT REFERENCES assessments (id),
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    completed_at      TEXT,
    completed_by      TEXT,
    due               TEXT,
    scores            TEXT
);
CREATE INDEX assessments_subject ON assessments (subject_kind, subject_name, framework_id);

CREATE TABLE assessment_answers (
    assessment_id BIGINT NOT NULL REFERENCES assessments (id),
    item          TEXT NOT NULL,
    body          TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    PRIMARY KEY (assessment_id, item)
);

CREATE TABLE assessment_files (
    id            BIGSERIAL PRIMARY KEY,
    assessment_id BIGINT NOT NULL REFERENCES assessments (id),
    item          TEXT NOT NULL,
    name          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    content       BYTEA NOT NULL,
    added_at      TEXT NOT NULL,
    added_by      TEXT NOT NULL
);
CREATE INDEX assessment_files_assessment ON assessment_files (assessment_id);

CREATE TABLE assets (
    id           TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    constituent  TEXT,
    body         TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX assets_organisation ON assets (organisation);

-- The matcher's index: what runs where, by package key.
CREATE TABLE asset_software (
    asset_id TEXT NOT NULL REFERENCES assets (id),
    key      TEXT NOT NULL,
    spec     TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (asset_id, spec)
);
CREATE INDEX asset_software_key ON asset_software (key);

CREATE TABLE risk_entries (
    id   BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE risks (
    id         BIGSERIAL PRIMARY KEY,
    asset      TEXT,
    review_due TEXT,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX risks_asset ON risks (asset);

CREATE TABLE vuln_advisories (
    id          BIGSERIAL PRIMARY KEY,
    format      TEXT NOT NULL,
    ref         TEXT NOT NULL,
    revision    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    title       TEXT NOT NULL,
    rating      TEXT NOT NULL,
    body        TEXT NOT NULL,
    records     BIGINT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    UNIQUE (format, ref)
);

-- Advisories' side of the index: affected packages by key.
CREATE TABLE vuln_advisory_records (
    advisory_id BIGINT NOT NULL REFERENCES vuln_advisories (id),
    n           BIGINT NOT NULL,
    key         TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, n)
);
CREATE INDEX advisory_records_key ON vuln_advisory_records (key);

CREATE TABLE findings (
    id           BIGSERIAL PRIMARY KEY,
    advisory_id  BIGINT NOT NULL REFERENCES vuln_advisories (id),
    vuln_id      TEXT NOT NULL,
    asset_id     TEXT NOT NULL,
    package_key  TEXT NOT NULL,
    organisation TEXT NOT NULL,
    rating       TEXT NOT NULL,
    rating_rank  BIGINT NOT NULL,
    status       TEXT NOT NULL,
    body         TEXT NOT NULL,
    opened_at    TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT,
    UNIQUE (advisory_id, vuln_id, asset_id, package_key)
);
CREATE INDEX findings_asset ON findings (asset_id);
CREATE INDEX findings_status ON findings (status, rating_rank);
