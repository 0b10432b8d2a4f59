"""Runs the OASIS STIX pattern validator (stix2-patterns) over patterns, one JSON string per
line on stdin, and prints one JSON object per line: {"valid": bool, "errors": [...]}.

The Rust tests use it as the oracle for focal_sharing::pattern. An exception inside the
validator (it has a few, e.g. on a negative list index) is reported as "crash" so the test can
tell it apart from a refusal.
"""
import json
import sys

from stix2patterns.validator import run_validator

for line in sys.stdin:
    pattern = json.loads(line)
    try:
        errors = run_validator(pattern, "2.1")
        out = {"valid": not errors, "errors": errors}
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        out = {"valid": False, "errors": [], "crash": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
