#!/usr/bin/env python3
"""The declared rust-version against Cargo.lock.

Every workspace crate must declare the same rust-version, and every package
the lock holds (all platforms, all features) must declare one no newer, else
a build with that toolchain would fail on it. What this and clippy's
incompatible_msrv lint cannot see (language features, compiler behaviour)
only a build with that toolchain checks: see the README.
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
)
members = set(meta["workspace_members"])
declared = {p.get("rust_version") for p in meta["packages"] if p["id"] in members}
if len(declared) != 1 or None in declared:
    sys.exit(f"every workspace crate must declare the same rust-version; found {sorted(map(str, declared))}")
msrv = declared.pop()
newer = sorted(
    f"{p['name']} {p['version']} needs Rust {p['rust_version']}"
    for p in meta["packages"]
    if p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
if newer:
    sys.exit(f"Cargo.lock holds packages above rust-version {msrv}:\n  " + "\n  ".join(newer))
print(f"rust-version {msrv}: no package in Cargo.lock ({len(meta['packages'])}) declares a newer one")
