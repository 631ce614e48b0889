//! Audit-grade history, end to end: the real server and the `mltrace` binary on a data directory
//! that is then tampered with the way someone who can write the directory would (fixing checksums
//! as they go). Each kind of tampering must be caught twice: by `mltrace verify`, from the heads and
//! checkpoint in the directory itself, and by `mltrace audit check` against heads an auditor saved
//! earlier; both must say where.

use mltrace_tests::{Server, binary};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const HEADER_LEN: usize = 32;
const FRAME_LEN: usize = 12;

fn run(component: &str, output: &str) -> Value {
    let t = "2026-11-20T00:00:00Z";
    json!({"component": component, "start": t, "end": t, "outputs": [output]})
}

/// The log the tests tamper with, and the heads an auditor saved while it was written:
///
/// | seq   | event                       | batch |
/// |-------|-----------------------------|-------|
/// | 1..=3 | runs 1-3                    | one   |
/// | 4     | tree head (A saved: size 3) |       |
/// | 5     | notes of run 1: "first"     | own   |
/// | 6     | notes of run 2: "second"    | own   |
/// | 7     | flag o1                     | own   |
/// | 8     | tree head (B saved: size 7) |       |
/// | 9..10 | runs 4-5                    | one   |
/// | 11    | tree head (C saved: size 10)|       |
///
/// The server stops cleanly, so a checkpoint of all 11 events is left too.
struct Scene {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    heads: PathBuf,
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let s = Server::start(&data, &["--fsync", "never"]);
    let mut saved = String::new();
    let mut save = |s: &Server| {
        let (st, h) = s.send("POST", "/api/v1/audit/head", &json!({}));
        assert_eq!(st, 201, "{h}");
        // The auditor keeps the head as served (GET), not the event: the same statement.
        let (st, got) = s.get(&format!("/api/v1/audit/head?as_of={}", h["size"]));
        assert_eq!(st, 200);
        assert_eq!((got["size"].clone(), got["root"].clone()), (h["size"].clone(), h["root"].clone()));
        saved.push_str(&format!("{got}\n"));
    };
    let (st, v) = s.send("POST", "/api/v1/runs", &json!({"runs": [run("a", "o1"), run("b", "o2"), run("c", "o3")]}));
    assert_eq!(st, 201, "{v}");
    save(&s);
    assert_eq!(s.send("PUT", "/api/v1/runs/1/notes", &json!({"notes": "first"})).0, 200);
    assert_eq!(s.send("PUT", "/api/v1/runs/2/notes", &json!({"notes": "second"})).0, 200);
    assert_eq!(s.send("POST", "/api/v1/flag", &json!({"outputs": ["o1"]})).0, 200);
    save(&s);
    assert_eq!(s.send("POST", "/api/v1/runs", &json!({"runs": [run("d", "o4"), run("e", "o5")]})).0, 201);
    save(&s);
    assert!(s.terminate().success());
    let heads = tmp.path().join("heads.ndjson");
    std::fs::write(&heads, saved).expect("heads");
    Scene { _tmp: tmp, data, heads }
}

fn mltrace(args: &[&str], data: &Path) -> (i32, String) {
    let out = Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("MLTRACE_SERVER")
        .env("NO_COLOR", "1")
        .output()
        .expect("run mltrace");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn verify(s: &Scene) -> (i32, String) {
    mltrace(&["verify"], &s.data)
}

fn check(s: &Scene) -> (i32, String) {
    mltrace(&["audit", "check", s.heads.to_str().expect("utf-8 path")], &s.data)
}

fn segment(s: &Scene) -> PathBuf {
    s.data.join("log").join("00000001.seg")
}

/// The records of a segment: (offset, payload), in order.
fn records(buf: &[u8]) -> Vec<(usize, Vec<u8>, u8)> {
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while at + FRAME_LEN <= buf.len() {
        let len = u32::from_le_bytes(buf[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        out.push((at, buf[at + FRAME_LEN..at + FRAME_LEN + len].to_vec(), buf[at + 8]));
        at += FRAME_LEN + len;
    }
    out
}

/// Writes records back: each framed with its flags and a correct checksum, so that every
/// record-level check passes. A payload's first byte is its seq (bincode varint, below 251).
fn write_records(path: &Path, header: &[u8], recs: &[(Vec<u8>, u8)]) {
    let mut out = header.to_vec();
    for (payload, flags) in recs {
        let start = out.len();
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&[*flags, 0, 0, 0]);
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(path, out).expect("write the segment");
}

/// An attacker who rewrites the log also removes the checkpoint, whose record of each segment's
/// length and checksum would stop the store from opening the rewritten log at all (and `verify`
/// would report that instead): the audit tree and the saved heads must catch the edit on their own.
fn erase_traces(s: &Scene) {
    let _ = std::fs::remove_file(s.data.join("checkpoint"));
}

fn tamper(s: &Scene, f: impl FnOnce(&mut Vec<(Vec<u8>, u8)>)) {
    let buf = std::fs::read(segment(s)).expect("read the segment");
    let mut recs: Vec<(Vec<u8>, u8)> = records(&buf).into_iter().map(|(_, p, fl)| (p, fl)).collect();
    assert_eq!(recs.len(), 11);
    f(&mut recs);
    for (i, (p, _)) in recs.iter_mut().enumerate() {
        p[0] = i as u8 + 1;
    }
    write_records(&segment(s), &buf[..HEADER_LEN], &recs);
}

fn assert_caught(what: &str, got: (i32, String), names: &[&str]) {
    assert_eq!(got.0, 1, "{what}: exit 1 expected, got {}: {}", got.0, got.1);
    for n in names {
        assert!(got.1.contains(n), "{what}: the message should name `{n}`: {}", got.1);
    }
}

#[test]
fn an_untouched_log_passes_verify_and_the_check_against_saved_heads() {
    let s = scene();
    let (code, out) = verify(&s);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 signed tree heads match"), "{out}");
    let (code, out) = check(&s);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("all 3 saved heads are consistent with today's log of 11 events"), "{out}");
}

#[test]
fn an_edited_byte_with_a_fixed_checksum_is_caught() {
    let s = scene();
    tamper(&s, |recs| {
        let p = &mut recs[5].0;
        let at = p.windows(6).position(|w| w == b"second").expect("the notes text");
        p[at] = b'S';
    });
    // The record-level check alone is fooled: checksums and structure are all right.
    assert!(mltrace_records_ok(&s), "the tampering keeps every checksum valid");
    assert_caught("verify", verify(&s), &["event seq 6 differs"]);
    assert_caught("check", check(&s), &["saved head 2 (size 7)", "seq 4..=7"]);
}

/// Every record's checksum and the seq chain still hold (what verify checked before the tree).
fn mltrace_records_ok(s: &Scene) -> bool {
    let buf = std::fs::read(segment(s)).expect("segment");
    records(&buf).iter().all(|(at, p, _)| {
        let len = p.len();
        crc32fast::hash(&buf[at + 4..at + FRAME_LEN + len]).to_le_bytes() == buf[*at..at + 4]
    })
}

#[test]
fn a_deleted_and_renumbered_event_is_caught() {
    let s = scene();
    let buf = std::fs::read(segment(&s)).expect("segment");
    let mut recs: Vec<(Vec<u8>, u8)> = records(&buf).into_iter().map(|(_, p, fl)| (p, fl)).collect();
    erase_traces(&s);
    recs.remove(4);
    for (i, (p, _)) in recs.iter_mut().enumerate() {
        p[0] = i as u8 + 1;
    }
    write_records(&segment(&s), &buf[..HEADER_LEN], &recs);
    assert_caught("verify", verify(&s), &["seq 7", "seq 4..=7"]);
    assert_caught("check", check(&s), &["saved head 2 (size 7)", "seq 4..=7"]);
}

#[test]
fn two_reordered_batches_are_caught() {
    let s = scene();
    tamper(&s, |recs| recs.swap(4, 5));
    assert_caught("verify", verify(&s), &["event seq 5 differs"]);
    assert_caught("check", check(&s), &["saved head 2 (size 7)", "seq 4..=7"]);
}

#[test]
fn a_truncated_log_with_different_events_appended_is_caught() {
    let s = scene();
    let buf = std::fs::read(segment(&s)).expect("segment");
    let recs = records(&buf);
    // Cut just before the head at seq 8: the store itself refuses to write on top of the cut (its
    // checkpoint knew events up to seq 11), and verify says where.
    std::fs::write(segment(&s), &buf[..recs[7].0]).expect("truncate");
    let (code, out) = mltrace(&["log", "--component", "forged", "--output", "forged-x"], &s.data);
    assert_eq!(code, 1, "a write on top of a cut log must be refused: {out}");
    assert_caught("verify", verify(&s), &["checkpoint holds events up to seq 11"]);
    // An attacker who also removes the checkpoint can log four other events in the cut's place,
    // and the directory alone no longer shows it (its heads after seq 7 went with the cut): the
    // heads an auditor saved elsewhere do.
    erase_traces(&s);
    for i in 0..4 {
        let (code, out) = mltrace(&["log", "--component", "forged", "--output", &format!("forged-{i}")], &s.data);
        assert_eq!(code, 0, "{out}");
    }
    assert_caught("check", check(&s), &["saved head 3 (size 10)", "seq 8..=10"]);
}

#[test]
fn a_swapped_signing_key_is_caught() {
    let s = scene();
    let key = s.data.join("audit").join("signing-key");
    std::fs::write(&key, [42u8; 32]).expect("a new key");
    let (code, out) = mltrace(&["audit", "head", "--record"], &s.data);
    assert_eq!(code, 0, "{out}");
    assert_caught("verify", verify(&s), &["tree head at seq 4", "not this data directory's key"]);
    // With the key pinned, the new head is the one that does not match.
    let pinned = {
        let (_, out) = mltrace(&["audit", "head", "--as-of", "3"], &s.data);
        let v: Value = serde_json::from_str(out.trim()).expect("a head");
        v["public_key"].as_str().map(str::to_string).expect("a key")
    };
    let first_line = std::fs::read_to_string(&s.heads).expect("heads");
    let saved: Value = serde_json::from_str(first_line.lines().next().expect("a head")).expect("json");
    assert_ne!(pinned, saved["public_key"].as_str().unwrap_or(""), "the directory signs with the new key now");
    let old = saved["public_key"].as_str().expect("the saved key");
    assert_caught("verify --key", mltrace(&["verify", "--key", old], &s.data), &["tree head at seq 12"]);
    assert_caught("check", check(&s), &["signing key was swapped"]);
}

#[test]
fn proofs_over_http_check_out_and_bad_asks_name_their_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = Server::start(tmp.path(), &["--fsync", "never"]);
    let (st, _) = s.send("POST", "/api/v1/runs", &json!({"runs": [run("a", "o1"), run("b", "o2")]}));
    assert_eq!(st, 201);
    let (st, key) = s.get("/api/v1/audit/key");
    assert_eq!((st, key["algorithm"].as_str()), (200, Some("ed25519")));
    let (st, v) = s.get("/api/v1/runs/2?proof=true");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["proof"]["head"]["size"], 2);
    assert_eq!(v["proof"]["head"]["public_key"], key["public_key"]);
    assert_eq!(v["proof"]["events"][0]["seq"], 2);
    let (st, v) = s.get("/api/v1/trace?output=o1&proof=true");
    assert_eq!((st, v["proof"]["events"].as_array().map(Vec::len)), (200, Some(1)));
    for (path, field) in [
        ("/api/v1/audit/proof/inclusion?seq=3&size=2", "seq"),
        ("/api/v1/audit/proof/inclusion?seq=1&size=9", "size"),
        ("/api/v1/audit/proof/inclusion", "seq"),
        ("/api/v1/audit/proof/inclusion?seq=x", "seq"),
        ("/api/v1/audit/proof/consistency?from=2&to=1", "from"),
        ("/api/v1/audit/proof/consistency?from=1&to=5", "to"),
        ("/api/v1/audit/head?as_of=yesterday", "as_of"),
    ] {
        let (st, e) = s.get(path);
        assert_eq!(st, 400, "{path}: {e}");
        assert_eq!(e["error"]["field"], field, "{path}: {e}");
    }
    let (_, stats) = s.get("/api/v1/stats");
    assert_eq!(stats["events"], 2, "a rejected ask writes nothing");
    let (st, c) = s.get("/api/v1/audit/proof/consistency?from=1&to=2");
    assert_eq!(st, 200);
    assert_eq!(c["path"].as_array().map(Vec::len), Some(1));
}

#[test]
fn prove_checks_a_runs_evidence_and_prints_it_as_json() {
    let s = scene();
    let (code, out) = mltrace(&["audit", "prove", "2"], &s.data);
    assert_eq!(code, 0, "{out}");
    // Run 2's own event (seq 2) and the event that set its notes (seq 6).
    assert!(
        out.contains("run 2: 2 checked") && out.contains("event seq 2 is leaf 1") && out.contains("event seq 6"),
        "{out}"
    );
    let (code, out) = mltrace(&["audit", "prove", "2", "--json", "--as-of", "5"], &s.data);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON document");
    assert_eq!(v["proof"]["head"]["size"], 5, "as of seq 5");
    assert_eq!(v["proof"]["events"].as_array().map(Vec::len), Some(1), "the notes came later");
    let (code, out) = mltrace(&["audit", "prove", "99"], &s.data);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn bad_head_files_and_keys_are_usage_errors() {
    let s = scene();
    std::fs::write(&s.heads, "not json\n").expect("write");
    let (code, out) = check(&s);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 1"), "{out}");
    std::fs::write(&s.heads, "{\"size\": 3}\n").expect("write");
    let (code, out) = check(&s);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("head 1: the head has no"), "{out}");
    let (code, out) = mltrace(&["audit", "check", "/nonexistent/heads", "--key", "!!"], &s.data);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn a_signing_key_given_in_a_file_signs_the_heads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = tmp.path().join("key");
    std::fs::write(&key, [9u8; 32]).expect("key");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    let s = Server::start(&data, &["--fsync", "never", "--signing-key", key.to_str().expect("utf-8")]);
    let (st, v) = s.send("POST", "/api/v1/audit/head", &json!({}));
    assert_eq!(st, 201, "{v}");
    let (_, k) = s.get("/api/v1/audit/key");
    assert_eq!(v["public_key"], k["public_key"]);
    assert!(!data.join("audit").join("signing-key").exists(), "no key of its own is created");
}
