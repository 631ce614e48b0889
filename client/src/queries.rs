//! Every read of the contract, each defined once: its request (the fields are the parameters, in
//! the order they are checked), its path, its answer, and how a store answers it. The route, the
//! HTTP client, the data directory and the command line all follow from these (see [`crate::endpoint`]).
//!
//! List answers are one envelope each ([`RunList`], [`ComponentList`], ...), so `{"runs": [...]}` is
//! spelled in one place for the server, the client and `--json`.

use crate::endpoint::{Endpoint, MAX_LIMIT};
use crate::params;
use mltrace_store::audit::{self, evidence_json};
use mltrace_store::model::{
    ComponentDetail, ComponentView, DownstreamView, FlagView, IoView, OutdatedComponent, ReviewRank, ReviewView,
    RunDetail, RunSummary, Stats as StatsView, Suggestions, TagCount, TraceView,
};
use mltrace_store::{AsOf, DEFAULT_TRACE_LIMIT, RunId, Store, StoreError, Timestamp};
use serde::{Deserialize, Serialize};

type Answer<T> = Result<T, StoreError>;

/// `{"runs": [...]}`: a page of runs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    /// The runs.
    pub runs: Vec<RunSummary>,
}

/// `{"components": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentList {
    /// The components, by name.
    pub components: Vec<ComponentView>,
}

/// `{"tags": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagList {
    /// Every tag with its count.
    pub tags: Vec<TagCount>,
}

/// `{"flags": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlagList {
    /// Flagged outputs, in the order they were flagged.
    pub flags: Vec<FlagView>,
}

/// `{"components": [...]}` of `GET /outdated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutdatedList {
    /// Components whose latest run depends on a superseded run.
    pub components: Vec<OutdatedComponent>,
}

/// An answer with, when asked for (`proof=true`), the evidence that its runs are in the signed log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proved<T> {
    /// The answer.
    #[serde(flatten)]
    pub view: T,
    /// `{"head", "events"}` (see the store's `audit` module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<serde_json::Value>,
}

impl<T> std::ops::Deref for Proved<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.view
    }
}

/// Answers `view` read at `seq`, with the evidence for `ids` at the same point when `proof`.
fn proved<T>(store: &Store, view: T, ids: &[RunId], seq: u64, proof: bool) -> Answer<Proved<T>> {
    let proof = if proof { Some(evidence_json(&store.run_evidence(ids, Some(AsOf::Seq(seq)))?)) } else { None };
    Ok(Proved { view, proof })
}

/// `GET /stats`: counts and sizes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Stats {
    type Answer = StatsView;
    const PATH: &'static str = "/stats";
    params!(Stats { as_of: as_of });
    fn run(&self, store: &Store) -> Answer<StatsView> {
        Ok(store.reader(self.as_of).stats())
    }
}

/// `GET /runs`: the most recent runs, newest first (start time, then id).
#[derive(Clone, Debug, PartialEq)]
pub struct Recent {
    /// Page size.
    pub limit: usize,
    /// Continue after this run.
    pub before: Option<RunId>,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Recent {
    type Answer = RunList;
    const PATH: &'static str = "/runs";
    params!(Recent { limit: limit(20, MAX_LIMIT), before: run_id, as_of: as_of });
    fn run(&self, store: &Store) -> Answer<RunList> {
        Ok(RunList { runs: store.reader(self.as_of).recent(self.limit, self.before)? })
    }
}

/// `GET /components/{name}/runs`: a component's runs, newest first, within an inclusive
/// start-time range.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The component.
    pub name: String,
    /// Page size.
    pub limit: usize,
    /// Continue after this run.
    pub before: Option<RunId>,
    /// Runs that started at or after.
    pub since: Option<Timestamp>,
    /// Runs that started at or before.
    pub until: Option<Timestamp>,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for History {
    type Answer = RunList;
    const PATH: &'static str = "/components/{name}/runs";
    params!(History {
        name: required,
        limit: limit(10, MAX_LIMIT),
        before: run_id,
        since: time,
        until: time,
        as_of: as_of,
    });
    fn run(&self, store: &Store) -> Answer<RunList> {
        let r = store.reader(self.as_of);
        Ok(RunList { runs: r.history(&self.name, self.limit, self.before, self.since, self.until)? })
    }
}

/// `GET /runs/{id}`: one run in full.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The run.
    pub id: RunId,
    /// When.
    pub as_of: Option<AsOf>,
    /// With the evidence that the run is in the signed log.
    pub proof: bool,
}

impl Endpoint for Run {
    type Answer = Proved<RunDetail>;
    const PATH: &'static str = "/runs/{id}";
    params!(Run { id: path_run_id, as_of: as_of, proof: flag });
    fn audited(&self) -> bool {
        self.proof
    }
    fn run(&self, store: &Store) -> Answer<Proved<RunDetail>> {
        let r = store.reader(self.as_of);
        let (detail, seq) = (r.run(self.id)?, r.seq());
        proved(store, detail, &[self.id], seq, self.proof)
    }
}

/// `GET /components/{name}`: a component with its run count, latest run and outdated flag.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The component.
    pub name: String,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Component {
    type Answer = ComponentDetail;
    const PATH: &'static str = "/components/{name}";
    params!(Component { name: required, as_of: as_of });
    fn run(&self, store: &Store) -> Answer<ComponentDetail> {
        store.reader(self.as_of).component(&self.name)
    }
}

/// `GET /components?owner=&tag=`: components, filtered by owner and tag (both when given), by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Components {
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only those with this tag.
    pub tag: Option<String>,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Components {
    type Answer = ComponentList;
    const PATH: &'static str = "/components";
    params!(Components { owner: text, tag: text, as_of: as_of });
    fn run(&self, store: &Store) -> Answer<ComponentList> {
        let r = store.reader(self.as_of);
        Ok(ComponentList { components: r.components(self.owner.as_deref(), self.tag.as_deref()) })
    }
}

/// `GET /tags`: every tag with the number of components carrying it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tags {
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Tags {
    type Answer = TagList;
    const PATH: &'static str = "/tags";
    params!(Tags { as_of: as_of });
    fn run(&self, store: &Store) -> Answer<TagList> {
        Ok(TagList { tags: store.reader(self.as_of).tags() })
    }
}

/// `GET /io?name=`: an I/O pointer, its type, flag, producers and consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct Io {
    /// The pointer's name.
    pub name: String,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Io {
    type Answer = IoView;
    const PATH: &'static str = "/io";
    params!(Io { name: required, as_of: as_of });
    fn run(&self, store: &Store) -> Answer<IoView> {
        store.reader(self.as_of).io(&self.name)
    }
}

/// `GET /trace?output=`: the runs that produced an output, pre-order from its latest producer.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The output.
    pub output: String,
    /// How deep to walk (unbounded when `None`).
    pub max_depth: Option<u32>,
    /// Most runs to list.
    pub limit: usize,
    /// When.
    pub as_of: Option<AsOf>,
    /// With the evidence that the runs are in the signed log.
    pub proof: bool,
}

impl Trace {
    /// The trace of `output`, whole (as far as the default limit), now, without proof.
    pub fn of(output: impl Into<String>) -> Trace {
        Trace { output: output.into(), max_depth: None, limit: DEFAULT_TRACE_LIMIT, as_of: None, proof: false }
    }
}

impl Endpoint for Trace {
    type Answer = Proved<TraceView>;
    const PATH: &'static str = "/trace";
    params!(Trace {
        output: required,
        max_depth: depth,
        limit: limit(DEFAULT_TRACE_LIMIT, 100_000),
        as_of: as_of,
        proof: flag,
    });
    fn audited(&self) -> bool {
        self.proof
    }
    fn run(&self, store: &Store) -> Answer<Proved<TraceView>> {
        let r = store.reader(self.as_of);
        let (trace, seq) = (r.trace(&self.output, self.max_depth, self.limit)?, r.seq());
        let ids: Vec<RunId> = if self.proof { trace.nodes.iter().map(|n| n.run.id).collect() } else { Vec::new() };
        proved(store, trace, &ids, seq, self.proof)
    }
}

/// `GET /downstream?output=`: everything derived from an output.
#[derive(Clone, Debug, PartialEq)]
pub struct Downstream {
    /// The output.
    pub output: String,
    /// How deep to walk (unbounded when `None`).
    pub max_depth: Option<u32>,
    /// Most runs to list.
    pub limit: usize,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Downstream {
    type Answer = DownstreamView;
    const PATH: &'static str = "/downstream";
    params!(Downstream {
        output: required,
        max_depth: depth,
        limit: limit(DEFAULT_TRACE_LIMIT, 100_000),
        as_of: as_of,
    });
    fn run(&self, store: &Store) -> Answer<DownstreamView> {
        store.reader(self.as_of).downstream(&self.output, self.max_depth, self.limit)
    }
}

/// `GET /flags`: flagged outputs, in the order they were flagged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flags {
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Flags {
    type Answer = FlagList;
    const PATH: &'static str = "/flags";
    params!(Flags { as_of: as_of });
    fn run(&self, store: &Store) -> Answer<FlagList> {
        Ok(FlagList { flags: store.reader(self.as_of).flags() })
    }
}

/// `GET /review`: flagged outputs and the runs most common to their traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    /// Most runs to list.
    pub limit: usize,
    /// Their order (the contract's, by count, unless asked).
    pub rank: ReviewRank,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Review {
    type Answer = ReviewView;
    const PATH: &'static str = "/review";
    params!(Review { limit: limit(1_000, 10_000), rank: rank, as_of: as_of });
    fn run(&self, store: &Store) -> Answer<ReviewView> {
        store.reader(self.as_of).review_ranked(self.limit, self.rank)
    }
}

/// `GET /outdated`: components whose latest run depends on a superseded run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outdated {
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Outdated {
    type Answer = OutdatedList;
    const PATH: &'static str = "/outdated";
    params!(Outdated { as_of: as_of });
    fn run(&self, store: &Store) -> Answer<OutdatedList> {
        Ok(OutdatedList { components: store.reader(self.as_of).outdated()? })
    }
}

/// `GET /suggest?q=`: names starting with (or containing) `q`, for completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggest {
    /// What was typed so far.
    pub q: String,
    /// Most names of each kind.
    pub limit: usize,
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for Suggest {
    type Answer = Suggestions;
    const PATH: &'static str = "/suggest";
    params!(Suggest { q: text_or_empty, limit: limit(20, 200), as_of: as_of });
    fn run(&self, store: &Store) -> Answer<Suggestions> {
        Ok(store.reader(self.as_of).suggest(&self.q, self.limit))
    }
}

/// `GET /audit/key`: the public key that signs tree heads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditKey;

impl Endpoint for AuditKey {
    type Answer = serde_json::Value;
    const PATH: &'static str = "/audit/key";
    fn audited(&self) -> bool {
        true
    }
    fn to_params(&self) -> crate::endpoint::Params {
        crate::endpoint::Params::default()
    }
    fn from_request(_: &crate::endpoint::Params, _: &[u8]) -> Answer<Self> {
        Ok(AuditKey)
    }
    fn run(&self, store: &Store) -> Answer<serde_json::Value> {
        Ok(audit::key_json(&store.audit_key()?))
    }
}

/// `GET /audit/head?as_of=`: a head over the tree at `as_of` (default: every acknowledged event),
/// signed now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditHead {
    /// When.
    pub as_of: Option<AsOf>,
}

impl Endpoint for AuditHead {
    type Answer = serde_json::Value;
    const PATH: &'static str = "/audit/head";
    params!(AuditHead { as_of: as_of });
    fn audited(&self) -> bool {
        true
    }
    fn run(&self, store: &Store) -> Answer<serde_json::Value> {
        Ok(audit::head_json(&store.signed_head(self.as_of)?, None))
    }
}

/// `GET /audit/proof/inclusion?seq=N&size=S`: that event `seq` is in the tree of `size` events
/// (default: every acknowledged event), with a head of that tree.
#[derive(Clone, Debug, PartialEq)]
pub struct InclusionProof {
    /// The event.
    pub seq: u64,
    /// The tree's size.
    pub size: Option<u64>,
}

impl Endpoint for InclusionProof {
    type Answer = serde_json::Value;
    const PATH: &'static str = "/audit/proof/inclusion";
    params!(InclusionProof { seq: required_uint, size: uint });
    fn audited(&self) -> bool {
        true
    }
    fn run(&self, store: &Store) -> Answer<serde_json::Value> {
        let size = self.size.unwrap_or_else(|| store.last_seq());
        let mut v = audit::inclusion_json(&store.inclusion_proof(self.seq, Some(size))?);
        v["head"] = audit::head_json(&store.signed_head(Some(AsOf::Seq(size)))?, None);
        Ok(v)
    }
}

/// `GET /audit/proof/consistency?from=S1&to=S2`: that the tree of `from` events is a prefix of the
/// tree of `to` (default: every acknowledged event), with a head of the latter.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub from: u64,
    /// The later size.
    pub to: Option<u64>,
}

impl Endpoint for ConsistencyProof {
    type Answer = serde_json::Value;
    const PATH: &'static str = "/audit/proof/consistency";
    params!(ConsistencyProof { from: required_uint, to: uint });
    fn audited(&self) -> bool {
        true
    }
    fn run(&self, store: &Store) -> Answer<serde_json::Value> {
        let to = self.to.unwrap_or_else(|| store.last_seq());
        let mut v = audit::consistency_json(&store.consistency_proof(self.from, Some(to))?);
        v["head"] = audit::head_json(&store.signed_head(Some(AsOf::Seq(to)))?, None);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Params;

    #[test]
    fn a_request_reads_back_what_it_sends() {
        let t = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
        let h = History {
            name: "feature gen".into(),
            limit: 5,
            before: Some(9),
            since: Some(t),
            until: None,
            as_of: Some(AsOf::Seq(12)),
        };
        assert_eq!(History::from_request(&h.to_params(), b"").unwrap(), h);
        let r = Review { limit: 3, rank: ReviewRank::Specificity, as_of: Some(AsOf::Time(t)) };
        assert_eq!(Review::from_request(&r.to_params(), b"").unwrap(), r);
        let tr = Trace { max_depth: Some(2), proof: true, ..Trace::of("model.pkl") };
        assert_eq!(Trace::from_request(&tr.to_params(), b"").unwrap(), tr);
    }

    #[test]
    fn path_parameters_go_in_the_path_percent_encoded() {
        let h =
            History { name: "feature gen/v2".into(), limit: 10, before: None, since: None, until: None, as_of: None };
        let (path, query) = h.to_params().split_path(History::PATH);
        assert_eq!(path, "/components/feature%20gen%2Fv2/runs");
        assert_eq!(query, vec![("limit".to_string(), "10".to_string())]);
    }

    #[test]
    fn a_bad_parameter_is_named_with_what_to_send() {
        let p = Params([("limit".to_string(), "0".to_string())].into_iter().collect());
        let e = Recent::from_request(&p, b"").unwrap_err();
        assert!(matches!(&e, StoreError::Invalid { field, .. } if field == "limit"), "{e:?}");
        assert_eq!(e.to_string(), "`limit` must be at least 1");
        let e = Trace::from_request(&Params::default(), b"").unwrap_err();
        assert_eq!(e.to_string(), "the query parameter `output` is required");
    }
}
