"""Steps a STIX 2.0 bundle to 2.1 with the OASIS stix2-elevator's stix_stepper (the reference
Focal's conversion is compared with in crates/focal-sharing/tests/vocabulary.rs) and prints the
2.1 bundle as JSON. Usage: step_20.py FILE
"""
import json
import sys

# The elevator writes messages to stdout, some as it is imported (a warning when numpy is
# missing); keep stdout for the bundle alone.
out = sys.stdout
sys.stdout = sys.stderr

from stix2elevator.options import initialize_options, set_option_value  # noqa: E402
from stix2elevator.stix_stepper import step_bundle  # noqa: E402

initialize_options()
set_option_value("missing_policy", "use-extensions")
with open(sys.argv[1], encoding="utf-8") as f:
    bundle = json.load(f)
stepped = step_bundle(bundle)
sys.stdout = out
print(json.dumps(stepped))
