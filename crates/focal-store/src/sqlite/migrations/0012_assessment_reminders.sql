-- Reassessment reminders (issue 16): one per assessment and due date, queued when the due date
-- is near or past and sent through the [notify] SMTP relay. UNIQUE makes queueing idempotent.
CREATE TABLE assessment_reminders (
    id            INTEGER PRIMARY KEY,
    assessment_id INTEGER NOT NULL REFERENCES assessments (id),
    due           TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    state         TEXT NOT NULL,   -- pending | sent | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    sent_at       TEXT,
    last_error    TEXT,
    UNIQUE (assessment_id, due)
);
CREATE INDEX assessment_reminders_state ON assessment_reminders (state, id);
