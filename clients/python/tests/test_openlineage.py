"""OpenLineage in and out, end to end: the real ``openlineage-python`` client's HttpTransport
(plain and gzip) emitting a three-job pipeline to a live server; events shaped like Airflow's,
Spark's and dbt's; bad events refused; every exported event valid against the OpenLineage JSON
schema; and the export replayed into an empty server giving the same traces and review."""

import datetime as dt
import json
import unittest
import urllib.request

from _openlineage import Validator, fixture, get, get_lines, post
from _support import Server

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    documentation_job,
    environment_variables_run,
    error_message_run,
    ownership_job,
    parent_run,
    processing_engine_run,
    source_code_location_job,
)
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from openlineage.client.uuid import generate_new_uuid

PRODUCER = "https://github.com/mltrace-rs/mltrace/tree/main/clients/python/tests"
NS = "python"


def at(minutes_ago: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).isoformat()


def send_run(url: str, run: dict) -> dict:
    req = urllib.request.Request(f"{url}/api/v1/runs", data=json.dumps(run).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def flag(url: str, outputs: list) -> None:
    req = urllib.request.Request(f"{url}/api/v1/flag", data=json.dumps({"outputs": outputs, "by": "qa"}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()


class Pipeline:
    """A three-job pipeline (extract → clean → train) under a parent run, sent through the real
    client: plain HTTP for some events, gzip for the others."""

    def __init__(self, url: str) -> None:
        self.plain = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
        self.gzip = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, compression=HttpCompression.GZIP)))
        self.parent_id = str(generate_new_uuid())
        self.ids = {}

    def emit(self, client, state, minutes_ago, run_id, job, inputs=(), outputs=(), run_facets=None, job_facets=None):
        facets = {"parent": parent_run.ParentRunFacet(run=parent_run.Run(runId=self.parent_id),
                                                      job=parent_run.Job(namespace=NS, name="nightly"))}
        if job == "nightly":
            facets = {}
        facets.update(run_facets or {})
        client.emit(RunEvent(
            eventType=state, eventTime=at(minutes_ago), producer=PRODUCER,
            run=Run(runId=run_id, facets=facets),
            job=Job(namespace=NS, name=job, facets=job_facets or {}),
            inputs=list(inputs), outputs=list(outputs)))

    def send(self) -> None:
        raw_v1 = OutputDataset(namespace="s3://lake", name="raw/orders.csv",
                               facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v1")})
        raw_in = InputDataset(namespace="s3://lake", name="raw/orders.csv",
                              facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v1")})
        clean_out = OutputDataset(namespace="s3://lake", name="clean/orders.parquet")
        clean_in = InputDataset(namespace="s3://lake", name="clean/orders.parquet")
        model = OutputDataset(namespace="s3://models", name="orders/model.pkl")
        ids = {k: str(generate_new_uuid()) for k in ("extract", "extract_again", "clean", "train_failed", "train")}
        self.ids = ids
        engine = processing_engine_run.ProcessingEngineRunFacet(version="3.11", name="python",
                                                                openlineageAdapterVersion="1.54.0")
        env = environment_variables_run.EnvironmentVariablesRunFacet(
            environmentVariables=[environment_variables_run.EnvironmentVariable(name="STAGE", value="prod")])
        code = source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url="https://github.com/acme/pipelines/blob/9f2c1e0/extract.py", version="9f2c1e0")
        owner = ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(name="team:data")])
        doc = documentation_job.DocumentationJobFacet(description="Pulls the orders export")

        self.emit(self.plain, RunState.START, 60, self.parent_id, "nightly")
        self.emit(self.plain, RunState.START, 58, ids["extract"], "extract",
                  run_facets={"processing_engine": engine, "environmentVariables": env},
                  job_facets={"sourceCodeLocation": code, "ownership": owner, "documentation": doc})
        self.emit(self.gzip, RunState.COMPLETE, 55, ids["extract"], "extract", outputs=[raw_v1])
        # A second extract starts and is still running when clean starts: clean is stale, and
        # the running extract is not a producer of anything.
        self.emit(self.plain, RunState.START, 50, ids["extract_again"], "extract")
        self.emit(self.gzip, RunState.START, 45, ids["clean"], "clean", inputs=[raw_in], outputs=[clean_out])
        self.emit(self.gzip, RunState.COMPLETE, 40, ids["clean"], "clean", inputs=[raw_in], outputs=[clean_out])
        self.emit(self.plain, RunState.START, 35, ids["train_failed"], "train", inputs=[clean_in], outputs=[model])
        err = error_message_run.ErrorMessageRunFacet(message="CUDA out of memory", programmingLanguage="python")
        self.emit(self.plain, RunState.FAIL, 30, ids["train_failed"], "train", run_facets={"errorMessage": err})
        self.emit(self.gzip, RunState.START, 25, ids["train"], "train", inputs=[clean_in], outputs=[model])
        self.emit(self.gzip, RunState.COMPLETE, 20, ids["train"], "train", inputs=[clean_in], outputs=[model])
        self.emit(self.plain, RunState.COMPLETE, 19, self.parent_id, "nightly")


class OpenLineageTest(unittest.TestCase):
    """One server holding the client's pipeline, the three integrations' fixtures and a native run
    that reads an OpenLineage output, so that everything is mixed in one lineage."""

    srv: Server

    @classmethod
    def setUpClass(cls) -> None:
        cls.srv = Server().start()
        url = cls.srv.url
        cls.pipeline = Pipeline(url)
        cls.pipeline.send()
        status, answer = post(url, json.dumps(fixture("airflow")).encode())
        assert status == 201, answer
        spark = "".join(json.dumps(e) + "\n" for e in fixture("spark")).encode()
        status, answer = post(url, spark, content_type="application/x-ndjson", gzipped=True)
        assert status == 201, answer
        status, answer = post(url, json.dumps(fixture("dbt")).encode(), gzipped=True)
        assert status == 201, answer
        send_run(url, {"component": "report", "start": at(5), "end": at(4),
                       "inputs": ["s3://lake/agg/orders_daily"], "outputs": ["weekly_report.pdf"]})
        flag(url, ["s3://models/orders/model.pkl", "weekly_report.pdf"])

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.cleanup()

    def runs_by_component(self) -> dict:
        runs = get(self.srv.url, "/runs?limit=1000")["runs"]
        out = {}
        for r in runs:
            out.setdefault(r["component"], []).append(r)
        return out

    def run_of(self, uuid: str) -> dict:
        for r in get(self.srv.url, "/runs?limit=1000")["runs"]:
            detail = get(self.srv.url, f"/runs/{r['id']}")
            if (detail.get("openlineage") or {}).get("run_id") == uuid:
                return detail
        self.fail(f"no run for {uuid}")

    # -- the real client ---------------------------------------------------------------------

    def test_the_clients_pipeline_traces_from_the_model_to_the_successful_runs(self):
        trace = get(self.srv.url, "/trace?output=s3://models/orders/model.pkl")
        comps = [n["run"]["component"] for n in trace["nodes"]]
        self.assertEqual(comps, ["python/train", "python/clean", "python/extract"])
        train = trace["nodes"][0]["run"]
        self.assertEqual(train["status"], "completed")
        self.assertEqual(self.run_of(self.pipeline.ids["train"])["id"], train["id"])
        self.assertEqual(trace["edges"][0]["via"], "s3://lake/clean/orders.parquet")
        # The version facet is the hash, and lineage follows it.
        clean = self.run_of(self.pipeline.ids["clean"])
        self.assertEqual(clean["inputs"][0]["hash"], "v1")

    def test_a_run_that_read_an_input_whose_producer_has_a_fresher_run_is_stale(self):
        clean = self.run_of(self.pipeline.ids["clean"])
        extract = self.run_of(self.pipeline.ids["extract"])
        self.assertEqual(clean["stale"], [
            f"python/extract (ID {extract['id']}) has 1 fresher run that began before this component run started."])
        again = self.run_of(self.pipeline.ids["extract_again"])
        self.assertEqual(again["status"], "running")

    def test_a_failed_run_is_shown_with_its_error_and_never_produces(self):
        failed = self.run_of(self.pipeline.ids["train_failed"])
        self.assertEqual(failed["status"], "failed")
        self.assertEqual(failed["error"], "CUDA out of memory")
        io = get(self.srv.url, "/io?name=s3://models/orders/model.pkl")
        self.assertNotIn(failed["id"], io["producers"])
        self.assertEqual(io["producers"], [self.run_of(self.pipeline.ids["train"])["id"]])
        history = get(self.srv.url, "/components/python%2Ftrain/runs")["runs"]
        self.assertEqual([r["status"] for r in history], ["completed", "failed"])

    def test_every_task_links_to_its_parent_run(self):
        parent = self.run_of(self.pipeline.parent_id)
        self.assertEqual(parent["status"], "completed")
        for key in ("extract", "clean", "train"):
            run = self.run_of(self.pipeline.ids[key])
            self.assertEqual(run["parent"], parent["id"], key)
            self.assertEqual(run["openlineage"]["parent"]["run_id"], self.pipeline.parent_id)

    def test_job_and_run_facets_reach_the_component_and_the_run_card(self):
        extract = self.run_of(self.pipeline.ids["extract"])
        self.assertEqual(extract["owner"], "team:data")
        self.assertEqual(extract["description"], "Pulls the orders export")
        self.assertEqual(extract["git_hash"], "9f2c1e0")
        self.assertEqual(extract["openlineage"]["source_url"], "https://github.com/acme/pipelines/blob/9f2c1e0/extract.py")
        self.assertEqual(extract["openlineage"]["environment_variables"], [{"name": "STAGE", "value": "prod"}])
        self.assertEqual(extract["openlineage"]["processing_engine"]["name"], "python")

    def test_review_ranks_the_runs_common_to_flagged_outputs_across_tools(self):
        review = get(self.srv.url, "/review")
        counts = {r["run"]["component"]: (r["count"], r["coverage"]) for r in review["runs"]}
        self.assertEqual(counts["python/clean"], (1, 0.5))
        self.assertEqual(counts["report"], (1, 0.5))
        # The native report read Spark's output, which read Airflow's: one lineage.
        self.assertIn("spark-prod/orders_daily_agg.execute_insert_into_hadoop_fs_relation_command.lake_agg_orders_daily", counts)
        self.assertIn("default/etl_orders.transform", counts)

    # -- Airflow, Spark, dbt -----------------------------------------------------------------

    def test_airflow_dag_and_task_runs(self):
        comps = self.runs_by_component()
        dag = comps["default/etl_orders"][0]
        self.assertEqual(dag["status"], "failed")
        load = get(self.srv.url, f"/runs/{comps['default/etl_orders.load'][0]['id']}")
        self.assertEqual(load["status"], "failed")
        self.assertTrue(load["error"].startswith("snowflake.connector.errors.ProgrammingError"))
        self.assertEqual(load["parent"], dag["id"])
        self.assertEqual(load["code_snapshot"], "def load(**ctx): ...")
        self.assertIn("airflow", load["openlineage"]["facets"]["run"], "Airflow's own facet is kept verbatim")
        self.assertEqual(dag["owner"], "team:data-eng")
        self.assertEqual(dag["tags"], ["nightly", "team:orders"])
        dag_card = get(self.srv.url, f"/runs/{dag['id']}")["openlineage"]
        self.assertEqual(dag_card["nominal_time"]["nominalStartTime"], "2026-11-25T02:00:00+00:00")
        self.assertEqual(dag_card["processing_engine"]["version"], "2.10.3")
        trace = get(self.srv.url, "/trace?output=s3://lake/clean/orders.parquet")
        self.assertEqual([n["run"]["component"] for n in trace["nodes"]],
                         ["default/etl_orders.transform", "default/etl_orders.extract"])
        # The failed load never became the producer of the warehouse table.
        self.assertEqual(get(self.srv.url, "/trace?output=snowflake://acme.eu-west-1/ANALYTICS.PUBLIC.ORDERS")["root"], None)

    def test_spark_reads_airflows_output_and_keeps_its_plan(self):
        trace = get(self.srv.url, "/trace?output=s3://lake/agg/orders_daily")
        comps = [n["run"]["component"] for n in trace["nodes"]]
        self.assertEqual(comps[1:], ["default/etl_orders.transform", "default/etl_orders.extract"])
        query = get(self.srv.url, f"/runs/{trace['root']}")
        self.assertEqual(query["openlineage"]["events"][1]["eventType"], "RUNNING")
        self.assertIn("spark.logicalPlan", query["openlineage"]["facets"]["run"])
        self.assertIn("columnLineage", query["openlineage"]["facets"]["outputs"]["s3://lake/agg/orders_daily"])
        self.assertEqual(query["parent"], self.runs_by_component()["spark-prod/orders_daily_agg"][0]["id"])

    def test_dbt_models_tests_and_sql(self):
        trace = get(self.srv.url, "/trace?output=postgres://warehouse:5432/jaffle.analytics.orders")
        self.assertEqual([n["run"]["component"] for n in trace["nodes"]],
                         ["dbt/jaffle_shop.model.jaffle_shop.orders", "dbt/jaffle_shop.model.jaffle_shop.stg_orders"])
        orders = get(self.srv.url, f"/runs/{trace['root']}")
        self.assertEqual(orders["code_snapshot"], "select * from jaffle.analytics.stg_orders")
        test = self.runs_by_component()["dbt/jaffle_shop.test.orders"][0]
        self.assertEqual([(t["name"], t["passed"]) for t in test["tests"]],
                         [("not_null_orders_order_id", True), ("accepted_values_orders_status", False)])
        self.assertEqual(test["tests"][1]["message"], "expected placed,shipped,returned, got 2 rows with status 'lost'")

    # -- bad input ---------------------------------------------------------------------------

    def test_bad_events_answer_400_naming_the_field_and_store_nothing(self):
        url = self.srv.url
        before = get(url, "/stats")["events"]
        good = fixture("dbt")[1]
        def variant(change):
            e = json.loads(json.dumps(good))
            change(e)
            return json.dumps(e).encode()
        cases = [
            (b'{"eventType": "START", ', "body"),
            (variant(lambda e: e.update(eventType="DONE")), "eventType"),
            (variant(lambda e: e["run"].update(runId="42")), "run.runId"),
            (variant(lambda e: e["outputs"][0].pop("namespace")), "outputs[0].namespace"),
            (json.dumps(fixture("dbt")[2] | {"eventType": "START", "eventTime": "2026-11-26T05:00:00Z"}).encode(), "eventType"),
        ]
        for body, field in cases:
            status, answer = post(url, body)
            self.assertEqual(status, 400, answer)
            self.assertEqual(answer["error"]["field"], field, answer)
        status, answer = post(url, b"[" + variant(lambda e: None) + b"," + variant(lambda e: e["run"].update(runId="x")) + b"]", gzipped=True)
        self.assertEqual((status, answer["error"]["field"]), (400, "[1].run.runId"))
        self.assertEqual(get(url, "/stats")["events"], before)

    # -- out ---------------------------------------------------------------------------------

    def test_every_exported_event_is_valid_openlineage_and_replays_to_the_same_lineage(self):
        exported = get_lines(self.srv.url, "/lineage/events")
        validator = Validator()
        for e in exported:
            self.assertEqual(validator.errors(e), [], json.dumps(e)[:400])
        types = {e.get("eventType") for e in exported}
        self.assertEqual(types, {"START", "COMPLETE", "FAIL", None})
        fresh = Server().start()
        try:
            body = "".join(json.dumps(e) + "\n" for e in exported).encode()
            status, answer = post(fresh.url, body, content_type="application/x-ndjson", gzipped=True)
            self.assertEqual(status, 201, answer)
            outputs = ["s3://models/orders/model.pkl", "weekly_report.pdf", "s3://lake/agg/orders_daily",
                       "postgres://warehouse:5432/jaffle.analytics.orders", "s3://lake/clean/orders.parquet"]
            def shape(url, output):
                t = get(url, f"/trace?output={output}")
                # A native run comes back as an OpenLineage run that completed.
                return ([(n["depth"], n["run"]["id"], n["run"]["component"], n["run"].get("status", "completed"))
                         for n in t["nodes"]],
                        t["edges"])
            for output in outputs:
                self.assertEqual(shape(fresh.url, output), shape(self.srv.url, output), output)
            def review(url):
                r = get(url, "/review")
                return ([(x["run"]["id"], x["count"], x["coverage"]) for x in r["runs"]],
                        [(f["name"], f["by"]) for f in r["flagged"]])
            self.assertEqual(review(fresh.url), review(self.srv.url))
            again = get_lines(fresh.url, "/lineage/events")
            self.assertEqual(len(again), len(exported))
        finally:
            fresh.cleanup()


class OpenLineageAuthTest(unittest.TestCase):
    """The same auth as the rest of the API: the client's `api_key` auth sends our token."""

    TOKEN = "ol-write-token-0123456789abcdef0123456789"

    @classmethod
    def setUpClass(cls) -> None:
        cls.srv = Server(extra_args=["--token", cls.TOKEN]).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.cleanup()

    def client(self, token=None) -> OpenLineageClient:
        auth = ApiKeyTokenProvider({"apiKey": token}) if token else TokenProvider({})
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=self.srv.url, auth=auth,
                                                                    compression=HttpCompression.GZIP)))

    def test_the_clients_api_key_is_our_token(self):
        event = RunEvent(eventType=RunState.START, eventTime=at(1), producer=PRODUCER,
                         run=Run(runId=str(generate_new_uuid())), job=Job(namespace=NS, name="guarded"))
        with self.assertRaises(Exception) as refused:
            self.client().emit(event)
        self.assertIn("401", str(refused.exception))
        self.client(self.TOKEN).emit(event)
        req = urllib.request.Request(f"{self.srv.url}/api/v1/runs",
                                     headers={"Authorization": f"Bearer {self.TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            runs = json.loads(r.read())["runs"]
        self.assertEqual([(r["component"], r["status"]) for r in runs], [("python/guarded", "running")])


if __name__ == "__main__":
    unittest.main()
