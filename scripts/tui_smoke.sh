#!/usr/bin/env bash
# Smoke test of the real editor in a real terminal: tmux runs `composer`, this
# script sends keys and reads the screen text back.
#
#   scripts/tui_smoke.sh            (tests/tui/test_smoke.py runs it in CI)
#
# It checks the first start (the demo tune), the help screen, an edit and its
# undo, harmonising with the best installed model and accepting a candidate, a
# 40x12 terminal (editing, and a dialog that fits), quitting with unsaved work,
# the next start offering that work back, and the same after a kill -9. Any "Traceback" on screen fails it. State goes to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSER="${COMPOSER:-$PWD/.venv/bin/composer}"
work="$(mktemp -d)"
runs=0
socket="composer-smoke-$$-0"
export COMPOSER_STATE_DIR="$work/state"
export COMPOSER_PRELOAD_MODELS=0
export TERM=xterm-256color

cleanup() {
  for n in $(seq 0 "$runs"); do tmux -L "composer-smoke-$$-$n" kill-server 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "tui_smoke: FAIL: $1" >&2
  echo "---- screen ----" >&2
  screen >&2 || true
  exit 1
}

screen() {
  tmux -L "$socket" capture-pane -p -t smoke
}

# wait_for TEXT [SECONDS]: poll the screen until TEXT shows.
wait_for() {
  local text="$1" limit="${2:-30}" waited=0
  while ! screen | grep -qF -- "$text"; do
    if screen | grep -qF "Traceback"; then fail "a traceback is on screen"; fi
    sleep 0.2
    waited=$((waited + 1))
    if [ "$waited" -gt $((limit * 5)) ]; then fail "'$text' did not appear within ${limit}s"; fi
  done
}

keys() {
  tmux -L "$socket" send-keys -t smoke "$@"
  sleep 0.3
}

start() {
  # A fresh tmux server each time: one just killed may still hold its socket.
  runs=$((runs + 1))
  socket="composer-smoke-$$-$runs"
  tmux -L "$socket" new-session -d -s smoke -x 120 -y 36 "$COMPOSER; echo composer-exited-\$?; sleep 30"
}

echo "tui_smoke: first start on the demo tune"
start
wait_for "Ein feste Burg" 60
wait_for "stopped"
wait_for "Welcome: this is the demo tune"

echo "tui_smoke: help screen"
keys F1
wait_for "composer — keys"
keys Escape
wait_for "Ein feste Burg"

echo "tui_smoke: edit and undo"
keys Enter
wait_for "Insert "
keys C-z
wait_for "Undid: Insert"

echo "tui_smoke: harmonize with the best installed model, accept the second candidate"
keys h
wait_for "Harmonize track 1 (Soprano)"
keys Enter
wait_for "candidates ready" 180
keys 2 Enter
wait_for "Harmonize Soprano (chorale, "
screen | grep -qF " 2/3" || fail "the second candidate was not the one accepted"
screen | grep -qF "Bass 2" || fail "the harmony tracks are not in the track list"

echo "tui_smoke: a 40x12 terminal"
tmux -L "$socket" resize-window -t smoke -x 40 -y 12
sleep 1
wait_for "stopped"
keys Enter
wait_for "Insert"
keys h
wait_for "Cancel"  # the form's buttons are on a 40x12 screen
keys Escape
sleep 0.5
tmux -L "$socket" resize-window -t smoke -x 120 -y 36
sleep 1
wait_for "Ein feste Burg"

echo "tui_smoke: quit keeps the unsaved work"
keys C-q
wait_for "composer-exited-0" 20
ls "$COMPOSER_STATE_DIR"/recovery/session-*.json >/dev/null 2>&1 || fail "no recovery file was kept"
tmux -L "$socket" kill-server

echo "tui_smoke: the next start offers it back"
start
wait_for "Recover unsaved work?" 60
keys Enter
wait_for "Recovered:"
screen | grep -qF "Bass 2" || fail "the recovered song lacks the harmony"

echo "tui_smoke: a kill -9 loses at most the last few seconds"
keys Enter
wait_for "Insert "
count="$(screen | grep -oE "Oboe · [0-9]+" | head -1)"
sleep 5  # autosave runs every 3 s
pane="$(tmux -L "$socket" list-panes -t smoke -F '#{pane_pid}')"
editor="$(pgrep -P "$pane" | head -1)"
[ -n "$editor" ] || fail "cannot find the editor's process"
kill -9 "$editor"
wait_for "composer-exited-137" 20
tmux -L "$socket" kill-server
start
wait_for "Recover unsaved work?" 60
wait_for "not close properly"  # "(composer did not close properly)", wrapped
keys Enter
wait_for "Recovered:"
screen | grep -qF "$count" || fail "the recovered song lacks the last edit ($count)"
keys C-q
wait_for "composer-exited-0" 20

echo "tui_smoke: OK"
