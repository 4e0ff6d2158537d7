"""GET /openapi.json is a valid OpenAPI 3.1 document (openapi-spec-validator) that describes the routes the
clients use; GET /docs renders it. Usage: openapi_check.py URL KEY
"""
import sys

import requests
from openapi_spec_validator import validate

from common import report, version

base_url, api_key = sys.argv[1], sys.argv[2]
reply = requests.get(base_url + "/openapi.json", headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
assert reply.status_code == 200, (reply.status_code, reply.text[:300])
spec = reply.json()
assert str(spec.get("openapi", "")).startswith("3.1"), spec.get("openapi")
validate(spec)  # raises with the first violation; picks the 3.1 validator from the "openapi" field

paths = spec["paths"]
needed = {
    "/": "post", "/v1/embeddings": "post", "/v1/rerank": "post", "/v1/models": "get", "/v2/embed": "post",
    "/v2/rerank": "post", "/embed": "post", "/rerank": "post", "/similarity": "post", "/tokenize": "post",
    "/health": "get", "/info": "get", "/metrics": "get",
}
missing = [f"{method.upper()} {path}" for path, method in needed.items() if method not in paths.get(path, {})]
assert not missing, f"not in /openapi.json: {missing}"
operations = sum(1 for item in paths.values() for key in item if key in {"get", "post", "put", "delete", "patch"})

docs = requests.get(base_url + "/docs", headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
assert docs.status_code == 200 and "text/html" in docs.headers.get("content-type", ""), (docs.status_code, docs.headers)
assert "openapi.json" in docs.text, "/docs does not load /openapi.json"

report(f"openapi-spec-validator {version('openapi-spec-validator')}",
       f"/openapi.json (OpenAPI {spec['openapi']}, {len(paths)} paths, {operations} operations) is valid; "
       f"/docs answers HTML that loads it")
