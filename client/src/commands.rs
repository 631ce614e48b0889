//! Every command of the contract that changes components, notes or flags, each defined once: its
//! request (path parameters, and a body that is its serde form), its path and method, its answer,
//! and what the store does. Runs (`POST /runs`), restores (`POST /events`) and OpenLineage events
//! have paths of their own ([`Backend`](crate::Backend)), since they batch, stream or coalesce.
//!
//! A command checks what the store does not (a tag list that is empty, `outputs` beside `all`) in
//! [`Endpoint::run`], so a data directory refuses what the server refuses.

use crate::endpoint::{Endpoint, Method, Params, json_body};
use mltrace_store::model::{ComponentView, Logged, RunDetail};
use mltrace_store::wire;
use mltrace_store::{RunId, Store, StoreError};
use serde::{Deserialize, Serialize};

type Answer<T> = Result<T, StoreError>;

/// The body of a command as its serde form.
fn body_of(command: &impl Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(command).ok()
}

fn invalid(field: &str, message: &str) -> StoreError {
    StoreError::Invalid { field: field.into(), message: message.into() }
}

/// The path parameter `key`.
fn path(key: &str, value: impl ToString) -> Params {
    Params([(key.to_string(), value.to_string())].into_iter().collect())
}

/// `{"runs": [...]}`: what `POST /runs` answers, one entry per run sent, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedRuns {
    /// Id, seq, dependencies and staleness of each run.
    pub runs: Vec<Logged>,
}

/// `PUT /components/{name}`: registers a component (created when new): description and owner
/// replaced, tags added.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Register {
    /// The component (in the path).
    #[serde(skip)]
    pub name: String,
    /// What it does.
    #[serde(default, deserialize_with = "wire::text_or_empty")]
    pub description: String,
    /// Who answers for it.
    #[serde(default, deserialize_with = "wire::text_or_empty")]
    pub owner: String,
    /// Tags to add.
    #[serde(default, deserialize_with = "wire::string_list")]
    pub tags: Vec<String>,
}

impl Endpoint for Register {
    type Answer = ComponentView;
    const PATH: &'static str = "/components/{name}";
    const METHOD: Method = Method::Put;
    fn to_params(&self) -> Params {
        path("name", &self.name)
    }
    fn body(&self) -> Option<serde_json::Value> {
        body_of(self)
    }
    fn from_request(p: &Params, body: &[u8]) -> Answer<Self> {
        Ok(Register { name: p.required("name")?, ..json_body(body)? })
    }
    fn run(&self, store: &Store) -> Answer<ComponentView> {
        store.register_component(&self.name, &self.description, &self.owner, &self.tags)
    }
}

/// `POST /components/{name}/tags`: adds tags to a component that exists (tagging never creates
/// one: a misspelt name is `not_found`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// The component (in the path).
    #[serde(skip)]
    pub name: String,
    /// Tags to add (at least one).
    #[serde(default, deserialize_with = "wire::string_list")]
    pub tags: Vec<String>,
}

impl Endpoint for Tag {
    type Answer = ComponentView;
    const PATH: &'static str = "/components/{name}/tags";
    const METHOD: Method = Method::Post;
    fn to_params(&self) -> Params {
        path("name", &self.name)
    }
    fn body(&self) -> Option<serde_json::Value> {
        body_of(self)
    }
    fn from_request(p: &Params, body: &[u8]) -> Answer<Self> {
        Ok(Tag { name: p.required("name")?, ..json_body(body)? })
    }
    fn run(&self, store: &Store) -> Answer<ComponentView> {
        if self.tags.is_empty() {
            return Err(invalid("tags", "tags is empty: give at least one tag to add"));
        }
        store.tag_component(&self.name, &self.tags)
    }
}

/// `PUT /runs/{id}/notes`: replaces a run's notes (`""` clears them); answers the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Notes {
    /// The run (in the path).
    #[serde(skip)]
    pub id: RunId,
    /// The new notes.
    #[serde(deserialize_with = "wire::required_text")]
    pub notes: String,
}

impl Endpoint for Notes {
    type Answer = RunDetail;
    const PATH: &'static str = "/runs/{id}/notes";
    const METHOD: Method = Method::Put;
    fn to_params(&self) -> Params {
        path("id", self.id)
    }
    fn body(&self) -> Option<serde_json::Value> {
        body_of(self)
    }
    fn from_request(p: &Params, body: &[u8]) -> Answer<Self> {
        let id = p.path_run_id("id")?;
        Ok(Notes { id, ..json_body(body)? })
    }
    fn run(&self, store: &Store) -> Answer<RunDetail> {
        store.set_notes(self.id, &self.notes)?;
        store.reader(None).run(self.id).map_err(|e| match e {
            // The run was there a moment ago, when the notes were set.
            StoreError::NotFound { .. } => {
                StoreError::Unavailable("the notes were saved but the run could not be read back".into())
            }
            other => other,
        })
    }
}

/// `POST /flag`: flags outputs for review (every name must be known, or nothing is flagged).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// The outputs.
    #[serde(default, deserialize_with = "wire::string_list")]
    pub outputs: Vec<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who.
    #[serde(default)]
    pub by: Option<String>,
}

/// `{"flagged": [names]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flagged {
    /// The outputs now flagged.
    pub flagged: Vec<String>,
}

impl Endpoint for Flag {
    type Answer = Flagged;
    const PATH: &'static str = "/flag";
    const METHOD: Method = Method::Post;
    // A flag sent twice records two flag events: never sent again on its own.
    const RETRY: bool = false;
    fn to_params(&self) -> Params {
        Params::default()
    }
    fn body(&self) -> Option<serde_json::Value> {
        body_of(self)
    }
    fn from_request(_: &Params, body: &[u8]) -> Answer<Self> {
        json_body(body)
    }
    fn run(&self, store: &Store) -> Answer<Flagged> {
        Ok(Flagged { flagged: store.flag(&self.outputs, self.reason.as_deref(), self.by.as_deref())? })
    }
}

/// `POST /unflag`: unflags the named outputs, or everything (`{"all": true}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unflag {
    /// The outputs.
    #[serde(default, deserialize_with = "wire::string_list", skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Everything that is flagged.
    #[serde(default, deserialize_with = "wire::false_unless_true", skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// `{"unflagged": [names]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unflagged {
    /// The outputs that were flagged.
    pub unflagged: Vec<String>,
}

impl Endpoint for Unflag {
    type Answer = Unflagged;
    const PATH: &'static str = "/unflag";
    const METHOD: Method = Method::Post;
    const RETRY: bool = false;
    fn to_params(&self) -> Params {
        Params::default()
    }
    fn body(&self) -> Option<serde_json::Value> {
        body_of(self)
    }
    fn from_request(_: &Params, body: &[u8]) -> Answer<Self> {
        json_body(body)
    }
    fn run(&self, store: &Store) -> Answer<Unflagged> {
        let unflagged = match (self.all, self.outputs.is_empty()) {
            (true, false) => return Err(invalid("all", "give either outputs or all, not both")),
            (true, true) => store.unflag_all()?,
            (false, _) => store.unflag(&self.outputs)?,
        };
        Ok(Unflagged { unflagged })
    }
}

/// `POST /audit/head`: signs the tree of every event and writes the head to the log; answers it
/// with the seq of its event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordHead;

impl Endpoint for RecordHead {
    type Answer = serde_json::Value;
    const PATH: &'static str = "/audit/head";
    const METHOD: Method = Method::Post;
    // Sent twice it records two heads.
    const RETRY: bool = false;
    const CREATED: bool = true;
    fn to_params(&self) -> Params {
        Params::default()
    }
    fn from_request(_: &Params, _: &[u8]) -> Answer<Self> {
        Ok(RecordHead)
    }
    fn run(&self, store: &Store) -> Answer<serde_json::Value> {
        let (seq, head) = store.record_head()?;
        Ok(mltrace_store::audit::head_json(&head, Some(seq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_reads_back_what_the_client_sends() {
        let r =
            Register { name: "feature gen".into(), description: "d".into(), owner: "o".into(), tags: vec!["t".into()] };
        let body = serde_json::to_vec(&r.body()).unwrap();
        assert_eq!(Register::from_request(&r.to_params(), &body).unwrap(), r);
        let u = Unflag { outputs: Vec::new(), all: true };
        let body = serde_json::to_vec(&u.body()).unwrap();
        assert_eq!(body, br#"{"all":true}"#);
        assert_eq!(Unflag::from_request(&Params::default(), &body).unwrap(), u);
    }

    #[test]
    fn a_bad_body_names_the_field() {
        let field = |r: Answer<Flag>| match r {
            Err(StoreError::Invalid { field, message }) => (field, message),
            other => panic!("{other:?}"),
        };
        let p = Params::default();
        assert_eq!(field(Flag::from_request(&p, br#"{"outputs": ["a", 3]}"#)).0, "outputs[1]");
        assert_eq!(field(Flag::from_request(&p, br#"{"outputs": "a"}"#)).1, "outputs must be a list of strings");
        assert_eq!(field(Flag::from_request(&p, br#"{"reason": 1}"#)).1, "reason must be a string");
        assert_eq!(field(Flag::from_request(&p, b"[1]")).0, "body");
        assert_eq!(field(Flag::from_request(&p, b"{nope")).0, "body");
        let e = Unflag::from_request(&p, br#"{"all": "yes"}"#).unwrap_err();
        assert_eq!(e.to_string(), "all must be true or false");
        let e = Notes::from_request(&path("id", 3), b"{}").unwrap_err();
        assert_eq!(e.to_string(), "notes is required");
    }
}
