#!/usr/bin/env bash
# Set up everything composer needs, then run it.
#   ./run.sh             set up, then open the editor on the demo song
#   ./run.sh test [ARGS] set up, then run the whole test suite (ARGS go to pytest)
#   ./run.sh ARGS...     set up, then run `composer ARGS...`
# Set-up is idempotent and quick when nothing changed: Debian packages are
# installed only when missing (as root; otherwise the exact command is printed),
# and the virtual environment is rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_PACKAGES=(
  fluidsynth fluid-soundfont-gm musescore-general-soundfont timgm6mb-soundfont
  jackd2 musescore3 sox tmux ffmpeg
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "run.sh: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "run.sh: composer needs these Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
stamp=".venv/.setup-stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "run.sh: setting up the Python environment in .venv (first run takes a few minutes)" >&2
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # torch is pinned in pyproject.toml to the CPU wheel (torch==2.13.0).
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "test" ]; then
  shift
  # The tests over real JACK ports run in a pytest process of their own, apart
  # from the ones that load torch, music21 and FluidSynth: libjack and the
  # rtmidi callbacks share that process's memory and threads. Exit code 5 (no
  # test selected, e.g. a path without JACK tests) counts as success.
  status=0
  for selection in "not jack" "jack"; do
    code=0
    .venv/bin/python -m pytest -m "$selection" "$@" || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 5 ] && [ "$status" -eq 0 ]; then status=$code; fi
  done
  exit "$status"
fi
exec .venv/bin/composer "$@"
