#!/usr/bin/env python3
"""Writes src/data/*.rs from the BIP texts and vector files of bitcoin/bips.

    python3 tools/extract.py BIPS_CHECKOUT COMMIT

BIPS_CHECKOUT is a checkout of https://github.com/bitcoin/bips at COMMIT (the
files read: bip-0143.mediawiki, bip-0174.mediawiki, bip-0340/test-vectors.csv,
bip-0341/wallet-test-vectors.json). The output is committed: nothing reads
outside this repository at build or test time.

BIP-141 and BIP-144 publish no vector file. Their cases use the segwit
transactions the BIPs publish (BIP-143's signed examples, BIP-341's fully
signed transaction); the expected sizes, weights, txids, wtxids and legacy
serializations are computed here, by this script's own transaction parser and
Python's hashlib, independently of the module under test.
"""

import csv
import hashlib
import json
import re
import sys
from pathlib import Path


def sha256d(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def rust_str(s):
    return json.dumps(s)


class Tx:
    """Just enough of a transaction parser for sizes and ids."""

    def __init__(self, raw):
        self.raw = raw
        pos = 0

        def take(n):
            nonlocal pos
            out = raw[pos:pos + n]
            assert len(out) == n, "truncated"
            pos += n
            return out

        def cs():
            b = take(1)[0]
            if b < 0xfd:
                return b
            return int.from_bytes(take({0xfd: 2, 0xfe: 4, 0xff: 8}[b]), "little")

        version = take(4)
        segwit = raw[4] == 0 and raw[5] == 1
        if segwit:
            take(2)
        ins_start = pos
        n_in = cs()
        for _ in range(n_in):
            take(36)
            take(cs())
            take(4)
        n_out = cs()
        for _ in range(n_out):
            take(8)
            take(cs())
        ins_end = pos
        if segwit:
            for _ in range(n_in):
                for _ in range(cs()):
                    take(cs())
        lock = take(4)
        assert pos == len(raw), "trailing bytes"
        self.segwit = segwit
        self.legacy = version + raw[ins_start:ins_end] + lock
        self.base_size = len(self.legacy)
        self.total_size = len(raw)
        self.weight = self.base_size * 3 + self.total_size
        self.vsize = (self.weight + 3) // 4
        self.txid = sha256d(self.legacy)
        self.wtxid = sha256d(raw)


def bip143(text):
    """The worked examples: each sigHash with its inputs, and the signed
    transactions."""
    examples, sighashes, signed = [], [], []
    heading, cur, fields = None, None, {}
    lines = text.splitlines()
    i = 0
    per_heading = {}

    def hex_after(i, line):
        rest = line.split(":", 1)[1].strip()
        if rest:
            return rest.split()[0]
        j = i + 1
        while not lines[j].strip():
            j += 1
        return lines[j].strip().split()[0]

    while i < len(lines):
        line = lines[i]
        m = re.match(r"^=== (.+) ===$", line)
        if m:
            heading = m.group(1)
        s = line.strip()
        if s.startswith("The following is an unsigned transaction"):
            slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
            per_heading[slug] = per_heading.get(slug, 0) + 1
            name = slug if per_heading[slug] == 1 else f"{slug}-{per_heading[slug]}"
            cur = {"name": name, "unsigned": hex_after(i, line)}
            examples.append(cur)
            fields = {}
        elif re.match(r"^(outpoint|scriptCode|amount|nHashType):", s):
            key, val = s.split(":", 1)
            val = val.strip().split()[0] if val.strip() else ""
            if key == "scriptCode" and not re.fullmatch(r"[0-9a-f]+", val):
                pass  # "(see below)"
            else:
                fields[key] = val
        elif s.startswith("sigHash:"):
            unsigned = bytes.fromhex(cur["unsigned"])
            tx = Tx(unsigned)
            outpoint = bytes.fromhex(fields["outpoint"])
            # The input whose out-point the preimage names.
            index = find_input(unsigned, outpoint)
            code = bytes.fromhex(fields["scriptCode"])
            n, code = read_cs(code)
            assert n == len(code)
            n = sum(1 for s in sighashes if s["example"] == cur["name"])
            sighashes.append({
                "name": f"{cur['name']}/{n}",
                "example": cur["name"],
                "unsigned": cur["unsigned"],
                "input": index,
                "script_code": code.hex(),
                "amount": int.from_bytes(bytes.fromhex(fields["amount"]), "little"),
                "hash_type": int.from_bytes(bytes.fromhex(fields["nHashType"]), "little"),
                "sighash": s.split(":", 1)[1].strip().split()[0],
            })
        elif s.startswith("The serialized signed transaction is"):
            signed.append((cur["name"], hex_after(i, line)))
        elif s.startswith("Since SINGLE|ANYONECANPAY"):
            signed.append((cur["name"] + "-swapped", lines[i + 1].strip().split()[0]))
        i += 1
    return examples, sighashes, signed


def read_cs(b):
    if b[0] < 0xfd:
        return b[0], b[1:]
    n = {0xfd: 2, 0xfe: 4, 0xff: 8}[b[0]]
    return int.from_bytes(b[1:1 + n], "little"), b[1 + n:]


def find_input(unsigned, outpoint):
    n_in, rest = read_cs(unsigned[4:])
    for k in range(n_in):
        if rest[:36] == outpoint:
            return k
        m, after = read_cs(rest[36:])
        rest = after[m + 4:]
    raise SystemExit("out-point not among the inputs")


def bip174(text):
    cases, section = [], None
    lines = text.splitlines()
    start = lines.index("==Test Vectors==")
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if s == "The following are invalid PSBTs:":
            section = "invalid"
        elif s == "The following are valid PSBTs:":
            section = "valid"
        elif s == "Fails Signer checks":
            section = "signer"
        elif s.startswith("The private keys in the tests below"):
            break
        elif s.startswith("* Case:"):
            desc = s[len("* Case:"):].strip()
            m = re.search(r"<pre>([0-9a-f]+)</pre>", lines[i + 1])
            assert m, lines[i + 1][:80]
            cases.append((section, desc, m.group(1)))
    return cases


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def main():
    root, commit = Path(sys.argv[1]), sys.argv[2]
    out = Path(__file__).resolve().parent.parent / "src" / "data"
    out.mkdir(exist_ok=True)
    src = lambda f: f"bitcoin/bips@{commit}:{f}"

    # BIP-143 ------------------------------------------------------------
    examples, sighashes, signed = bip143((root / "bip-0143.mediawiki").read_text())
    w = [f"//! Generated by tools/extract.py from {src('bip-0143.mediawiki')}",
         "//! (the worked examples: every sigHash, with the input it signs). Do not edit.",
         "", "use crate::bip143::Vector;", "", "pub const VECTORS: &[Vector] = &["]
    for v in sighashes:
        w.append(f"    Vector {{ name: {rust_str(v['name'])}, unsigned_tx: {rust_str(v['unsigned'])}, "
                 f"input: {v['input']}, script_code: {rust_str(v['script_code'])}, amount: {v['amount']}, "
                 f"hash_type: {v['hash_type']:#x}, sighash: {rust_str(v['sighash'])} }},")
    w.append("];")
    (out / "bip143.rs").write_text("\n".join(w) + "\n")

    # Segwit transactions for BIP-141 and BIP-144 -------------------------
    kp = json.loads((root / "bip-0341/wallet-test-vectors.json").read_text())["keyPathSpending"][0]
    txs = [(f"bip143/{name}", hexs, src("bip-0143.mediawiki")) for name, hexs in signed]
    txs.append(("bip341/key-path-spending", kp["auxiliary"]["fullySignedTx"],
                src("bip-0341/wallet-test-vectors.json")))
    legacy = [(f"bip143/{e['name']}/unsigned", e["unsigned"], src("bip-0143.mediawiki")) for e in examples]
    legacy.append(("bip341/key-path-spending/unsigned", kp["given"]["rawUnsignedTx"],
                   src("bip-0341/wallet-test-vectors.json")))
    w = [f"//! Generated by tools/extract.py. Do not edit.",
         "//!",
         "//! The transactions are copied from the files named in each `source`; the",
         "//! expected legacy serializations, sizes, weights, txids and wtxids were",
         "//! computed by tools/extract.py (its own parser and Python's hashlib).",
         "", "use crate::segwit::{LegacyTx, SegwitTx};", "", "pub const SEGWIT: &[SegwitTx] = &["]
    for name, hexs, source in txs:
        t = Tx(bytes.fromhex(hexs))
        assert t.segwit
        w.append(f"    SegwitTx {{ name: {rust_str(name)}, source: {rust_str(source)}, hex: {rust_str(hexs)}, "
                 f"legacy: {rust_str(t.legacy.hex())}, base_size: {t.base_size}, total_size: {t.total_size}, "
                 f"weight: {t.weight}, vsize: {t.vsize}, txid: {rust_str(t.txid.hex())}, wtxid: {rust_str(t.wtxid.hex())} }},")
    w.append("];")
    w.append("")
    w.append("pub const LEGACY: &[LegacyTx] = &[")
    for name, hexs, source in legacy:
        t = Tx(bytes.fromhex(hexs))
        assert not t.segwit
        w.append(f"    LegacyTx {{ name: {rust_str(name)}, source: {rust_str(source)}, hex: {rust_str(hexs)}, "
                 f"size: {t.base_size}, txid: {rust_str(t.txid.hex())} }},")
    w.append("];")
    (out / "segwit.rs").write_text("\n".join(w) + "\n")

    # BIP-340 ------------------------------------------------------------
    rows = list(csv.DictReader((root / "bip-0340/test-vectors.csv").read_text().splitlines()))
    w = [f"//! Generated by tools/extract.py from {src('bip-0340/test-vectors.csv')}. Do not edit.",
         "", "use crate::bip340::Vector;", "", "pub const VECTORS: &[Vector] = &["]
    for r in rows:
        sk = r["secret key"].lower()
        aux = r["aux_rand"].lower()
        w.append(f"    Vector {{ index: {r['index']}, secret_key: {rust_str(sk)}, public_key: {rust_str(r['public key'].lower())}, "
                 f"aux_rand: {rust_str(aux)}, message: {rust_str(r['message'].lower())}, signature: {rust_str(r['signature'].lower())}, "
                 f"valid: {'true' if r['verification result'] == 'TRUE' else 'false'}, comment: {rust_str(r['comment'])} }},")
    w.append("];")
    (out / "bip340.rs").write_text("\n".join(w) + "\n")

    # BIP-341 ------------------------------------------------------------
    d = json.loads((root / "bip-0341/wallet-test-vectors.json").read_text())
    w = [f"//! Generated by tools/extract.py from {src('bip-0341/wallet-test-vectors.json')}. Do not edit.",
         "", "use crate::bip341::{KeyPathInput, KeyPathTx, ScriptPubKey, Tree};", ""]

    def tree(t):
        if t is None:
            return "None"
        return f"Some(&{node(t)})"

    def node(t):
        if isinstance(t, list):
            assert len(t) == 2
            return f"Tree::Branch(&{node(t[0])}, &{node(t[1])})"
        return f"Tree::Leaf {{ version: {t['leafVersion']:#04x}, script: {rust_str(t['script'])} }}"

    w.append("pub const SCRIPT_PUBKEYS: &[ScriptPubKey] = &[")
    for k, v in enumerate(d["scriptPubKey"]):
        g, im, ex = v["given"], v["intermediary"], v["expected"]
        leaves = ", ".join(rust_str(h) for h in (im.get("leafHashes") or []))
        blocks = ", ".join(rust_str(h) for h in (ex.get("scriptPathControlBlocks") or []))
        w.append(f"    ScriptPubKey {{ index: {k}, internal_key: {rust_str(g['internalPubkey'])}, tree: {tree(g['scriptTree'])}, "
                 f"leaf_hashes: &[{leaves}], merkle_root: {'Some(' + rust_str(im['merkleRoot']) + ')' if im['merkleRoot'] else 'None'}, "
                 f"tweak: {rust_str(im['tweak'])}, output_key: {rust_str(im['tweakedPubkey'])}, "
                 f"script_pubkey: {rust_str(ex['scriptPubKey'])}, address: {rust_str(ex['bip350Address'])}, "
                 f"control_blocks: &[{blocks}] }},")
    w.append("];")
    w.append("")
    kp = d["keyPathSpending"][0]
    utxos = ", ".join(f"({u['amountSats']}, {rust_str(u['scriptPubKey'])})" for u in kp["given"]["utxosSpent"])
    w.append(f"pub const KEY_PATH: KeyPathTx = KeyPathTx {{ unsigned_tx: {rust_str(kp['given']['rawUnsignedTx'])}, "
             f"spent: &[{utxos}], inputs: &[")
    for v in kp["inputSpending"]:
        g, im, ex = v["given"], v["intermediary"], v["expected"]
        root_ = f"Some({rust_str(g['merkleRoot'])})" if g["merkleRoot"] else "None"
        w.append(f"    KeyPathInput {{ input: {g['txinIndex']}, hash_type: {g['hashType']:#04x}, internal_key: {rust_str(im['internalPubkey'])}, "
                 f"merkle_root: {root_}, tweak: {rust_str(im['tweak'])}, sig_msg: {rust_str(im['sigMsg'])}, "
                 f"sighash: {rust_str(im['sigHash'])}, witness: &[{', '.join(rust_str(x) for x in ex['witness'])}] }},")
    w.append("] };")
    (out / "bip341.rs").write_text("\n".join(w) + "\n")

    # BIP-174 ------------------------------------------------------------
    cases = bip174((root / "bip-0174.mediawiki").read_text())
    w = [f"//! Generated by tools/extract.py from {src('bip-0174.mediawiki')} (\"Test Vectors\": the",
         "//! invalid, valid and fails-signer-checks PSBTs; the hex form). Do not edit.",
         "", "use crate::bip174::{Expect, Vector};", "", "pub const VECTORS: &[Vector] = &["]
    seen = {}
    for section, desc, hexs in cases:
        expect = {"invalid": "Expect::Invalid", "valid": "Expect::Valid", "signer": "Expect::FailsSignerChecks"}[section]
        base = f"{section}/{slug(desc)}"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        w.append(f"    Vector {{ name: {rust_str(name)}, description: {rust_str(desc)}, expect: {expect}, hex: {rust_str(hexs)} }},")
    w.append("];")
    (out / "bip174.rs").write_text("\n".join(w) + "\n")

    print(f"bip143: {len(sighashes)} sighashes from {len(examples)} examples, {len(signed)} signed txs")
    print(f"segwit txs: {len(txs)}, legacy txs: {len(legacy)}")
    print(f"bip340: {len(rows)}; bip341: {len(d['scriptPubKey'])} scriptPubKeys, {len(kp['inputSpending'])} key path inputs")
    print("bip174: " + ", ".join(f"{s}: {sum(1 for c in cases if c[0] == s)}" for s in ("invalid", "valid", "signer")))


main()
