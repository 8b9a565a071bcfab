#!/usr/bin/env bash
# Set up the environment (plus Chromium for the browser tests) and run the whole test suite.
# Extra arguments go to pytest, e.g. ./test.sh -k preprocessing
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
scripts/setup.sh requirements-dev.txt
# The full MNIST and cats-vs-dogs sets, if present, make the accuracy tests run on them too.
if [ -z "${PLAYGROUND_DATA_DIR:-}" ] && [ ! -e data ] && [ -d ../shared/data ]; then
  export PLAYGROUND_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m pytest "$@"
