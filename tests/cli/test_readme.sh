#!/usr/bin/env bash
# The README's worked pipeline, taken from README.md itself (between the
# worked-pipeline markers) and run as pasted in a fresh clone of this
# repository with the shared directory beside it. Runs in the plain pass
# only: it builds its own tools, so the sanitizer pass would prove nothing new.
. "$(dirname "$0")/lib.sh"
if [ -n "${SAN:-}" ]; then skip readme_pipeline "sanitizer pass (the pipeline builds its own tools; checked in the plain pass)"; exit 0; fi
if ! have_shared; then skip readme_pipeline "$SHARED not found"; exit 0; fi
top=$(git rev-parse --show-toplevel 2>/dev/null) || { skip readme_pipeline "not a git checkout"; exit 0; }
awk '/<!-- worked-pipeline -->/ { on = 1; next } /<!-- \/worked-pipeline -->/ { on = 0 } on && !/^```/' "$top/README.md" >"$TMP/pipeline.sh"
[ -s "$TMP/pipeline.sh" ] && pass readme_pipeline_found || { fail readme_pipeline_found "no worked-pipeline block in README.md"; exit 0; }
git clone -q "$top" "$TMP/qz" && ln -s "$(cd "$SHARED" && pwd)" "$TMP/shared" || { fail readme_pipeline "cannot clone"; exit 0; }
if (cd "$TMP/qz" && bash -e "$TMP/pipeline.sh") >"$TMP/out" 2>"$TMP/err"; then
  grep -q "Gate: passed" "$TMP/out" && pass readme_pipeline || fail readme_pipeline "the gate did not pass: $(tail -5 "$TMP/out")"
else
  fail readme_pipeline "exit $?: $(grep -v '^cc \|^ar ' "$TMP/err" | tail -3)"
fi
