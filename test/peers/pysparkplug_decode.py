"""pysparkplug's decoder alone, as a second independent reader of our payloads.

One DBIRTH payload per stdin line, as hex; one JSON line per payload on stdout: {"metrics": [{"name", "type",
"value"}]} as pysparkplug reads them, or {"error": "..."} when it refuses the payload. Integers go out as text,
so that no JSON reader rounds 64-bit values.
"""
import json
import sys

import pysparkplug

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        birth = pysparkplug.DBirth.decode(bytes.fromhex(line))
        metrics = [
            {
                "name": m.name,
                "type": m.datatype.name,
                "value": str(m.value) if isinstance(m.value, int) and not isinstance(m.value, bool) else m.value,
            }
            for m in birth.metrics
        ]
        print(json.dumps({"metrics": metrics}), flush=True)
    except Exception as err:  # the refusal is the result being tested
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
