#!/usr/bin/env bash
# Proves that another package can depend on swift-tint by version: commits the current tree (including
# uncommitted changes) into a scratch repository, tags it 0.1.0, and builds Tests/VersionedImport against it
# with `from: "0.1.0"`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir "$work/swift-tint"
# Copy the tracked and new files (not .build*) of the working tree.
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/swift-tint")
(cd "$work/swift-tint" && git init -q && git add -A &&
 git -c user.name=ci -c user.email=ci@localhost commit -qm snapshot && git tag 0.1.0)

cp -r "$root/Tests/VersionedImport" "$work/consumer"
cd "$work/consumer"
SWIFT_TINT_URL="file://$work/swift-tint" swift build -c release 2>&1 | tail -n 5
SWIFT_TINT_URL="file://$work/swift-tint" swift run -c release --skip-build Consumer
# The fast path for such a client: the toolset file shipped in the checkout.
SWIFT_TINT_URL="file://$work/swift-tint" swift build -c release --scratch-path .build-toolset \
  --toolset "$work/swift-tint/Scripts/toolset-x86-64-v3.json" 2>&1 | tail -n 1
SWIFT_TINT_URL="file://$work/swift-tint" swift run -c release --skip-build --scratch-path .build-toolset Consumer
