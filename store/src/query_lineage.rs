//! OpenLineage out: the whole history (native runs included) as OpenLineage events, read at a
//! reader's seq. Each run becomes a START at its start and its terminal event (COMPLETE, FAIL or
//! ABORT) at its end, a run still going on a START alone; after the runs come a `JobEvent` for each
//! component that has metadata but no run, and a `DatasetEvent` for each flagged output, carrying
//! our `mltrace_flag` facet. Replayed into an empty mltrace in this order, they give the same runs,
//! ids, lineage and review (see `docs/openlineage.md`).

use super::Reader;
use crate::error::Result;
use crate::event::{RunId, RunStatus, Seq};
use crate::model::RunDetail;
use crate::openlineage::{
    DATASET_EVENT_SCHEMA, JOB_EVENT_SCHEMA, MLTRACE_FACET_SCHEMA, PRODUCER, RUN_EVENT_SCHEMA, dataset_of, job_of,
    native_run_uuid,
};
use crate::state::NO_VIA;
use crate::time::Timestamp;
use serde_json::{Map, Value, json};

const TEST_FACET_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/TestRunFacet.json#/$defs/TestRunFacet";
const VERSION_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const OWNERSHIP_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet";
const DOCUMENTATION_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/DocumentationJobFacet.json#/$defs/DocumentationJobFacet";
const TAGS_FACET_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet";
const SOURCE_CODE_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/SourceCodeJobFacet.json#/$defs/SourceCodeJobFacet";
const ERROR_FACET_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";

fn facet(schema: &str, fields: Value) -> Value {
    let mut f = Map::new();
    f.insert("_producer".into(), json!(PRODUCER));
    f.insert("_schemaURL".into(), json!(schema));
    if let Value::Object(fields) = fields {
        f.extend(fields);
    }
    Value::Object(f)
}

fn dataset(name: &str, hash: Option<&str>) -> Value {
    let (namespace, name) = dataset_of(name);
    let mut d = json!({"namespace": namespace, "name": name});
    if let Some(h) = hash {
        d["facets"] = json!({"version": facet(VERSION_FACET_SCHEMA, json!({"datasetVersion": h}))});
    }
    d
}

impl Reader<'_> {
    /// One page of the OpenLineage export: the events of at most `max_runs` runs first logged
    /// after seq `after`, and the seq to continue after (`None` when this page ends the export,
    /// and then it also holds the job and dataset events that close it).
    pub fn openlineage_page(&self, after: Seq, max_runs: usize) -> Result<(Vec<Value>, Option<Seq>)> {
        let v = self.view();
        let runs = &self.st.runs[..v.max_run as usize];
        let first = runs.partition_point(|r| r.seq <= after);
        let last = (first + max_runs).min(runs.len());
        let mut out = Vec::new();
        for i in first..last {
            self.run_events(i as RunId + 1, &mut out)?;
        }
        if last < runs.len() {
            return Ok((out, Some(runs[last - 1].seq)));
        }
        self.closing_events(&mut out);
        Ok((out, None))
    }

    fn job_facets(&self, component: &str, detail: Option<&RunDetail>) -> Map<String, Value> {
        let mut f = Map::new();
        if let Some(d) = detail {
            if let Some(Value::Object(kept)) = d.openlineage.as_ref().and_then(|o| o.pointer("/facets/job")) {
                f.extend(kept.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(code) = &d.code_snapshot
                && !f.contains_key("sourceCode")
                && !f.contains_key("sql")
            {
                f.insert(
                    "sourceCode".into(),
                    facet(SOURCE_CODE_FACET_SCHEMA, json!({"language": "unknown", "sourceCode": code})),
                );
            }
        }
        let (description, owner, tags) = self.component_fields(component);
        if !owner.is_empty() {
            let owners: Vec<Value> = owner.split(", ").map(|o| json!({"name": o})).collect();
            f.insert("ownership".into(), facet(OWNERSHIP_FACET_SCHEMA, json!({"owners": owners})));
        }
        if !description.is_empty() {
            f.insert("documentation".into(), facet(DOCUMENTATION_FACET_SCHEMA, json!({"description": description})));
        }
        if !tags.is_empty() {
            let tags: Vec<Value> = tags
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((k, v)) => json!({"key": k, "value": v}),
                    None => json!({"key": t, "value": ""}),
                })
                .collect();
            f.insert("tags".into(), facet(TAGS_FACET_SCHEMA, json!({"tags": tags})));
        }
        f
    }

    fn run_events(&self, id: RunId, out: &mut Vec<Value>) -> Result<()> {
        let d = self.run(id)?;
        let v = self.view();
        let ol = d.openlineage.as_ref();
        let uuid = ol.and_then(|o| o["run_id"].as_str()).map(str::to_string).unwrap_or_else(|| native_run_uuid(id));
        let mut run_facets = Map::new();
        if let Some(Value::Object(kept)) = ol.and_then(|o| o.pointer("/facets/run")) {
            run_facets.extend(kept.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let upstream: Vec<String> = v
            .deps(id)
            .into_iter()
            .filter(|&(_, via)| via == NO_VIA)
            .filter_map(|(dep, _)| v.run(dep).map(|r| self.st.comp_names.name(r.component).to_string()))
            .collect();
        run_facets.insert(
            "mltrace".into(),
            facet(
                MLTRACE_FACET_SCHEMA,
                json!({"id": id, "upstream": upstream, "git_hash": d.git_hash, "git_tags": d.git_tags,
                       "stale": d.stale, "notes": d.notes}),
            ),
        );
        if !d.tests.is_empty() && !run_facets.contains_key("test") {
            let tests: Vec<Value> = d
                .tests
                .iter()
                .map(|t| {
                    let mut e = json!({"name": t.name, "status": if t.passed { "pass" } else { "fail" }});
                    if let Some(m) = &t.message {
                        e["description"] = json!(m);
                    }
                    e
                })
                .collect();
            run_facets.insert("test".into(), facet(TEST_FACET_SCHEMA, json!({"tests": tests})));
        }
        let status = d.status.unwrap_or(RunStatus::Completed);
        if status == RunStatus::Failed && !run_facets.contains_key("errorMessage") {
            let message = d.error.clone().unwrap_or_else(|| "the run failed".into());
            run_facets.insert(
                "errorMessage".into(),
                facet(ERROR_FACET_SCHEMA, json!({"message": message, "programmingLanguage": "unknown"})),
            );
        }
        let (namespace, name) = job_of(&d.component);
        let job = json!({"namespace": namespace, "name": name, "facets": self.job_facets(&d.component, Some(&d))});
        let inputs: Vec<Value> = d.inputs.iter().map(|i| dataset(&i.name, i.hash.as_deref())).collect();
        let outputs: Vec<Value> = d.outputs.iter().map(|o| dataset(&o.name, o.hash.as_deref())).collect();
        let event = |ty: &str, at: Timestamp| {
            json!({
                "eventType": ty, "eventTime": at, "producer": PRODUCER, "schemaURL": RUN_EVENT_SCHEMA,
                "run": {"runId": uuid, "facets": run_facets}, "job": job, "inputs": inputs, "outputs": outputs,
            })
        };
        out.push(event("START", d.start));
        let terminal = match status {
            RunStatus::Running => None,
            RunStatus::Completed => Some("COMPLETE"),
            RunStatus::Failed => Some("FAIL"),
            RunStatus::Aborted => Some("ABORT"),
        };
        if let Some(ty) = terminal {
            out.push(event(ty, d.end));
        }
        Ok(())
    }

    fn closing_events(&self, out: &mut Vec<Value>) {
        let v = self.view();
        let at = Timestamp(self.st.last_time_at(self.seq));
        let mut comps: Vec<u32> = v.components().filter(|&c| v.component_runs(c).is_empty()).collect();
        comps.sort_by_key(|&c| self.st.comp_names.name(c));
        for c in comps {
            let name = self.st.comp_names.name(c);
            let (namespace, job_name) = job_of(name);
            out.push(json!({
                "eventTime": at, "producer": PRODUCER, "schemaURL": JOB_EVENT_SCHEMA,
                "job": {"namespace": namespace, "name": job_name, "facets": self.job_facets(name, None)},
            }));
        }
        for (io, f) in self.flag_list() {
            let mut d = dataset(self.st.io_names.name(io), None);
            d["facets"] = json!({"mltrace_flag": facet(MLTRACE_FACET_SCHEMA, json!({"flagged": true, "reason": f.reason, "by": f.by}))});
            out.push(json!({
                "eventTime": Timestamp(f.at), "producer": PRODUCER, "schemaURL": DATASET_EVENT_SCHEMA, "dataset": d,
            }));
        }
    }
}
