-- Indexes for the event searches analysts make most (see the SQLite migration 0006 for why).
-- Each carries seq, so `value = ? AND seq > ? ORDER BY seq LIMIT n` reads a page in order from
-- the index; PostgreSQL's planner, which keeps statistics, chooses between them and a scan.
CREATE INDEX events_by_source_ip ON events(source_ip, seq);
CREATE INDEX events_by_source_asn ON events(source_asn, seq);
CREATE INDEX events_by_source_cc ON events(source_cc, seq);
CREATE INDEX events_by_type ON events(classification_type, seq);
CREATE INDEX events_by_source_net ON events(source_net_first, source_net_last)
    WHERE source_net_first IS NOT NULL;
