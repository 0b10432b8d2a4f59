-- Who may read a STIX object version is decided from columns stored with it (issue 12, item 6),
-- not from its JSON `meta`, so the TAXII page query filters in an index: every page but the last
-- holds `limit` objects, and a reader cleared for little does not make the node read every row.
-- `meta` stays as it was (the sharing policy still reads it for everything else).
--
-- foreign_origin: 1 if the version was received from another organisation (meta.foreign).
-- constituent:    the constituent an AMBER+STRICT version concerns (meta.constituent).
ALTER TABLE stix_objects ADD COLUMN foreign_origin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stix_objects ADD COLUMN constituent TEXT;

-- Backfill from meta, as focal_sharing::policy::ShareMeta serialises it (`foreign` a JSON
-- boolean, `constituent` a string or null; either may be absent). A meta that is not JSON (none
-- is written so) reads as made here for no constituent, rather than failing the upgrade.
UPDATE stix_objects SET
    foreign_origin = CASE WHEN NOT json_valid(meta) THEN 0
                          WHEN COALESCE(json_extract(meta, '$.foreign'), 0) THEN 1
                          ELSE 0 END,
    constituent = CASE WHEN json_valid(meta) THEN json_extract(meta, '$.constituent') END;

-- The collection page query: collection_id =, date_added > cursor, ORDER BY date_added, and the
-- visibility filter on (tlp, foreign_origin, constituent). With those in the index the filter is
-- checked on index entries alone; only versions the reader may see are read from the table.
CREATE INDEX stix_objects_visible
    ON stix_objects (collection_id, date_added, tlp, foreign_origin, constituent);
