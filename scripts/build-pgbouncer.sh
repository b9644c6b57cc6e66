#!/usr/bin/env bash
# Build PgBouncer VERSION from Debian's source tarball into PREFIX (bin/pgbouncer), for the tests
# and the topology benchmarks (tests/postgres_cluster.py runs it from .tools/pgbouncer).
#
#   scripts/build-pgbouncer.sh VERSION SHA256 PREFIX CACHE
#
# Invariants: nothing is unpacked or built from a tarball whose SHA-256 is not SHA256; the build
# is skipped when PREFIX/bin/pgbouncer already reports VERSION (so `make setup-test` is quick the
# second time); a binary already there is replaced only once the new build has succeeded. No PAM, no
# systemd, no c-ares (libevent's resolver does: the tests name 127.0.0.1); TLS with OpenSSL.
# The tarball ships its man pages, so pandoc is not needed.
set -euo pipefail

version=$1 sha256=$2 prefix=$3 cache=$4
binary="$prefix/bin/pgbouncer"
tarball="pgbouncer_${version}.orig.tar.gz"
url="http://deb.debian.org/debian/pool/main/p/pgbouncer/$tarball"

if "$binary" --version 2>/dev/null | head -1 | grep -qx "PgBouncer $version"; then
  exit 0
fi

# build dependencies (Debian 12): a C compiler and make are there already (llama-cpp-python
# compiles at install); libevent is the one the base image lacks
missing=()
for package in libevent-dev libssl-dev pkg-config; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

mkdir -p "$cache"
if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status 2>/dev/null; then
  echo "downloading $url"
  "${PYTHON:-python3}" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
    "$url" "$cache/$tarball.part"
  mv "$cache/$tarball.part" "$cache/$tarball"
fi
if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status; then
  echo "$cache/$tarball: SHA-256 is not $sha256; removed" >&2
  rm -f "$cache/$tarball"
  exit 1
fi

build=$(mktemp -d "${TMPDIR:-/tmp}/pgbouncer-build.XXXXXX")
trap 'rm -rf "$build"' EXIT
tar -xzf "$cache/$tarball" -C "$build" --strip-components=1
cd "$build"
echo "building PgBouncer $version into $prefix"
./configure --prefix="$prefix" --without-cares --without-pam --without-systemd >configure.log 2>&1 ||
  { tail -30 configure.log >&2; exit 1; }
make -j2 >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
rm -f "$binary"
make install >install.log 2>&1 || { tail -30 install.log >&2; exit 1; }
"$binary" --version | head -1
