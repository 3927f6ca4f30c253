#!/usr/bin/env bash
# make install / uninstall into a temporary PREFIX: the tools, a man page per
# tool that man renders, libquant.a with its headers and a libquant.pc that
# compiles and links a program; uninstall removes every file install wrote.
. "$(dirname "$0")/lib.sh"
P=$TMP/prefix
if ! make -s install PREFIX="$P" BUILD="$BUILD" SAN="${SAN:-}" >"$TMP/log" 2>&1; then fail install_runs "$(tail -3 "$TMP/log")"; exit 0; fi
pass install_runs
for t in "$BIN"/qz-*; do
  n=$(basename "$t")
  [ -x "$P/bin/$n" ] && [ -f "$P/share/man/man1/$n.1" ] || { fail install_tool_$n "binary or man page missing"; continue; }
  if command -v man >/dev/null; then
    MANWIDTH=80 man -M "$P/share/man" "$n" 2>/dev/null | grep -q "^NAME" && pass install_man_$n || fail install_man_$n "man does not render it"
  else skip install_man_$n "man not installed"; fi
done
cat >"$TMP/prog.c" <<'C'
#include "qz_common.h"
#include "rng.h"
int main(void) { return qz_now() > 0 ? 0 : 1; }
C
if PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --exists libquant 2>/dev/null &&
   cc "$TMP/prog.c" -o "$TMP/prog" ${SAN:+-fsanitize=address,undefined} $(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs libquant) 2>"$TMP/cc" && "$TMP/prog"; then
  pass install_pkg_config
else fail install_pkg_config "$(head -3 "$TMP/cc")"; fi
make -s uninstall PREFIX="$P" BUILD="$BUILD" SAN="${SAN:-}" >/dev/null 2>&1
left=$(find "$P" -type f | head -3)
[ -z "$left" ] && pass uninstall_removes_all || fail uninstall_removes_all "left: $left"
