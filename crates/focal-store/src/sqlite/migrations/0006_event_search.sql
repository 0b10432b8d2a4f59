-- Indexes for the event searches analysts make most: an address or network, an AS, a country, a
-- classification type. Without them such a search scans the events table in storage order until a
-- page is full, which with millions of events and a rare value means seconds (BENCHMARKS.md,
-- "Event search by filter"). Each index ends, as every SQLite index does, with the rowid (`seq`),
-- so `value = ? AND seq > ? ORDER BY seq` is read in page order straight from the index.
CREATE INDEX events_by_source_ip ON events(source_ip);
CREATE INDEX events_by_source_asn ON events(source_asn);
CREATE INDEX events_by_source_cc ON events(source_cc);
CREATE INDEX events_by_type ON events(classification_type);
-- Network indicators (source.network without an address) are few; a partial index keeps them
-- findable by overlap without indexing every event's NULL.
CREATE INDEX events_by_source_net ON events(source_net_first, source_net_last)
    WHERE source_net_first IS NOT NULL;
