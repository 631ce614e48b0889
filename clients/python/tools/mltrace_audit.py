#!/usr/bin/env python3
"""An independent verifier of mltrace's audit proofs.

It shares no code with mltrace: the Python standard library, plus the
``cryptography`` package for Ed25519. It checks

* a signed tree head: the Ed25519 signature over RFC 6962's TreeHeadSignature
  bytes (version 0, signature type 1, timestamp ms u64 BE, tree size u64 BE,
  root hash);
* an inclusion proof: the leaf is recomputed from the event's stored bytes as
  SHA-256(0x00 || bytes) and its audit path must lead to the head's root
  (RFC 9162, 2.1.3.2);
* a consistency proof between a head saved earlier and a later one
  (RFC 9162, 2.1.4.2).

Usage::

    mltrace_audit.py head HEAD.json [--key B64]
    mltrace_audit.py inclusion PROOF.json [--key B64]     # /audit/proof/inclusion, or runs/{id}?proof=true
    mltrace_audit.py consistency OLD_HEAD.json PROOF.json [--key B64]
    mltrace_audit.py check HEADS.ndjson --server URL [--token T] [--key B64]

Exit status: 0 when everything holds, 1 when something does not (the message
says what and where), 2 for bad usage.
"""

import argparse
import base64
import hashlib
import json
import struct
import sys
import urllib.parse
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Mismatch(Exception):
    """Something that was signed or proved does not hold."""


def b64(text):
    return base64.b64decode(text, validate=True)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def signed_message(size, timestamp, root):
    return struct.pack(">BBQQ", 0, 1, timestamp, size) + root


def check_head(head, key=None):
    """Checks a head's signature; answers (size, root, public key)."""
    size, root, public = int(head["size"]), b64(head["root"]), b64(head["public_key"])
    if key is not None and public != key:
        raise Mismatch("the head is signed by the key %s, not %s"
                       % (head["public_key"], base64.b64encode(key).decode()))
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            b64(head["signature"]), signed_message(size, int(head["timestamp"]), root))
    except InvalidSignature:
        raise Mismatch("the signature of the head of size %d does not verify" % size) from None
    return size, root, public


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162 2.1.3.2: the root that the audit path leads to, or None."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(first, second, first_root, second_root, path):
    """RFC 9162 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == hashlib.sha256(b"").digest()
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def check_inclusion(proof, head, key=None):
    """Checks one event's proof against a head (both as the server's JSON)."""
    size, root, _ = check_head(head, key)
    seq, psize = int(proof["seq"]), int(proof["size"])
    if psize != size:
        raise Mismatch("the proof of seq %d is for a tree of %d events, the head for %d" % (seq, psize, size))
    leaf = leaf_hash(b64(proof["event"]))
    if root_from_inclusion(seq - 1, size, leaf, [b64(h) for h in proof["path"]]) != root:
        raise Mismatch("event seq %d is not in the signed tree of %d events as these bytes" % (seq, size))
    return seq


def check_evidence(doc, key=None):
    """An inclusion answer (``head`` beside the proof) or a ``proof=true`` answer (``proof.head``
    and ``proof.events``); answers the seqs proven."""
    if "proof" in doc:
        return [check_inclusion(p, doc["proof"]["head"], key) for p in doc["proof"]["events"]]
    return [check_inclusion(doc, doc["head"], key)]


def check_consistency(old_head, proof, key=None):
    """Checks that ``old_head`` (saved earlier) is a prefix of ``proof['head']``."""
    old_size, old_root, old_key = check_head(old_head, key)
    new_size, new_root, _ = check_head(proof["head"], key or old_key)
    if int(proof["from"]) != old_size or int(proof["to"]) != new_size:
        raise Mismatch("the proof is from %s to %s, not from %d to %d"
                       % (proof["from"], proof["to"], old_size, new_size))
    if not consistent(old_size, new_size, old_root, new_root, [b64(h) for h in proof["path"]]):
        raise Mismatch("the log of %d events is not an extension of the saved head of %d events: "
                       "an event among seq 1..=%d was changed, removed or reordered" % (new_size, old_size, old_size))
    return old_size, new_size


def fetch(server, path, token=None):
    req = urllib.request.Request(server.rstrip("/") + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def read_heads(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
        heads = doc if isinstance(doc, list) else [doc]
    except ValueError:
        heads = [json.loads(line) for line in text.splitlines() if line.strip()]
    return sorted(heads, key=lambda h: int(h["size"]))


def check_server(heads, server, token=None, key=None):
    """The auditor's check: every saved head against the server's log today."""
    key = key or b64(heads[0]["public_key"])
    latest = fetch(server, "/api/v1/audit/head", token)
    try:
        check_head(latest, key)
    except Mismatch as e:
        raise Mismatch("the server's latest head does not verify with the saved key (swapped?): %s" % e) from None
    good = 0
    for i, h in enumerate(heads, 1):
        size = int(h["size"])
        if size > int(latest["size"]):
            raise Mismatch("saved head %d (size %d): the log now has only %s events" % (i, size, latest["size"]))
        q = urllib.parse.urlencode({"from": size, "to": latest["size"]})
        proof = fetch(server, "/api/v1/audit/proof/consistency?" + q, token)
        proof["head"] = latest
        try:
            check_consistency(h, proof, key)
        except Mismatch:
            raise Mismatch("saved head %d (size %d) does not match the log: an event among seq %d..=%d was "
                           "changed, removed or reordered" % (i, size, good + 1, size)) from None
        good = size
    return int(latest["size"])


def main(argv=None):
    ap = argparse.ArgumentParser(description="Verify mltrace signed tree heads and proofs.")
    ap.add_argument("--key", help="the public key (base64) the heads must be signed with")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("head").add_argument("head")
    sub.add_parser("inclusion").add_argument("proof")
    c = sub.add_parser("consistency")
    c.add_argument("old_head")
    c.add_argument("proof")
    k = sub.add_parser("check")
    k.add_argument("heads")
    k.add_argument("--server", required=True)
    k.add_argument("--token")
    a = ap.parse_args(argv)
    key = b64(a.key) if a.key else None

    def load(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    try:
        if a.cmd == "head":
            size, root, _ = check_head(load(a.head), key)
            print("ok: a signed head of %d events, root %s" % (size, base64.b64encode(root).decode()))
        elif a.cmd == "inclusion":
            seqs = check_evidence(load(a.proof), key)
            print("ok: event seq %s in the signed tree, unchanged" % ", ".join(map(str, seqs)))
        elif a.cmd == "consistency":
            old, new = check_consistency(load(a.old_head), load(a.proof), key)
            print("ok: the log of %d events extends the saved head of %d" % (new, old))
        else:
            heads = read_heads(a.heads)
            size = check_server(heads, a.server, a.token, key)
            print("ok: %d saved heads are consistent with the log of %d events" % (len(heads), size))
    except Mismatch as e:
        print("mismatch: %s" % e, file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError) as e:
        print("bad input: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
