"""Drives a running Focal TAXII server with the OASIS taxii2-client library.

Usage: python taxii2_client_check.py DISCOVERY_URL READER PASSWORD WRITER PASSWORD EXPECTED_IDS_JSON RED_ID READER_TOKEN

Asserts discovery, API root, collections, paging with as_pages, added_after filtering (using
the manifest's date_added), get_object, versions, add_objects (status complete), refusal of a
hostile envelope with a TAXII error object and nothing stored, and 401 on bad credentials.
Prints one JSON line with what it saw; exits non-zero on the first failed check.
"""
import json
import sys
import uuid

import requests
from taxii2client.v21 import Server, as_pages
from taxii2client.exceptions import TAXIIServiceException

url, reader, reader_pw, writer, writer_pw, expected_file, red_id, token = sys.argv[1:9]
expected = set(json.load(open(expected_file)))
out = {}

server = Server(url, user=reader, password=reader_pw)
assert server.title.endswith("(Focal)"), server.title
root = server.api_roots[0]
assert "application/taxii+json;version=2.1" in root.versions, root.versions
assert root.max_content_length > 0
cols = root.collections
shared = [c for c in cols if c.alias == "shared"]
assert shared, [c.title for c in cols]
col = shared[0]
assert col.can_read and not col.can_write

# Page through everything, 8 at a time.
seen = []
pages = 0
for env in as_pages(col.get_objects, per_request=8):
    pages += 1
    seen.extend(o["id"] for o in env.get("objects", []))
assert len(seen) == len(set(seen)), "an object was served twice"
indicators = {i for i in seen if i.startswith("indicator--")}
assert indicators == expected, (sorted(indicators ^ expected))[:5]
assert red_id not in seen, "a TLP:RED object was served"
out["pages"] = pages
out["objects"] = len(seen)

# added_after: everything strictly after the 10th manifest entry.
manifest = []
for env in as_pages(col.get_manifest, per_request=50):
    manifest.extend(env.get("objects", []))
assert [m["id"] for m in manifest] == seen, "manifest and objects disagree"
cut = manifest[9]["date_added"]
after = []
for env in as_pages(col.get_objects, per_request=5, added_after=cut):
    after.extend(o["id"] for o in env.get("objects", []))
assert after == seen[10:], (len(after), len(seen))
out["after_cut"] = len(after)

one = sorted(expected)[0]
env = col.get_object(one)
assert [o["id"] for o in env["objects"]] == [one]
assert col.object_versions(one)["versions"], "no versions"
typed = col.get_objects(type="indicator", limit=1000)
assert all(o["type"] == "indicator" for o in typed["objects"])

# Writes need a writer.
wcol = [c for c in Server(url, user=writer, password=writer_pw).api_roots[0].collections if c.alias == "shared"][0]
assert wcol.can_write
new_ids = ["indicator--" + str(uuid.uuid4()) for _ in range(3)]
objects = [{
    "type": "indicator", "spec_version": "2.1", "id": i,
    "created": "2026-11-24T00:00:00.000Z", "modified": "2026-11-24T00:00:00.000Z",
    "name": "added by taxii2-client", "pattern": "[domain-name:value = 'added%d.example.org']" % n,
    "pattern_type": "stix", "valid_from": "2026-11-24T00:00:00Z",
    "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
} for n, i in enumerate(new_ids)]
status = wcol.add_objects({"objects": objects})
assert status.status == "complete" and status.success_count == 3, status.__dict__
# The status resource can be fetched again by its owner.
again = Server(url, user=writer, password=writer_pw).api_roots[0].get_status(status.id)
assert again.status == "complete" and again.success_count == 3 and len(again.successes) == 3
for i in new_ids:
    assert wcol.get_object(i)["objects"][0]["id"] == i

# A hostile envelope: one good object, one with a bad timestamp. Refused whole.
good = dict(objects[0], id="indicator--" + str(uuid.uuid4()))
bad = dict(objects[0], id="indicator--" + str(uuid.uuid4()), created="yesterday")
try:
    wcol.add_objects({"objects": [good, bad]})
    raise AssertionError("a hostile envelope was accepted")
except (TAXIIServiceException, requests.exceptions.HTTPError) as e:
    resp = getattr(e, "response", None)
    if resp is not None:
        assert resp.status_code == 422, resp.status_code
        err = resp.json()
        assert err["http_status"] == "422" and "created" in err["description"], err
for i in (good["id"], bad["id"]):
    try:
        wcol.get_object(i)
        raise AssertionError("half of a refused envelope was stored")
    except requests.exceptions.HTTPError as e:
        assert e.response.status_code == 404

# Oversized and deeply nested bodies: refused before parsing, with TAXII error objects.
headers = {"Accept": "application/taxii+json;version=2.1", "Content-Type": "application/taxii+json;version=2.1"}
big = json.dumps({"objects": [dict(objects[0], id="indicator--" + str(uuid.uuid4()), description="x" * root.max_content_length)]})
r = requests.post(wcol.url + "objects/", auth=(writer, writer_pw), data=big, headers=headers)
assert r.status_code == 413 and r.json()["http_status"] == "413", (r.status_code, r.text[:200])
deep = '{"objects": [' + "[" * 5000 + "]" * 5000 + "]}"
r = requests.post(wcol.url + "objects/", auth=(writer, writer_pw), data=deep, headers=headers)
assert r.status_code == 422 and "nested deeper" in r.json()["description"], (r.status_code, r.text[:200])

# Wrong password: 401 with a TAXII error object.
r = requests.get(url, auth=(reader, "wrong password"), headers={"Accept": "application/taxii+json;version=2.1"})
assert r.status_code == 401 and r.json()["http_status"] == "401", r.text
# A reader may not write: 403 with a TAXII error object.
r = requests.post(col.url + "objects/", auth=(reader, reader_pw), data=json.dumps({"objects": objects}),
                  headers={"Accept": "application/taxii+json;version=2.1",
                           "Content-Type": "application/taxii+json;version=2.1"})
assert r.status_code == 403 and r.json()["http_status"] == "403", r.text

# TAXII 2.0 clients are told no.
r = requests.get(url, auth=(reader, reader_pw), headers={"Accept": "application/taxii+json;version=2.0"})
assert r.status_code == 406, r.status_code

# A bearer token works like the password.
r = requests.get(col.url, headers={"Accept": "application/taxii+json;version=2.1", "Authorization": "Bearer " + token})
assert r.status_code == 200 and r.json()["id"] == col.id, r.text
r = requests.get(col.url, headers={"Accept": "application/taxii+json;version=2.1", "Authorization": "Bearer x" + token})
assert r.status_code == 401

# Delete: the writer removes one added object; it is gone.
gone = new_ids.pop()
wcol.delete_object(gone)
try:
    wcol.get_object(gone)
    raise AssertionError("a deleted object is still served")
except requests.exceptions.HTTPError as e:
    assert e.response.status_code == 404
out["deleted"] = gone
out["added"] = new_ids
print(json.dumps(out))
