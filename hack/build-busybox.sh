#!/usr/bin/env bash
# Builds the static busybox used by the critest images (test/e2e/images): Debian's busybox source
# package (1.35 on bookworm) configured with upstream `defconfig` plus CONFIG_STATIC=y.
#
# Debian's own busybox-static is not usable: it is built with the "standalone shell" (applets run
# without exec) and lacks pgrep and ipcs, which critest needs.
#
# `apt-get source` needs deb-src entries. The system's apt configuration is left untouched: a private
# configuration (sources, lists, cache) under a temporary directory holds deb-src entries whose URIs
# are copied from the system's own apt sources.
#
# Usage: hack/build-busybox.sh OUT   (does nothing when OUT already exists)
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 OUT" >&2
	exit 2
fi
out=$1
if [[ -x "$out" ]]; then
	exit 0
fi
for tool in apt-get dpkg-source make gcc; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-busybox: $tool is missing (run CRISHIM_E2E=1 hack/install-deps.sh)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/crishim-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
apt_dir=$work/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
: >"$apt_dir/sources.list"

# One-line sources: every "deb" line of this release becomes a "deb-src" line.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[[ -f "$f" ]] || continue
	sed -nE "/^[[:space:]]*deb[[:space:]].*[[:space:]]${codename}([-/[:space:]]|$)/s/^[[:space:]]*deb[[:space:]]/deb-src /p" \
		"$f" >>"$apt_dir/sources.list"
done
# deb822 sources: every stanza of this release, with its Types set to deb-src.
for f in /etc/apt/sources.list.d/*.sources; do
	[[ -f "$f" ]] || continue
	awk -v codename="$codename" '
		function flush() {
			if (stanza != "" && keep) printf "%s\n", stanza
			stanza = ""; keep = 0
		}
		/^[[:space:]]*$/ { flush(); next }
		/^#/ { next }
		/^Types:/ { stanza = stanza "Types: deb-src\n"; next }
		/^Suites:/ { if (index($0, codename) > 0) keep = 1 }
		{ stanza = stanza $0 "\n" }
		END { flush() }
	' "$f" >"$apt_dir/sources.list.d/$(basename "$f")"
done
if ! grep -qs . "$apt_dir/sources.list" "$apt_dir"/sources.list.d/*; then
	echo "build-busybox: found no apt sources for release '$codename' to copy" >&2
	exit 1
fi

apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
	-o "APT::Sandbox::User=root"
	-o "Acquire::Languages=none"
	-qq
)
echo "build-busybox: fetching Debian's busybox source package"
apt-get "${apt_opts[@]}" update
(cd "$work" && apt-get "${apt_opts[@]}" source busybox >/dev/null)

src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n1)
if [[ -z "$src" ]]; then
	echo "build-busybox: apt-get source did not unpack busybox" >&2
	exit 1
fi

echo "build-busybox: building $(basename "$src") (defconfig, static)"
log=$work/build.log
(
	cd "$src"
	# No build date in the binary: the same source and compiler give the same bytes (and digests).
	export KCONFIG_NOTIMESTAMP=1 SOURCE_DATE_EPOCH=1577836800
	make defconfig
	sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
	grep -q '^CONFIG_STATIC=y$' .config
	yes '' | make oldconfig
	make -j"$(nproc)" busybox
) >"$log" 2>&1 || {
	tail -n 50 "$log" >&2
	echo "build-busybox: build failed" >&2
	exit 1
}

# Check the result before caching it: static, and no standalone shell.
if ! file_out=$(LC_ALL=C readelf -l "$src/busybox" 2>&1) || grep -q INTERP <<<"$file_out"; then
	echo "build-busybox: $src/busybox is not a static executable" >&2
	exit 1
fi
if grep -q '^CONFIG_FEATURE_SH_STANDALONE=y' "$src/.config"; then
	echo "build-busybox: the configuration enables the standalone shell" >&2
	exit 1
fi
mkdir -p "$(dirname "$out")"
install -m 0755 "$src/busybox" "$out.tmp"
mv "$out.tmp" "$out"
echo "build-busybox: built $out"
