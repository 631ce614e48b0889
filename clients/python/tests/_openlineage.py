"""OpenLineage test support: the vendored JSON schema (``openlineage/schema``, see its README)
with a validator for whole events and for every facet the spec defines, the fixtures shaped like
what Airflow, Spark and dbt send, and small HTTP helpers for ``/api/v1/lineage``."""

import gzip
import json
import os
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.join(HERE, "openlineage", "schema")
FIXTURES = os.path.join(HERE, "openlineage", "fixtures")

# A facet file defines one key; the same key can mean different facets on runs, jobs and datasets
# (`tags`, `ownership`, `documentation`), so facets are looked up by where they sit and their key.
_WHERE = (("InputDatasetFacet", "input"), ("OutputDatasetFacet", "output"), ("DatasetFacet", "dataset"),
          ("JobFacet", "job"), ("RunFacet", "run"))


class Validator:
    def __init__(self) -> None:
        with open(os.path.join(SCHEMA_DIR, "OpenLineage.json")) as f:
            self.core = json.load(f)
        resources = [(self.core["$id"], Resource.from_contents(self.core))]
        self.facets: Dict[Tuple[str, str], Dict[str, Any]] = {}
        facet_dir = os.path.join(SCHEMA_DIR, "facets")
        for name in sorted(os.listdir(facet_dir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(facet_dir, name)) as f:
                doc = json.load(f)
            resources.append((doc["$id"], Resource.from_contents(doc)))
            where = next((w for suffix, w in _WHERE if name[:-5].endswith(suffix)), None)
            if where is None:
                continue
            for key in doc.get("properties", {}):
                self.facets[(where, key)] = doc
        self.registry = Registry().with_resources(resources)

    def _errors(self, schema: Dict[str, Any], value: Any) -> List[str]:
        v = Draft202012Validator(schema, registry=self.registry, format_checker=FormatChecker())
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(value)]

    def errors(self, event: Dict[str, Any]) -> List[str]:
        """Everything wrong with an event: against the core schema, and each facet the spec
        defines against its own schema (custom facets need only the base facet's fields, which
        the core schema checks)."""
        out = self._errors(self.core, event)
        places: List[Tuple[str, str, Optional[Dict[str, Any]]]] = [
            ("run", "run.facets", (event.get("run") or {}).get("facets")),
            ("job", "job.facets", (event.get("job") or {}).get("facets")),
        ]
        for key, where in (("inputs", "input"), ("outputs", "output")):
            for i, d in enumerate(event.get(key) or []):
                places.append(("dataset", f"{key}[{i}].facets", d.get("facets")))
                places.append((where, f"{key}[{i}].{where}Facets", d.get(f"{where}Facets")))
        if "dataset" in event:
            places.append(("dataset", "dataset.facets", event["dataset"].get("facets")))
        for where, path, facets in places:
            for key, facet in (facets or {}).items():
                schema = self.facets.get((where, key))
                if schema is not None:
                    out += [f"{path}.{key}: {e}" for e in self._errors(schema, {key: facet})]
        return out


def fixture(name: str) -> List[Dict[str, Any]]:
    with open(os.path.join(FIXTURES, f"{name}.json")) as f:
        return json.load(f)


def post(url: str, body: bytes, content_type: str = "application/json", gzipped: bool = False) -> Tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(f"{url}/api/v1/lineage", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}/api/v1{path}", timeout=30) as r:
        return json.loads(r.read())


def get_lines(url: str, path: str) -> List[Dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1{path}", timeout=60) as r:
        return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
