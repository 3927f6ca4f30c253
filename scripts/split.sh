#!/usr/bin/env bash
# Sourced by the table and demo scripts: split_half SRC CALIB HELDOUT writes
# the lines of SRC up to the first blank line at or after the middle (or
# the middle line when none follows) to
# CALIB, the rest to HELDOUT (the calibration / evaluation split of the
# README's tables).
split_half() {
  local mid cut
  mid=$(( $(wc -l <"$1") / 2 ))
  cut=$(awk -v m="$mid" 'NF == 0 && NR >= m { print NR; exit }' "$1")
  cut=${cut:-$mid} # no blank line after the middle (wikitext2-test.txt has none): the middle line
  head -n "$cut" "$1" >"$2"
  tail -n +"$((cut + 1))" "$1" >"$3"
}

# Run directly: scripts/split.sh SRC CALIB HELDOUT (parents of CALIB/HELDOUT are created).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -eu
  if [ $# -ne 3 ]; then echo "usage: scripts/split.sh SRC CALIB HELDOUT" >&2; exit 2; fi
  mkdir -p "$(dirname "$2")" "$(dirname "$3")"
  split_half "$@"
fi
