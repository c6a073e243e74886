#!/usr/bin/env bash
# Vigil: set up (a .venv in this folder, idempotent) and run.
#
#   ./start.sh --demo [--duration SECONDS] [--no-web]   set up, then run the demo
#   ./start.sh --test [PYTEST ARGS]                     set up, then run the test suite
#   ./start.sh --setup                                  set up only
#   ./start.sh COMMAND ...                              set up, then run `vigil COMMAND ...`
set -euo pipefail
cd "$(dirname "$0")"

# CPU build of torch, installed before anything that depends on it so that no CUDA packages
# are pulled. Where pip does not find a CPU wheel on its own, point TORCH_INDEX_URL at the
# PyTorch CPU wheel index.
TORCH_PIN="torch==2.13.0"

find_python() {
  for candidate in ${PYTHON:-} python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "start.sh: Python 3.11 or newer is needed (apt-get install python3 python3-venv)" >&2
  return 1
}

setup() {
  local python stamp
  if [ ! -x .venv/bin/python ]; then
    python=$(find_python)
    echo "start.sh: creating .venv with $($python --version)"
    "$python" -m venv .venv || {
      echo "start.sh: could not create .venv (on Debian: apt-get install python3-venv)" >&2
      rm -rf .venv; return 1; }
  fi
  stamp=$(cat pyproject.toml start.sh | sha256sum | cut -c1-16)
  if [ "$(cat .venv/.vigil-installed 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "start.sh: installing Vigil and its dependencies into .venv (about a minute)"
  local torch_args=()
  [ -n "${TORCH_INDEX_URL:-}" ] && torch_args=(--index-url "$TORCH_INDEX_URL")
  .venv/bin/python -m pip install --quiet "${torch_args[@]}" "$TORCH_PIN"
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$stamp" > .venv/.vigil-installed
}

# The tests start a real Prometheus server (Debian package `prometheus`) on a loopback port, and
# drive the web console in headless Chromium (Debian packages `chromium`). Installed here when
# missing and apt-get can run (root or passwordless sudo); otherwise those tests skip and say
# why. VIGIL_NO_APT=1 never installs.
test_servers() {
  local missing=()
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ -n "${VIGIL_NO_APT:-}" ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || {
      echo "start.sh: ${missing[*]} not installed; their tests will skip" \
           "(apt-get install ${missing[*]})" >&2; return 0; }
    sudo="sudo -n"
  fi
  echo "start.sh: installing the Debian packages ${missing[*]} for the tests"
  $sudo apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null ||
    echo "start.sh: could not install ${missing[*]}; their tests will skip" >&2
}

case "${1:-}" in
  --demo)  shift; setup; exec .venv/bin/vigil demo "$@" ;;
  --test)  shift; setup; test_servers; exec .venv/bin/python -m pytest "$@" ;;
  --setup) setup ;;
  ""|-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
  *)       setup; exec .venv/bin/vigil "$@" ;;
esac
