"""Writes N STIX 2.1 indicators for the TAXII paging benchmark (bench/taxii.sh).

python taxii_gen.py N OUT_DIR MEDALLION_BASE_URL [both|focal] [AMBER_PERCENT]
  OUT_DIR/focal-XXXX.json : bundles of 10,000 objects for `focal share import`; with
      AMBER_PERCENT (0-100), that share of them is TLP:AMBER and the rest TLP:GREEN, spread
      evenly (bench/taxii-filtered.sh)
  OUT_DIR/medallion-data.json : the same objects in medallion's memory-backend format
"""
import json, os, sys, uuid, datetime

n, out, base = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with_medallion = (sys.argv[4] if len(sys.argv) > 4 else "both") == "both"
amber_percent = int(sys.argv[5]) if len(sys.argv) > 5 else 0
os.makedirs(out, exist_ok=True)
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
COLL = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4"
t0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
objects, manifest = [], []
chunk = []
for i in range(n):
    ts = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    o = {
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--" + str(uuid.UUID(int=(0x5eed << 96) | i, version=4)),
        "created": ts, "modified": ts, "name": "c2-server %d" % i,
        "labels": ["malicious-code", "c2-server"], "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '10.%d.%d.%d']" % (i >> 16 & 255, i >> 8 & 255, i & 255),
        "pattern_type": "stix", "valid_from": ts, "object_marking_refs": [AMBER if i % 100 < amber_percent else GREEN],
    }
    if with_medallion:
        objects.append(o)
        manifest.append({"id": o["id"], "date_added": ts.replace(".000Z", ".000000Z"), "version": ts,
                         "media_type": "application/stix+json;version=2.1"})
    chunk.append(o)
    if len(chunk) == 10000 or i == n - 1:
        with open(os.path.join(out, "focal-%04d.json" % (i // 10000)), "w") as f:
            json.dump({"type": "bundle", "id": "bundle--" + str(uuid.uuid4()), "objects": chunk}, f)
        chunk = []
if not with_medallion:
    sys.exit(0)
data = {
    "/discovery": {"title": "medallion", "default": base + "/api1/", "api_roots": [base + "/api1/"]},
    "api1": {
        "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"],
                        "max_content_length": 10485760},
        "status": [],
        "collections": [{"id": COLL, "title": "Indicators", "can_read": True, "can_write": True,
                         "media_types": ["application/stix+json;version=2.1"],
                         "objects": objects, "manifest": manifest}],
    },
}
with open(os.path.join(out, "medallion-data.json"), "w") as f:
    json.dump(data, f)
