//! Query parameters, parsed by hand so that every error names the parameter and says what to send.

use crate::error::{ApiError, ApiResult};
use mltrace_store::{AsOf, Timestamp};
use std::collections::HashMap;

/// The largest page a list answers.
pub const MAX_LIMIT: usize = 1_000;

/// A request's query parameters.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// A parameter's raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A required text parameter.
    pub fn required(&self, key: &str) -> ApiResult<&str> {
        self.get(key).ok_or_else(|| ApiError::invalid(key, format!("the query parameter `{key}` is required")))
    }

    /// An optional non-negative integer.
    pub fn uint(&self, key: &str) -> ApiResult<Option<u64>> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::invalid(key, format!("`{key}` must be a non-negative integer, not `{v}`")))
            })
            .transpose()
    }

    /// `limit`, defaulting to `default` and capped at `max`.
    pub fn limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        match self.uint("limit")? {
            None => Ok(default),
            Some(0) => Err(ApiError::invalid("limit", "`limit` must be at least 1")),
            Some(n) if n as usize > max => Err(ApiError::invalid("limit", format!("`limit` is at most {max}"))),
            Some(n) => Ok(n as usize),
        }
    }

    /// `as_of`: a sequence number or a time.
    pub fn as_of(&self) -> ApiResult<Option<AsOf>> {
        self.get("as_of").map(|v| AsOf::parse(v).map_err(|why| ApiError::invalid("as_of", why))).transpose()
    }

    /// A time parameter (RFC 3339 or epoch milliseconds).
    pub fn time(&self, key: &str) -> ApiResult<Option<Timestamp>> {
        self.get(key)
            .map(|v| Timestamp::parse(v).map_err(|why| ApiError::invalid(key, format!("`{key}`: {why}"))))
            .transpose()
    }

    /// A run id parameter (`before`).
    pub fn run_id(&self, key: &str) -> ApiResult<Option<u32>> {
        self.get(key)
            .map(|v| {
                v.parse::<u32>().ok().filter(|&id| id > 0).ok_or_else(|| {
                    ApiError::invalid(key, format!("`{key}` must be a run id (a positive integer), not `{v}`"))
                })
            })
            .transpose()
    }

    /// A boolean flag (`true`/`false`/`1`/`0`).
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(ApiError::invalid(key, format!("`{key}` must be true or false, not `{v}`"))),
        }
    }
}
