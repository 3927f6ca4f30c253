#!/usr/bin/env bash
# md2man.sh - a tool's manual page, docs/TOOL.md, as a man(7) page on stdout.
#
# usage: scripts/md2man.sh docs/qz-eval.md [VERSION] > qz-eval.1
#
# The docs pages use a small part of Markdown, and this converts exactly that:
# '#' headings (the first one names the page), paragraphs, '-' lists, fenced
# code blocks, '|' tables (shown as preformatted text), `code`, **bold** and
# [text](link) (the text is kept). Anything else passes through as text, with
# the characters roff treats specially escaped. No pandoc needed.
set -euo pipefail
src=${1:?usage: md2man.sh docs/TOOL.md [VERSION]}
version=${2:-}
name=$(basename "$src" .md)
awk -v name="$name" -v version="$version" '
function esc(s) {
  gsub(/\\/, "\\e", s)
  return s
}
function links(s,   out, m) {
  while (match(s, /\[[^]]*\]\([^)]*\)/)) {
    m = substr(s, RSTART, RLENGTH)
    sub(/\]\(.*/, "", m); sub(/^\[/, "", m)
    out = out substr(s, 1, RSTART - 1) m
    s = substr(s, RSTART + RLENGTH)
  }
  return out s
}
function inline(s) {
  s = esc(s)
  s = links(s)
  while (match(s, /\*\*[^*]+\*\*/)) s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 2, RLENGTH - 4) "\\fR" substr(s, RSTART + RLENGTH)
  while (match(s, /`[^`]+`/)) s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR" substr(s, RSTART + RLENGTH)
  return s
}
function line(s) {            # a text line: never starts with a roff control character
  if (s ~ /^[.\047]/) s = "\\&" s
  print s
}
BEGIN {
  printf ".TH %s 1 \"\" \"qz %s\" \"qz manual\"\n", toupper(name), version
  printf ".SH NAME\n%s \\- part of qz, the LLM compression toolkit\n", name
  in_code = 0; in_table = 0; first = 1
}
/^```/ {
  if (in_code) { print ".fi\n.RE"; in_code = 0 } else { print ".RS 2\n.nf"; in_code = 1 }
  next
}
in_code { line(esc($0)); next }
/^\|/ {
  if ($0 ~ /^\|[-| :]+\|$/) next       # the header separator row
  if (!in_table) { print ".RS 2\n.nf"; in_table = 1 }
  row = $0; gsub(/^\| *| *\|$/, "", row); gsub(/ *\| */, "  |  ", row)
  line(inline(row)); next
}
in_table { print ".fi\n.RE"; in_table = 0 }
/^#+ / {
  level = index($0, " ") - 1; title = substr($0, level + 2)
  if (first) { first = 0; print ".SH DESCRIPTION"; next }
  if (level <= 2) print ".SH " toupper(inline(title)); else print ".SS " inline(title)
  next
}
/^<!--/ { next }
/^[ \t]*$/ { print ".PP"; next }
/^[ \t]*[-*] / { sub(/^[ \t]*[-*] /, ""); print ".IP \\(bu 2"; line(inline($0)); next }
{ sub(/^[ \t]+/, ""); line(inline($0)) }
END { if (in_code || in_table) print ".fi\n.RE" }
' "$src"
