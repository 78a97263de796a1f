#!/usr/bin/env bash
# Installs crishim on a node, or removes it. Idempotent. `make install` / `make uninstall` run it.
#
# Usage: hack/install.sh install|uninstall
#
# Environment (the Makefile passes its variables of the same names):
#   OUT         where the built binaries are (_output)
#   DESTDIR     staging root prepended to every path (packaging); empty = this machine
#   PREFIX      /usr/local; binaries go to BINDIR=$PREFIX/bin
#   SYSCONFDIR  /etc; the config is $SYSCONFDIR/crishim/config.toml
#   UNITDIR     $SYSCONFDIR/systemd/system; the unit is crishim.service
#   PURGE=1     uninstall also stops and removes every pod and container (through the running
#               daemon and crictl), removes root_dir, state_dir, the config, crishim's default
#               CNI network file, its bridge and its host-local leases. Without it, uninstall
#               leaves pods, images and state alone.
set -euo pipefail

OUT=${OUT:-_output}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$SYSCONFDIR/systemd/system}
PURGE=${PURGE:-0}

here=$(cd "$(dirname "$0")" && pwd)
conf=$SYSCONFDIR/crishim/config.toml
unit=$UNITDIR/crishim.service
bins=(shim crishim-monitor)
plugins=(bridge host-local portmap loopback)

say() { echo "install: $*"; }
die() {
	echo "install: $*" >&2
	exit 1
}

# systemd_here: act on the init system only for a real install on a host booted with systemd.
systemd_here() { [[ -z $DESTDIR && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

# put SRC DST MODE: copy then rename, so a running binary is never overwritten in place.
put() {
	mkdir -p "$(dirname "$2")"
	install -m "$3" "$1" "$2.new.$$"
	mv -f "$2.new.$$" "$2"
}

install_cni_plugins() {
	local dirs d p missing=()
	mapfile -t dirs < <("$OUT/shim" --config "$conf" config get cni.bin_dirs 2>/dev/null || printf '%s\n' /opt/cni/bin /usr/lib/cni)
	for p in "${plugins[@]}"; do
		local found=""
		for d in "${dirs[@]}"; do [[ -x $d/$p ]] && found=1; done
		[[ -n $found ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		say "CNI plugins present in ${dirs[*]}"
	elif command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
		say "installing Debian's containernetworking-plugins (missing: ${missing[*]})"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containernetworking-plugins >/dev/null
	else
		say "WARNING: CNI plugins missing (${missing[*]}): install them into one of ${dirs[*]}"
	fi
}

do_install() {
	for b in "${bins[@]}"; do
		[[ -x $OUT/$b ]] || die "$OUT/$b is missing: run make build first"
	done
	for b in "${bins[@]}"; do
		put "$OUT/$b" "$DESTDIR$BINDIR/$b" 0755
	done
	say "installed ${bins[*]} in $DESTDIR$BINDIR"

	if [[ -e $DESTDIR$conf ]]; then
		say "kept the existing $DESTDIR$conf"
	else
		local tmp
		tmp=$(mktemp)
		"$OUT/shim" config default >"$tmp"
		put "$tmp" "$DESTDIR$conf" 0644
		rm -f "$tmp"
		say "wrote the default configuration to $DESTDIR$conf"
	fi

	local tmp
	tmp=$(mktemp)
	sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@CONFIG@|$conf|g" "$here/systemd/crishim.service.in" >"$tmp"
	put "$tmp" "$DESTDIR$unit" 0644
	rm -f "$tmp"
	say "installed $DESTDIR$unit"

	if [[ -z $DESTDIR ]]; then
		install_cni_plugins
	else
		say "DESTDIR set: CNI plugins not checked (the node needs bridge, host-local, portmap, loopback)"
	fi
	if systemd_here; then
		systemctl daemon-reload
		say "start it: systemctl enable --now crishim"
	fi
	say "check the host: $BINDIR/shim check"
}

# cfg KEY: a value of the installed configuration.
cfg() {
	local c=$DESTDIR$conf
	[[ -f $c ]] || c=/dev/null # an empty file: the defaults
	"$DESTDIR$BINDIR/shim" --config "$c" config get "$1"
}

# socket_live PATH: a process listens on the unix socket.
socket_live() { [[ -S $1 ]] && ss -xlnH 2>/dev/null | awk '{print $5}' | grep -qxF "$1"; }

# mounts_under DIR...: mount points below the given directories.
mounts_under() {
	local d
	for d in "$@"; do
		awk -v d="$d/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo
	done
}

purge() {
	[[ -z $DESTDIR ]] || die "PURGE=1 acts on this machine: it cannot be combined with DESTDIR"
	[[ -x $BINDIR/shim ]] || die "PURGE=1 needs the installed $BINDIR/shim to read the configuration"
	local root state sock confdir net bridge cgparent
	root=$(cfg root_dir) state=$(cfg state_dir) sock=$(cfg socket)
	confdir=$(cfg cni.conf_dir) net=$(cfg cni.network_name) bridge=$(cfg cni.bridge_name)
	cgparent=$(cfg runtime.cgroup_parent)
	for d in "$root" "$state"; do
		[[ $d == /?* && $d != */ ]] || die "refusing to purge suspicious directory '$d'"
	done

	if socket_live "$sock"; then
		command -v crictl >/dev/null || die "PURGE=1: the daemon at $sock runs; crictl must be on PATH to remove its pods"
		say "removing every pod through the daemon (crictl rmp -fa)"
		crictl --runtime-endpoint "unix://$sock" rmp -fa
		if systemd_here && systemctl is-active -q crishim; then
			systemctl stop crishim
		fi
		! socket_live "$sock" || die "PURGE=1: pods removed; now stop the daemon serving $sock and re-run"
	fi
	local left
	left=$(mounts_under "$root" "$state")
	[[ -z $left ]] || die "PURGE=1: pods still hold mounts under $root or $state (start the daemon, run crictl rmp -fa, re-run):
$left"

	rm -rf --one-file-system "$root" "$state"
	say "removed $root and $state"
	if [[ -f $confdir/10-crishim.conflist ]] && grep -q "\"name\": *\"$net\"" "$confdir/10-crishim.conflist"; then
		rm -f "$confdir/10-crishim.conflist"
		rmdir "$confdir" 2>/dev/null || true
		say "removed crishim's default network $confdir/10-crishim.conflist"
	fi
	# host-local keeps its leases in <cni.cache_dir>/networks (cache_dir defaults into root_dir).
	local cache
	cache=$(cfg cni.cache_dir)
	if [[ $cache == /?* ]]; then
		rm -rf "$cache/networks/$net"
	fi
	if ip link show "$bridge" >/dev/null 2>&1; then
		ip link del "$bridge"
		say "removed bridge $bridge"
	fi
	# Empty pod cgroups left by a kill -9 of the daemon; a non-empty one is reported, not forced.
	local base
	for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
		[[ -d $base$cgparent && $base$cgparent != "$base" ]] || continue
		find "$base$cgparent" -depth -type d -exec rmdir {} + 2>/dev/null || say "WARNING: $base$cgparent is not empty"
	done
	rm -f "$conf"
}

do_uninstall() {
	if [[ $PURGE == 1 ]]; then
		purge
	fi
	if systemd_here && [[ -e $unit ]]; then
		# KillMode=process: this stops the daemon alone, containers keep running.
		systemctl disable --now crishim 2>/dev/null || true
	fi
	if [[ -f $DESTDIR$conf && -x $DESTDIR$BINDIR/shim ]] &&
		cmp -s "$DESTDIR$conf" <("$DESTDIR$BINDIR/shim" config default); then
		rm -f "$DESTDIR$conf"
		say "removed $DESTDIR$conf (unchanged default)"
	elif [[ -f $DESTDIR$conf ]]; then
		say "kept $DESTDIR$conf (edited; PURGE=1 removes it)"
	fi
	rmdir "$DESTDIR$SYSCONFDIR/crishim" 2>/dev/null || true
	rm -f "$DESTDIR$unit"
	for b in "${bins[@]}"; do
		rm -f "$DESTDIR$BINDIR/$b"
	done
	say "removed ${bins[*]} from $DESTDIR$BINDIR and $DESTDIR$unit"
	if systemd_here; then
		systemctl daemon-reload
	fi
	if [[ $PURGE != 1 ]]; then
		say "pods, containers, images and state were left alone (PURGE=1 removes them)"
	fi
}

case ${1:-} in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: $0 install|uninstall" ;;
esac
