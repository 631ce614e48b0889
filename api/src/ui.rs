//! The web UI: the `ui/` folder, embedded in release builds (read from disk in debug builds, so UI
//! work needs no rebuild). Any non-API path that is not a file gets `index.html`, so deep links
//! such as `/trace/model.pkl` or `/output/loss.png` open the right view.
//!
//! Caching: `index.html` is revalidated on every load and names its scripts and styles under
//! `/v/<content hash>/...`; the modules they import resolve relatively under the same prefix. Those
//! versioned URLs are cached for a year (`immutable`): a new release changes the hash, so a browser
//! never pairs a new page with old modules. Unversioned paths are served too, revalidated by ETag.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use std::fmt::Write;

#[derive(RustEmbed)]
#[folder = "../ui/"]
#[exclude = "README.md"]
#[exclude = "*.test.*"]
struct Assets;

const VERSIONED: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// A hash of every embedded file: changes whenever any of them does.
fn build_hash() -> String {
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    let mut h = crc32fast::Hasher::new();
    for name in names {
        if let Some(f) = Assets::get(&name) {
            h.update(name.as_bytes());
            h.update(&f.metadata.sha256_hash());
        }
    }
    format!("{:08x}", h.finalize())
}

fn etag_of(hash: &[u8; 32]) -> String {
    let mut s = String::with_capacity(34);
    s.push('"');
    for b in &hash[..16] {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
    s
}

fn respond(body: Vec<u8>, path: &str, etag: &str, cache: &'static str, headers: &HeaderMap) -> Response {
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(etag) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        return resp;
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

/// `index.html`, with its top-level assets pointed at the versioned prefix.
fn index(headers: &HeaderMap) -> Option<Response> {
    let page = Assets::get("index.html")?;
    let version = build_hash();
    let mut html = String::from_utf8_lossy(&page.data).into_owned();
    for name in Assets::iter() {
        if name == "index.html" {
            continue;
        }
        for attr in ["src", "href"] {
            html = html.replace(&format!("{attr}=\"/{name}\""), &format!("{attr}=\"/v/{version}/{name}\""));
        }
    }
    let etag = format!("\"{version}\"");
    Some(respond(html.into_bytes(), "index.html", &etag, REVALIDATE, headers))
}

/// Fallback handler: a UI file, or the UI's index for any other path.
pub async fn serve(method: axum::http::Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        let mut r = crate::error::ApiError::method_not_allowed().into_response();
        r.headers_mut().insert(axum::http::header::ALLOW, axum::http::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = uri.path().trim_start_matches('/');
    let (path, cache) = match path.strip_prefix("v/").and_then(|rest| rest.split_once('/')) {
        Some((version, rest)) if version == build_hash() => (rest, VERSIONED),
        Some((_, rest)) => (rest, REVALIDATE),
        None => (path, REVALIDATE),
    };
    if !path.is_empty()
        && path != "index.html"
        && let Some(asset) = Assets::get(path)
    {
        let etag = etag_of(&asset.metadata.sha256_hash());
        return respond(asset.data.into_owned(), path, &etag, cache, &headers);
    }
    index(&headers).unwrap_or_else(|| {
        (StatusCode::NOT_FOUND, "the web UI is not part of this build (ui/index.html is missing)").into_response()
    })
}
