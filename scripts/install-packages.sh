#!/usr/bin/env bash
# Install the Debian packages of scripts/ci-packages.txt that are missing (through sudo when
# not root), then make sure what the tests run is there. Used by scripts/quickstart.sh and
# .ci/run: a new machine has none of them.
set -euo pipefail
cd "$(dirname "$0")/.."

installed() {
  # `dpkg -s` also succeeds for a package removed but for its config files.
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=""
wanted=0
for p in $(grep -v '^#' scripts/ci-packages.txt | xargs); do
  wanted=$((wanted + 1))
  installed "$p" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "Debian packages: all $wanted of scripts/ci-packages.txt installed" >&2
else
  echo "installing:$missing" >&2
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $as_root apt-get update -qq
  # shellcheck disable=SC2086
  $as_root apt-get install -y -qq $missing
fi

# What the tests run, by the names they run it under.
PATH="$PATH:/usr/sbin"
for tool in git b4 aarch64-linux-gnu-gcc aarch64-linux-gnu-objdump bwrap redis-server \
  dovecot public-inbox-httpd public-inbox-mda chromium; do
  command -v "$tool" >/dev/null || { echo "missing after install: $tool" >&2; exit 1; }
done
[ -f /usr/src/linux-source-6.1.tar.xz ] || { echo "missing after install: linux-source-6.1" >&2; exit 1; }
echo "Debian packages: the tools the tests run are there" >&2
