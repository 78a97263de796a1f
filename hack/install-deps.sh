#!/usr/bin/env bash
# Installs what crishim needs to build, run and test on Debian. Idempotent and quiet when
# everything is already present. Debian packages and Go modules only.
set -euo pipefail

pkgs=(libseccomp-dev pkg-config iptables iproute2 containernetworking-plugins gcc make busybox-static)
if [[ "${CRISHIM_BENCH:-}" == 1 ]]; then
	pkgs+=(containerd runc)
fi
if [[ "${CRISHIM_E2E:-}" == 1 ]]; then
	# busybox is built from Debian's source package for the critest images (hack/build-busybox.sh:
	# apt-get source unpacks .tar.bz2/.tar.xz with dpkg-source, then a static gcc build).
	pkgs+=(dpkg-dev build-essential bzip2 xz-utils tmux)
	# systemd-analyze verify checks the unit make install writes (test/install).
	pkgs+=(systemd)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
