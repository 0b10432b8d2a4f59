"""Pages through a TAXII 2.1 collection with the OASIS taxii2-client; prints objects, pages, seconds.

python taxii_page.py API_ROOT_URL COLLECTION_ID USER PASSWORD PER_REQUEST
"""
import json, sys, time
from taxii2client.v21 import ApiRoot, as_pages

url, coll, user, pw, per = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
root = ApiRoot(url, user=user, password=pw)
col = [c for c in root.collections if coll in (c.id, c._raw.get("alias"))][0]
start = time.monotonic()
count = pages = 0
for env in as_pages(col.get_objects, per_request=per):
    count += len(env.get("objects", []))
    pages += 1
print(json.dumps({"objects": count, "pages": pages, "seconds": round(time.monotonic() - start, 2)}))
