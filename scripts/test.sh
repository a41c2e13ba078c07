#!/usr/bin/env bash
# Runs every test of the project on a machine that has only the Rust toolchain and
# Debian: the README's test command, and exactly what CI runs (.ci/run calls this).
#
# It first installs what the tests need and the machine lacks, then runs the tests:
# - Debian's headless Chromium and its WebDriver (the console's browser tests,
#   tests/tests/console.rs), through apt-get (as root, or with sudo);
# - the API contract's checkers from PyPI (openapi-spec-validator, schemathesis), in a
#   virtual environment target/contract-venv built from tests/contract/requirements.txt
#   (tests/tests/api_contract.rs); rebuilt when that file changes.
# A tool that cannot be installed stops the run with the command that would install
# it; no test is left to pass silently without its tool.
#
# Tests that need root (network namespaces, tmpfs mounts) run when this runs as root;
# otherwise they are skipped explicitly (each prints "skipped: ..."), never passed.
#
# Arguments are passed to `cargo test` (e.g. `scripts/test.sh -p suslik-broker`).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Debian packages the tests need, as `command package` pairs.
debian_needs=(
  "chromium chromium"
  "chromedriver chromium-driver"
)

missing=()
for need in "${debian_needs[@]}"; do
  read -r command package <<<"$need"
  command -v "$command" >/dev/null || missing+=("$package")
done

# Python with its venv module, for the contract checkers below (Debian splits venv out).
command -v python3 >/dev/null || missing+=(python3)
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "scripts/test.sh: the tests need ${missing[*]}; install them as root:" >&2
      echo "  apt-get update && ${install[*]}" >&2
      exit 1
    fi
    sudo_cmd=(sudo)
  fi
  echo "scripts/test.sh: installing ${missing[*]} (Debian packages the tests need)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${sudo_cmd[@]}" apt-get update -q && "${sudo_cmd[@]}" "${install[@]}"; }; then
    echo "scripts/test.sh: could not install ${missing[*]}; install them with:" >&2
    echo "  ${sudo_cmd[*]} apt-get update && ${sudo_cmd[*]} ${install[*]}" >&2
    exit 1
  fi
fi

# The contract checkers: a virtual environment of the pinned requirements.
venv=target/contract-venv
requirements=tests/contract/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  echo "scripts/test.sh: installing the API contract's checkers into $venv ($requirements)" >&2
  rm -rf "$venv"
  if ! { python3 -m venv "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"; }; then
    echo "scripts/test.sh: could not install the contract checkers; install them with:" >&2
    echo "  python3 -m venv $venv && $venv/bin/pip install -r $requirements" >&2
    exit 1
  fi
  cp "$requirements" "$venv/requirements.txt"
fi
export SUSLIK_CONTRACT_VENV="$PWD/$venv"

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: not root: privileged tests (network namespaces, tmpfs mounts) are skipped" >&2
  export SUSLIK_SKIP_PRIVILEGED_TESTS=1
fi

exec cargo test --workspace --locked "$@"
