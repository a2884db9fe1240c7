#!/usr/bin/env bash
# Installs what cross-building and emulated testing for ARM need on Debian (bookworm), idempotently:
# the arm64/armhf cross toolchains, qemu-user, cmake, and the target architectures' Paho C and
# OpenSSL (multiarch libpaho-mqtt-dev:arm64 / :armhf), all with one libssl version.
#
#   bash scripts/install-cross.sh [arm64] [armhf]      (default: both)
#
# Why the libssl pin: libssl3 and libssl-dev are Multi-Arch "same", so every architecture must carry
# the same version. The security mirror can serve a newer version for amd64 before the others, which
# apt reports as "held broken packages". Every architecture, the host's too, is pinned to the host's
# installed version when all offer it, else to the newest version all of them offer.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)

ARCHES=("$@")
if [ "${#ARCHES[@]}" -eq 0 ]; then ARCHES=(arm64 armhf); fi

declare -A TOOLCHAIN=([arm64]=g++-aarch64-linux-gnu [armhf]=g++-arm-linux-gnueabihf)
for arch in "${ARCHES[@]}"; do
  [ -n "${TOOLCHAIN[$arch]:-}" ] || { echo "install-cross: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 2; }
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

wanted=()
# The host's libssl-dev comes with the pins below.
for pkg in qemu-user cmake pkg-config file libpaho-mqtt-dev; do
  installed "$pkg" || wanted+=("$pkg")
done
for arch in "${ARCHES[@]}"; do
  installed "${TOOLCHAIN[$arch]}" || wanted+=("${TOOLCHAIN[$arch]}")
  installed "libpaho-mqtt-dev:$arch" || wanted+=("libpaho-mqtt-dev:$arch")
  installed "libssl-dev:$arch" || wanted+=("libssl-dev:$arch")
done
if [ "${#wanted[@]}" -eq 0 ]; then
  echo "install-cross: everything is installed (${ARCHES[*]})"
  exit 0
fi

added_arch=0
for arch in "${ARCHES[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    $SUDO dpkg --add-architecture "$arch"
    added_arch=1
  fi
done
if [ "$added_arch" -eq 1 ] || [ -z "$(apt-cache madison "libssl3:${ARCHES[0]}" 2>/dev/null)" ]; then
  echo "install-cross: apt-get update"
  # A mirror mid-sync fails one index now and then; the versions below are checked anyway.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq || $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq ||
    echo "install-cross: apt-get update reported errors; going on with the indexes it has" >&2
fi

offered() { apt-cache madison "libssl3:$1" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -u; }
host_arch="$(dpkg --print-architecture)"
# Every foreign architecture that already carries libssl3 (e.g. arm64 when armhf is added later) moves
# with the others: left out of the pins, apt would remove it, and its libpaho-mqtt-dev along.
ssl_arches=("${ARCHES[@]}")
for arch in $(dpkg --print-foreign-architectures); do
  if installed "libssl3:$arch" && [[ " ${ssl_arches[*]} " != *" $arch "* ]]; then ssl_arches+=("$arch"); fi
done
common="$(offered "$host_arch")"
for arch in "${ssl_arches[@]}"; do common="$(comm -12 <(echo "$common") <(offered "$arch"))"; done
# The host's own package: a bare libssl3 would match every architecture's, one version per line.
host_version="$(dpkg-query -W -f='${Version}' "libssl3:$host_arch" 2>/dev/null || true)"
if [ -n "$host_version" ] && echo "$common" | grep -qxF "$host_version"; then
  ssl_version="$host_version"
else
  ssl_version="$(echo "$common" | grep . | sort -V | tail -n1 || true)"
fi
if [ -z "$ssl_version" ]; then
  echo "install-cross: no libssl3 version is offered for all of $host_arch ${ssl_arches[*]}:" >&2
  for arch in "$host_arch" "${ssl_arches[@]}"; do echo "  $arch: $(offered "$arch" | xargs)" >&2; done
  exit 1
fi
pins=("libssl3:$host_arch=$ssl_version" "libssl-dev:$host_arch=$ssl_version")
for arch in "${ssl_arches[@]}"; do
  pins+=("libssl3:$arch=$ssl_version")
  if [[ " ${ARCHES[*]} " == *" $arch "* ]] || installed "libssl-dev:$arch"; then pins+=("libssl-dev:$arch=$ssl_version"); fi
done
if [ -n "$host_version" ] && [ "$host_version" != "$ssl_version" ]; then
  echo "install-cross: host libssl3 $host_version is not offered for ${ssl_arches[*]}; moving every architecture to $ssl_version"
fi

echo "install-cross: installing ${wanted[*]} (libssl $ssl_version on $host_arch ${ssl_arches[*]})"
"${APT[@]}" --allow-downgrades install "${wanted[@]}" "${pins[@]}" >/dev/null
echo "install-cross: done (${ARCHES[*]}, libssl $ssl_version)"
