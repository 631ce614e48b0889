//! The contract's endpoints, each defined once: an [`Endpoint`] is a typed request (a read in
//! [`crate::queries`], a command in [`crate::commands`]) with its method, its path, its typed answer,
//! and how a store answers it. Everything else follows from it.
//!
//! | who                     | what it does with an `Endpoint`                                          |
//! |-------------------------|---------------------------------------------------------------------------|
//! | the route (api crate)   | one generic handler: [`Endpoint::from_request`], then [`Endpoint::run`] on the blocking pool, answer JSON |
//! | [`HttpClient`](crate::HttpClient) | [`Endpoint::METHOD`] [`Endpoint::PATH`] with [`Endpoint::to_params`] and [`Endpoint::body`], then parse the answer |
//! | [`DataDir`](crate::DataDir), [`Store`] | [`Endpoint::run`] on the store (a command on the writer)  |
//! | the command line        | builds the request, [`Call::call`], prints the answer                      |
//!
//! So an endpoint is written in one place (its struct, its path and its `run`), and the copies that
//! used to be kept in step by hand (a `Backend` method per endpoint, its forwarding in each backend,
//! a route handler per endpoint) do not exist. [`Params`] is the one parser of query strings: every
//! error names the parameter and says what to send, and [`params!`](crate::params) derives both
//! directions from the field list, so the client can only send what the route reads. A command's
//! body is its serde form, read by the store's [`wire`](mltrace_store::wire) with the field of every
//! error.

use crate::{Error, Result};
use mltrace_store::model::ReviewRank;
use mltrace_store::{AsOf, RunId, Store, StoreError, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::HashMap;

/// The largest page a list answers.
pub const MAX_LIMIT: usize = 1_000;

/// An HTTP method of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A read: changes nothing.
    Get,
    /// A command that adds (`/flag`, `/components/{name}/tags`).
    Post,
    /// A command that sets (`/components/{name}`, `/runs/{id}/notes`).
    Put,
}

impl Method {
    /// `GET`, `POST`, `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// One endpoint of the contract: a request, where it is served, how it travels, and how a store
/// answers it.
pub trait Endpoint: Sized + Send + Sync + 'static {
    /// The answer, exactly the JSON of the HTTP API.
    type Answer: Serialize + DeserializeOwned + Send + 'static;
    /// The path under `/api/v1`, with `{name}` for a path parameter (filled from the parameter of
    /// that name).
    const PATH: &'static str;
    /// `GET` for a read; a command writes, so a data directory answers it on its writer.
    const METHOD: Method = Method::Get;
    /// Whether the HTTP client may send it again after a dropped connection: reads, and commands
    /// that set a value (sent twice, they leave the same state), not those that append.
    const RETRY: bool = true;
    /// Answered `201 Created` rather than `200` (a command that records something new).
    const CREATED: bool = false;
    /// Whether a data directory must answer from its log alone: an audit trusts no checkpoint,
    /// which may predate an edit of the log it vouches for.
    fn audited(&self) -> bool {
        false
    }
    /// The request's path and query parameters, as the HTTP client sends them.
    fn to_params(&self) -> Params;
    /// The JSON body, for a command.
    fn body(&self) -> Option<serde_json::Value> {
        None
    }
    /// The request from what a route received; errors name the parameter or the field.
    fn from_request(p: &Params, body: &[u8]) -> Result<Self, StoreError>;
    /// The answer of a store.
    fn run(&self, store: &Store) -> Result<Self::Answer, StoreError>;
}

/// A command's body: its serde form, a JSON object; an empty body is `{}`. Errors name the field.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, StoreError> {
    use mltrace_store::wire::{self, MapOnly, WireError};
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    match wire::parse::<MapOnly<T>>(body) {
        Ok(MapOnly(t)) => Ok(t),
        Err(WireError::Invalid(StoreError::Invalid { field, .. })) if field.is_empty() => {
            Err(StoreError::Invalid { field: "body".into(), message: "the body must be a JSON object".into() })
        }
        Err(e) => Err(e.into()),
    }
}

/// A request's parameters: the query string and the path parameters, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub HashMap<String, String>);

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid { field: field.to_string(), message: message.into() }
}

impl Params {
    /// A parameter's raw value (an empty value counts as absent).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A required text parameter.
    pub fn required(&self, key: &str) -> Result<String, StoreError> {
        self.get(key)
            .map(str::to_string)
            .ok_or_else(|| invalid(key, format!("the query parameter `{key}` is required")))
    }

    /// An optional text parameter.
    pub fn text(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(key).map(str::to_string))
    }

    /// A text parameter whose absence means the empty text (`/suggest?q=`).
    pub fn text_or_empty(&self, key: &str) -> Result<String, StoreError> {
        Ok(self.get(key).unwrap_or("").to_string())
    }

    /// An optional non-negative integer.
    pub fn uint(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| invalid(key, format!("`{key}` must be a non-negative integer, not `{v}`")))
            })
            .transpose()
    }

    /// A required non-negative integer.
    pub fn required_uint(&self, key: &str) -> Result<u64, StoreError> {
        self.uint(key)?.ok_or_else(|| invalid(key, format!("the query parameter `{key}` is required")))
    }

    /// A depth bound (`max_depth`).
    pub fn depth(&self, key: &str) -> Result<Option<u32>, StoreError> {
        self.uint(key)?.map(|d| u32::try_from(d).map_err(|_| invalid(key, format!("`{key}` is too large")))).transpose()
    }

    /// `limit`, defaulting to `default` and capped at `max`.
    pub fn limit(&self, key: &str, default: usize, max: usize) -> Result<usize, StoreError> {
        match self.uint(key)? {
            None => Ok(default),
            Some(0) => Err(invalid(key, format!("`{key}` must be at least 1"))),
            Some(n) if n > max as u64 => Err(invalid(key, format!("`{key}` is at most {max}"))),
            Some(n) => Ok(n as usize),
        }
    }

    /// `as_of`: a sequence number or a time.
    pub fn as_of(&self, key: &str) -> Result<Option<AsOf>, StoreError> {
        self.get(key).map(|v| AsOf::parse(v).map_err(|why| invalid(key, why))).transpose()
    }

    /// A time parameter (RFC 3339 or epoch milliseconds).
    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, StoreError> {
        self.get(key).map(|v| Timestamp::parse(v).map_err(|why| invalid(key, format!("`{key}`: {why}")))).transpose()
    }

    /// A run id in the query string (`before`).
    pub fn run_id(&self, key: &str) -> Result<Option<RunId>, StoreError> {
        self.get(key)
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|&id| id > 0)
                    .ok_or_else(|| invalid(key, format!("`{key}` must be a run id (a positive integer), not `{v}`")))
            })
            .transpose()
    }

    /// A run id in the path (`/runs/{id}`).
    pub fn path_run_id(&self, key: &str) -> Result<RunId, StoreError> {
        let raw = self.get(key).unwrap_or("");
        raw.parse::<u32>()
            .ok()
            .filter(|&id| id > 0)
            .ok_or_else(|| invalid(key, format!("`{raw}` is not a run id (a positive integer)")))
    }

    /// A boolean flag (`true`/`false`/`1`/`0`).
    pub fn flag(&self, key: &str) -> Result<bool, StoreError> {
        match self.get(key) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(invalid(key, format!("`{key}` must be true or false, not `{v}`"))),
        }
    }

    /// The order of a review (`count`, the default, or `specificity`).
    pub fn rank(&self, key: &str) -> Result<ReviewRank, StoreError> {
        match self.get(key) {
            None => Ok(ReviewRank::Count),
            Some(v) => ReviewRank::parse(v)
                .ok_or_else(|| invalid(key, format!("`{key}` must be count or specificity, not `{v}`"))),
        }
    }

    /// Sets a parameter when the value has one (see [`ToParam`]).
    pub fn put(&mut self, key: &str, value: &impl ToParam) {
        if let Some(v) = value.to_param() {
            self.0.insert(key.to_string(), v);
        }
    }

    /// The path of `template` (`/components/{name}/runs`) with its parameters filled in,
    /// percent-encoded, and the parameters left for the query string, in a stable order.
    pub fn split_path(&self, template: &str) -> (String, Vec<(String, String)>) {
        let mut path = String::with_capacity(template.len());
        let mut used = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            let key = &rest[open + 1..open + close];
            path.push_str(&rest[..open]);
            path.push_str(&segment(self.0.get(key).map(String::as_str).unwrap_or("")));
            used.push(key);
            rest = &rest[open + close + 1..];
        }
        path.push_str(rest);
        let mut query: Vec<_> =
            self.0.iter().filter(|(k, _)| !used.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        query.sort();
        (path, query)
    }
}

/// Percent-encodes one path segment (component names travel in the path).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request field as a parameter's text; `None` leaves the parameter out (an absent option, a
/// false flag, the default order), which the route reads as the same default.
pub trait ToParam {
    /// The text, or `None` to send nothing.
    fn to_param(&self) -> Option<String>;
}

impl ToParam for String {
    fn to_param(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl ToParam for usize {
    fn to_param(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl ToParam for u64 {
    fn to_param(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl ToParam for u32 {
    fn to_param(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl ToParam for bool {
    fn to_param(&self) -> Option<String> {
        self.then(|| "true".to_string())
    }
}

impl ToParam for Timestamp {
    fn to_param(&self) -> Option<String> {
        Some(self.to_rfc3339())
    }
}

impl ToParam for AsOf {
    fn to_param(&self) -> Option<String> {
        Some(match self {
            AsOf::Seq(s) => s.to_string(),
            AsOf::Time(t) => t.to_rfc3339(),
        })
    }
}

impl ToParam for ReviewRank {
    fn to_param(&self) -> Option<String> {
        (*self != ReviewRank::Count).then(|| self.as_str().to_string())
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn to_param(&self) -> Option<String> {
        self.as_ref().and_then(ToParam::to_param)
    }
}

/// Derives [`Endpoint::to_params`] and [`Endpoint::from_request`] of a read from its fields: each field is
/// a parameter of the same name, read by the [`Params`] method given (with its extra arguments)
/// and written by [`ToParam`].
///
/// ```ignore
/// params!(Trace { output: required, max_depth: depth, limit: limit(1_000, 100_000), as_of: as_of });
/// ```
#[macro_export]
macro_rules! params {
    ($ty:ident { $($field:ident : $read:ident $(( $($arg:expr),* ))?),* $(,)? }) => {
        fn to_params(&self) -> $crate::endpoint::Params {
            let mut p = $crate::endpoint::Params::default();
            $( p.put(stringify!($field), &self.$field); )*
            p
        }
        fn from_request(
            p: &$crate::endpoint::Params,
            _body: &[u8],
        ) -> ::std::result::Result<Self, ::mltrace_store::StoreError> {
            Ok($ty { $($field: p.$read(stringify!($field) $($(, $arg)*)?)?,)* })
        }
    };
}

/// A [`Endpoint`] with its types erased, so that a `dyn Backend` can answer any of them.
pub trait AnyEndpoint: Send + Sync {
    /// [`Endpoint::METHOD`].
    fn method(&self) -> Method;
    /// [`Endpoint::RETRY`].
    fn retry(&self) -> bool;
    /// [`Endpoint::body`].
    fn body(&self) -> Option<serde_json::Value>;
    /// [`Endpoint::audited`].
    fn audited(&self) -> bool;
    /// [`Endpoint::PATH`].
    fn path(&self) -> &'static str;
    /// [`Endpoint::to_params`].
    fn params(&self) -> Params;
    /// [`Endpoint::run`], answer boxed.
    fn run_any(&self, store: &Store) -> Result<Box<dyn Any + Send>, StoreError>;
    /// Parses the answer's JSON.
    fn decode(&self, body: &[u8]) -> Result<Box<dyn Any + Send>, serde_json::Error>;
}

impl<Q: Endpoint> AnyEndpoint for Q {
    fn method(&self) -> Method {
        Q::METHOD
    }

    fn retry(&self) -> bool {
        Q::RETRY
    }

    fn body(&self) -> Option<serde_json::Value> {
        Endpoint::body(self)
    }

    fn audited(&self) -> bool {
        Endpoint::audited(self)
    }

    fn path(&self) -> &'static str {
        Q::PATH
    }

    fn params(&self) -> Params {
        self.to_params()
    }

    fn run_any(&self, store: &Store) -> Result<Box<dyn Any + Send>, StoreError> {
        Ok(Box::new(self.run(store)?))
    }

    fn decode(&self, body: &[u8]) -> Result<Box<dyn Any + Send>, serde_json::Error> {
        Ok(Box::new(serde_json::from_slice::<Q::Answer>(body)?))
    }
}

/// The typed way to ask any [`Backend`](crate::Backend): `conn.call(&Trace { .. })`.
pub trait Call {
    /// The answer to `q`.
    fn call<Q: Endpoint>(&self, q: &Q) -> Result<Q::Answer>;
}

impl<B: crate::Backend + ?Sized> Call for B {
    fn call<Q: Endpoint>(&self, q: &Q) -> Result<Q::Answer> {
        let answer = self.ask(q)?;
        answer.downcast::<Q::Answer>().map(|a| *a).map_err(|_| Error::Protocol {
            url: self.describe(),
            message: format!("the answer to {} is not of its type", Q::PATH),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("feature gen/v2"), "feature%20gen%2Fv2");
        assert_eq!(segment("clean_2.x~"), "clean_2.x~");
        assert_eq!(segment("été"), "%C3%A9t%C3%A9");
    }
}
