#!/usr/bin/env bash
# Install the Debian packages of scripts/ci-packages.txt that are missing (through sudo when
# not root). Used by scripts/quickstart.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
for p in $(grep -v '^#' scripts/ci-packages.txt | xargs); do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq $missing
