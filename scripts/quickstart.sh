#!/usr/bin/env bash
# The first command on a fresh Debian machine with Node.js 20: install what is missing, then
# run the main job on bundled data (README, Quick start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh
npm ci
exec npx hypwatch check --mbox examples/gicv2-warn-v1.mbox
