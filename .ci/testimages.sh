#!/usr/bin/env bash
# .ci/testimages.sh OUT — builds the test images the integration tests and
# benchmarks use, from ../shared/testimages, into OUT (default
# /var/cache/lapps-testimages/<hash of the scripts>), and prints OUT.
# A rerun with everything present takes a few seconds.
#   OUT/debian           bookworm min, mid, fat (OCI layout, docker-archives, package lists)
#   OUT/debian-bullseye  bullseye min
#   OUT/rootfs           alpine-3.11.13, alpine-3.13.12, alpine-3.20.3, almalinux-9.3 (one-layer images)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${LAPPS_SHARED:-$(cd "$here/../.." && pwd)/shared}
T=$shared/testimages
[ -d "$T" ] || { echo "testimages: $T not found" >&2; exit 1; }
hash=$(cat "$T"/*.sh "$T"/rootfs/SHA256SUMS "$T"/app/*/* | sha256sum | cut -c1-16)
out=${1:-/var/cache/lapps-testimages/$hash}
mkdir -p "$out"
{
  "$T/install-deps.sh"
  "$T/build-debian.sh" "$out/debian" all
  SUITE=bullseye "$T/build-debian.sh" "$out/debian-bullseye" min
  for v in 3.11.13 3.13.12 3.20.3; do
    "$T/rootfs-to-oci.sh" "$T/rootfs/alpine-minirootfs-$v-x86_64.tar.gz" "$out/rootfs" "alpine-$v" amd64
  done
  "$T/rootfs-to-oci.sh" "$T/rootfs/almalinux-9.3-micro-aarch64.tar.xz" "$out/rootfs" almalinux-9.3 arm64
  chmod -R a+rX "$out"
} >&2
echo "$out"
