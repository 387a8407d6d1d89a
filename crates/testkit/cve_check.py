"""Validates a CVE JSON 5 record against the CVE Program's bundled schema, as cvelib
(PyPI) ships it. Prints each problem; exit 1 if any."""
import json
import sys
from pathlib import Path

import cvelib
from jsonschema import Draft7Validator

schema_dir = Path(cvelib.__file__).parent / "schemas"
bundled = sorted(schema_dir.glob("CVE_JSON_bundled_*.json"))[-1]
schema = json.loads(bundled.read_text())
record = json.loads(Path(sys.argv[1]).read_text())
errors = list(Draft7Validator(schema).iter_errors(record))
for e in errors:
    print("/".join(str(p) for p in e.absolute_path), e.message[:300])
print(json.dumps({"valid": not errors, "schema": bundled.name}))
sys.exit(1 if errors else 0)
