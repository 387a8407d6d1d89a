-- A case imported from a document with several vulnerabilities keeps each of them,
-- in the document's order, with every CVSS score it gave (v2, v3.0, v3.1, v4.0) as
-- JSON. The case's own CVE, CWE and CVSS are the first vulnerability's.
CREATE TABLE case_vulnerabilities (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    position     INTEGER NOT NULL,
    title        TEXT NOT NULL,
    cve          TEXT,
    cwe          TEXT,
    description  TEXT NOT NULL,
    scores       TEXT NOT NULL,
    UNIQUE (case_id, position)
);
