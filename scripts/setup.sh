#!/usr/bin/env bash
# Idempotent set-up used by `make run` and `make test`: a venv with everything, plus (for tests)
# the system programs the test suite drives for real: mosquitto and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
WITH_TEST_DEPS=0
[ "${1:-}" = "--test" ] && WITH_TEST_DEPS=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${missing[*]}"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} with your package manager" >&2
  fi
}

if [ "$WITH_TEST_DEPS" = 1 ]; then
  apt_install mosquitto mosquitto-clients chromium openssl  # openssl: the MQTT TLS test makes its certificates
fi

stamp="$VENV/.installed"
want="$(cat setup.py scripts/setup.sh | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch/torchvision are pinned in setup.py; extras bring ROS 2 wheels, MQTT, Foxglove, quantisation, report.
  "$VENV/bin/python" -m pip install -q -e ".[all,dev]"
  echo "$want" > "$stamp"
fi
# The typed ROS messages (ros_detect_interfaces), built against the wheels into the venv.
apt_install cmake g++
VENV="$VENV" scripts/build_interfaces.sh

if [ "$WITH_TEST_DEPS" = 1 ] && [ -f web/package.json ] && [ ! -d web/node_modules/playwright-core ]; then
  # Node >= 18 drives the browser test (playwright-core) and rebuilds the web page; Debian 12 ships 18.
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  (cd web && npm ci --no-audit --no-fund --silent)
fi
