-- Search at scale. Addresses as keys that sort as addresses (32 hex digits of the
-- IPv6 form, IPv4 mapped), host names with their labels reversed: an address, a
-- CIDR, a range, a domain with its subdomains are each one index range. Rows made
-- before this are keyed by a background job (keyed = 0 until then).
ALTER TABLE incidents ADD COLUMN ip_key TEXT;
ALTER TABLE incidents ADD COLUMN host_key TEXT;
ALTER TABLE incidents ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_ip_key ON incidents (ip_key);
CREATE INDEX incidents_host_key ON incidents (host_key);
CREATE INDEX incidents_asn ON incidents (asn);
CREATE INDEX incidents_unkeyed ON incidents (id) WHERE keyed = 0;
CREATE INDEX reports_reporter_email ON reports (LOWER(reporter_email));

-- Free text through the database's own index: the text as renkei_incident::search
-- cuts it (words, and Japanese in overlapping pairs), one row per report.
ALTER TABLE reports ADD COLUMN searchable INTEGER NOT NULL DEFAULT 0;
CREATE INDEX reports_unsearchable ON reports (id) WHERE searchable = 0;
CREATE VIRTUAL TABLE report_search USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0');
