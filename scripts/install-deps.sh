#!/usr/bin/env bash
# Installs the Debian packages qz builds against. Idempotent: packages already
# present are left alone, and `apt-get update` runs only when something is
# missing and the package lists are absent or stale.
# usage: scripts/install-deps.sh [--plot] [--fuzz]   (--plot adds gnuplot for make sweep,
#        --fuzz clang with libFuzzer for make fuzz)
set -euo pipefail

pkgs=(build-essential zlib1g-dev libcjson-dev libopenblas-dev libpcre2-dev pkg-config)
# --plot: also gnuplot, which scripts/sweep.sh uses for its PNG (optional)
for a in "$@"; do
  case $a in
  --plot) pkgs+=(gnuplot-nox) ;;
  --fuzz) pkgs+=(clang) ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all dependencies present (${pkgs[*]})"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: error: apt-get not found; install the equivalents of: ${missing[*]}" >&2
  exit 2
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: error: not root and no sudo; run as root: apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
