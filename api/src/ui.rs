//! The web UI: the `ui/` folder, embedded in release builds (read from disk in debug builds, so UI
//! work needs no rebuild). Any path that is not a file gets `index.html`, so deep links such as
//! `/trace/model.pkl` open the right view.
//!
//! Caching: `index.html` is revalidated on every load (`no-cache`), so a new release shows at once;
//! other files carry an ETag and may be cached for an hour, then revalidated with a cheap 304.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../ui/"]
#[exclude = "README.md"]
#[exclude = "*.test.*"]
struct Assets;

fn file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let asset = Assets::get(path)?;
    let etag = format!(
        "\"{}\"",
        asset.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect::<String>().get(..32).unwrap_or("")
    );
    let is_index = path == "index.html";
    let cache = if is_index { "no-cache" } else { "public, max-age=3600" };
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Some(
            (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache.to_string())])
                .into_response(),
        );
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut resp = (StatusCode::OK, asset.data.into_owned()).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Some(resp)
}

/// Fallback handler: a UI file, or the UI's index for any other path.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(resp) = file(path, &headers) {
        return resp;
    }
    // A missing asset (with an extension under a known asset folder) is a real 404, not the SPA.
    let looks_like_asset = path.rsplit('/').next().is_some_and(|last| {
        last.ends_with(".js")
            || last.ends_with(".css")
            || last.ends_with(".svg")
            || last.ends_with(".png")
            || last.ends_with(".ico")
    }) && !path.contains("trace/")
        && !path.contains("downstream/");
    if looks_like_asset {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    file("index.html", &headers).unwrap_or_else(|| {
        (StatusCode::NOT_FOUND, "the web UI is not part of this build (ui/index.html is missing)").into_response()
    })
}
