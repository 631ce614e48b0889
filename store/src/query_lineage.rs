//! OpenLineage out: the whole history (native runs included) as OpenLineage events, in log order,
//! read at a reader's seq. Each run becomes a START (at the seq of its first event) and its end,
//! COMPLETE, FAIL or ABORT (at the seq of the event that ended it; a native run ends where it
//! starts), a run still going on a START alone; each registration or tagging of a component a
//! `JobEvent`; each flag or unflag a `DatasetEvent` per output with our `mltrace_flag` facet.
//! Replayed into an empty mltrace in this order, they give the same runs, ids, lineage and review,
//! and the same interleaving of runs ending and others starting (see `docs/openlineage.md`).

use super::{Locked, Reader};
use crate::error::Result;
use crate::event::{RunId, RunStatus, Seq};
use crate::model::RunDetail;
use crate::openlineage::{
    DATASET_EVENT_SCHEMA, JOB_EVENT_SCHEMA, MLTRACE_FACET_SCHEMA, PRODUCER, RUN_EVENT_SCHEMA, dataset_of, job_of,
    native_run_uuid,
};
use crate::state::NO_VIA;
use crate::time::Timestamp;
use hashbrown::HashMap;
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

/// What one position of the export stands for.
enum Item {
    /// A component's metadata as of a registration or tagging (component, version index).
    Job(u32, usize),
    /// A run began.
    Start(RunId),
    /// A run ended.
    End(RunId),
    /// A flag change (index in the flag log).
    Flag(usize),
}

impl Reader<'_> {
    /// One page of the OpenLineage export: the events for what happened in seqs `after + 1 ..=
    /// after + max_seqs` (at most up to the reader's seq), in log order, and the seq to continue
    /// after (`None` when this page ends the export).
    pub fn openlineage_page(&self, after: Seq, max_seqs: u64) -> Result<(Vec<Value>, Option<Seq>)> {
        if after >= self.seq {
            return Ok((Vec::new(), None));
        }
        let hi = after.saturating_add(max_seqs.max(1)).min(self.seq);
        let items = self.lock().page_items(after, hi);
        let mut ids: Vec<RunId> = items
            .iter()
            .filter_map(|(_, _, item)| match item {
                Item::Start(id) | Item::End(id) => Some(*id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let details = self.each_run(&ids, |l, id, cold| l.detail(id, cold))?;
        let runs_read: HashMap<RunId, RunDetail> = ids.into_iter().zip(details).collect();
        let l = self.lock();
        let mut out = Vec::with_capacity(items.len());
        for (_, _, item) in items {
            match item {
                Item::Job(c, i) => out.push(l.job_event(c, i)),
                Item::Start(id) | Item::End(id) => {
                    if let Some(d) = runs_read.get(&id) {
                        let end = matches!(item, Item::End(_));
                        if let Some(e) = l.run_event(d, end) {
                            out.push(e);
                        }
                    }
                }
                Item::Flag(i) => l.flag_events(i, &mut out),
            }
        }
        Ok((out, (hi < self.seq).then_some(hi)))
    }
}

impl Locked<'_> {
    /// What happened in seqs `after + 1 ..= hi`, in log order.
    fn page_items(&self, after: Seq, hi: Seq) -> Vec<(Seq, u8, Item)> {
        let v = self.view();
        let in_page = |seq: Seq| seq > after && seq <= hi;
        // (seq, order within one event's seq, item): a registration comes before the run it
        // precedes in the log, a run's START before its end, a flag after the run it names.
        let mut items: Vec<(Seq, u8, Item)> = Vec::new();
        let runs = &self.st.runs[..v.max_run as usize];
        let first = runs.partition_point(|r| r.seq <= after);
        let last = runs.partition_point(|r| r.seq <= hi);
        for (i, row) in runs.iter().enumerate().take(last).skip(first) {
            let id = i as RunId + 1;
            items.push((row.seq, 1, Item::Start(id)));
            if self.st.lineage_run(id).is_none() {
                items.push((row.seq, 2, Item::End(id)));
            }
        }
        let ended = &self.st.ol.ended;
        let from = ended.partition_point(|&(seq, _)| seq <= after);
        for &(seq, id) in ended[from..].iter().take_while(|&&(seq, _)| seq <= hi) {
            items.push((seq, 2, Item::End(id)));
        }
        for c in v.components() {
            for (i, version) in self.st.comps[c as usize].versions.iter().enumerate() {
                if in_page(version.seq) {
                    items.push((version.seq, 0, Item::Job(c, i)));
                }
            }
        }
        let flags = &self.st.flag_log;
        let from = flags.partition_point(|f| f.seq <= after);
        for (i, change) in flags.iter().enumerate().skip(from).take_while(|(_, f)| f.seq <= hi) {
            items.push((change.seq, 3, Item::Flag(i)));
        }
        items.sort_by_key(|&(seq, order, _)| (seq, order));
        items
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
        meta_facets(&mut f, &description, &owner, &tags);
        f
    }

    /// A `JobEvent` with a component's metadata as one registration or tagging left it.
    fn job_event(&self, c: u32, version: usize) -> Value {
        let name = self.st.comp_names.name(c);
        let v = &self.st.comps[c as usize].versions[version];
        let mut tags: Vec<String> = v.tags.iter().map(|&t| self.st.tag_names.name(t).to_string()).collect();
        tags.sort();
        let mut f = Map::new();
        meta_facets(&mut f, &v.description, &v.owner, &tags);
        let (namespace, job_name) = job_of(name);
        json!({
            "eventTime": Timestamp(self.st.last_time_at(v.seq)), "producer": PRODUCER, "schemaURL": JOB_EVENT_SCHEMA,
            "job": {"namespace": namespace, "name": job_name, "facets": f},
        })
    }

    /// A run's START (`end` false) or its end event (`None` for the end of a run still going on).
    fn run_event(&self, d: &RunDetail, end: bool) -> Option<Value> {
        let v = self.view();
        let id = d.id;
        let ol = d.openlineage.as_ref();
        let uuid = ol.and_then(|o| o["run_id"].as_str()).map(str::to_string).unwrap_or_else(|| native_run_uuid(id));
        let status = d.status.unwrap_or(RunStatus::Completed);
        let (event_type, at) = match (end, status) {
            (false, _) => ("START", d.start),
            (true, RunStatus::Running) => return None,
            (true, RunStatus::Completed) => ("COMPLETE", d.end),
            (true, RunStatus::Failed) => ("FAIL", d.end),
            (true, RunStatus::Aborted) => ("ABORT", d.end),
        };
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
        if status == RunStatus::Failed && !run_facets.contains_key("errorMessage") {
            let message = d.error.clone().unwrap_or_else(|| "the run failed".into());
            run_facets.insert(
                "errorMessage".into(),
                facet(ERROR_FACET_SCHEMA, json!({"message": message, "programmingLanguage": "unknown"})),
            );
        }
        let (namespace, name) = job_of(&d.component);
        let job = json!({"namespace": namespace, "name": name, "facets": self.job_facets(&d.component, Some(d))});
        let inputs: Vec<Value> = d.inputs.iter().map(|i| dataset(&i.name, i.hash.as_deref())).collect();
        let outputs: Vec<Value> = d.outputs.iter().map(|o| dataset(&o.name, o.hash.as_deref())).collect();
        Some(json!({
            "eventType": event_type, "eventTime": at, "producer": PRODUCER, "schemaURL": RUN_EVENT_SCHEMA,
            "run": {"runId": uuid, "facets": run_facets}, "job": job, "inputs": inputs, "outputs": outputs,
        }))
    }

    /// One `DatasetEvent` per output of a flag or unflag.
    fn flag_events(&self, i: usize, out: &mut Vec<Value>) {
        let Some(change) = self.st.flag_log.get(i) else { return };
        for &io in &change.ids {
            let mut d = dataset(self.st.io_names.name(io), None);
            let fields = if change.flag {
                json!({"flagged": true, "reason": change.reason, "by": change.by})
            } else {
                json!({"flagged": false})
            };
            d["facets"] = json!({"mltrace_flag": facet(MLTRACE_FACET_SCHEMA, fields)});
            out.push(json!({
                "eventTime": Timestamp(change.at), "producer": PRODUCER, "schemaURL": DATASET_EVENT_SCHEMA, "dataset": d,
            }));
        }
    }
}

/// The `ownership`, `documentation` and `tags` job facets of a component's metadata.
fn meta_facets(f: &mut Map<String, Value>, description: &str, owner: &str, tags: &[String]) {
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
}
