#!/usr/bin/env bash
# Set up the environment (plus Chromium and nginx for the browser and deploy tests) and run the whole test suite.
# Extra arguments go to pytest, e.g. ./test.sh -k preprocessing
set -euo pipefail
cd "$(dirname "$0")"
# Chromium for the browser tests, nginx to check deploy/nginx.conf (nginx -t): from apt when missing.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
scripts/setup.sh requirements-dev.txt
# The full MNIST and cats-vs-dogs sets, if present, make the accuracy tests run on them too.
if [ -z "${PLAYGROUND_DATA_DIR:-}" ] && [ ! -e data ] && [ -d ../shared/data ]; then
  export PLAYGROUND_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m pytest "$@"
