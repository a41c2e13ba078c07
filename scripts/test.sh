#!/usr/bin/env bash
# Runs every test of the project on a machine that has only the Rust toolchain and
# Debian: the README's test command, and exactly what CI runs (.ci/run calls this).
#
# It first installs what the tests need and the machine lacks, then runs the tests:
# - Debian's headless Chromium and its WebDriver (the console's browser tests,
#   tests/tests/console.rs), through apt-get (as root, or with sudo);
# - nothing else yet: tools from PyPI join here, in a virtual environment built from
#   the project's own files, when the first test needs one.
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

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: not root: privileged tests (network namespaces, tmpfs mounts) are skipped" >&2
  export SUSLIK_SKIP_PRIVILEGED_TESTS=1
fi

exec cargo test --workspace --locked "$@"
