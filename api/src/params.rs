//! Query parameters: one parser, [`Params`], shared with the client crate, where every read's
//! request is defined (`mltrace_client::queries`); every error names the parameter.

pub use mltrace_client::endpoint::{MAX_LIMIT, Params};
