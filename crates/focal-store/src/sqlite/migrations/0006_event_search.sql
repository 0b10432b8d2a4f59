-- The search index behind the paged event search (API and web UI): one row per (key, event) for
-- the filters analysts type most, so that a search for one address, a rare AS, country or type
-- reads its page from here instead of scanning millions of events in storage order.
--
-- Keys: the address as its 16 stored bytes (IPv4 mapped), so a CIDR is a byte range; and the
-- texts 'asn:64500', 'cc:NL', 'type:scanner'. SQLite orders every text before every blob, so
-- an address range never meets a text key. Each key's rows are in seq order, which is the
-- order of a page.
--
-- Why a table filled after the ingest rather than indexes on `events`: four more indexes
-- maintained row by row made the ingest 2.8 times slower (BENCHMARKS.md, "Event search"). This
-- table is filled by `focal serve` in the background, in key-sorted batches from the cursor
-- 'search' (the last seq indexed), each in one transaction with the cursor; a search reads the
-- events above the cursor by scanning only those, so it is exact whatever is indexed.
CREATE TABLE event_search (
    k   NOT NULL,   -- no declared type: blob for addresses, text for the rest
    seq INTEGER NOT NULL,
    PRIMARY KEY (k, seq)
) WITHOUT ROWID;

-- Network indicators (source.network without an address) are few; a partial index on them keeps
-- an address search able to find the networks that contain it.
CREATE INDEX events_by_source_net ON events(source_net_first, source_net_last)
    WHERE source_net_first IS NOT NULL;
