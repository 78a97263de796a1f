#!/usr/bin/env bash
# Runs crishim's root tests on a real cgroup v2 host: a QEMU guest (TCG, no KVM needed) booting
# Debian's kernel with the host's / shared read-only over 9p and cgroup2 mounted alone at
# /sys/fs/cgroup (no v1 hierarchy at all). The guest runs test binaries built here; it writes their
# output and exit codes to a writable 9p export (OUT/cgroupv2/results) and powers off. The exit
# status of this script is the guests' result.
#
# Nothing is installed onto the host's /boot or /lib/modules: Debian's kernel package is only
# downloaded and unpacked under OUT/cgroupv2/kernel (cached, one per kernel package version).
#
# Usage: hack/cgroupv2.sh   (OUT=_output; CGV2_TIMEOUT=45m bounds the whole guest run; CGV2_E2E=1
#                           adds critest; CGV2_TESTS overrides the plan, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
out=$repo/${OUT:-_output}/cgroupv2
timeout=${CGV2_TIMEOUT:-45m}
go=${GO:-go}

# The plan, one line per test binary: "package regex mode [VAR=value...]". The package's test
# binary runs in the guest with -test.run regex ("-": all) and, for mode "short", -test.short.
# By default: the root tests that touch cgroups (limits and their update, stats, OOM, pod
# overhead, cleanup), not the stress loops, which TCG makes very slow and which do not depend on
# the cgroup mode. CGV2_E2E=1 adds critest (test/e2e TestCritest, E2E_FOCUS honoured) with its
# leak check.
plan_default="runtime ^(TestContainerLifecycle|TestOOMKilled|TestUpdateResourcesAndStats|TestStatsAgreeWithCgroup|TestFailedCreateLeavesNothing|TestExitHook|TestSecurityFeatures|TestDaemonRestart|TestMonitorKilled|TestUserNamespacePod|TestStopSignalAndTimeout|TestHugepageLimitsStart|TestHugepageLimitsApplied|TestRootfsUnreachableForOthers)$ short
sandbox ^TestRoot(UpdatePodResources|InfraInPodCgroup|PodNamespaces|PodInfra|FailedRunCleansUp|RestartReload|RunPreparesRuntime|UserNamespacePod|PodOverhead|KubeletPodCgroup)$ short
cri Root short
internal/cgstats - short"
if [[ ${CGV2_E2E:-} == 1 ]]; then
	plan_default+="
test/e2e ^TestCritest$ full SHIM_BIN=$repo/${OUT:-_output}/shim E2E_FOCUS=${E2E_FOCUS:-}"
fi
plan_in=${CGV2_TESTS:-$plan_default}

log() { echo "cgroupv2: $*" >&2; }

CRISHIM_CGROUPV2=1 bash hack/install-deps.sh

# --- kernel: Debian's linux-image-amd64 dependency, unpacked under $out/kernel -----------------
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
fetch_kernel() {
	local pkg=$1 dir=$out/kernel/$1 tmp
	[[ -f $dir/.done ]] && return 0
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/crishim-cgv2-kernel.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	log "downloading $pkg (unpacked under $dir, not installed)"
	if ! (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null); then
		apt-get update -qq >/dev/null
		(cd "$tmp" && apt-get download -qq "$pkg")
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	# Hardware drivers the guest never sees are left out (they are most of the package).
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$dir" \
		--exclude='*/kernel/drivers/gpu' --exclude='*/kernel/drivers/media' \
		--exclude='*/kernel/drivers/net/wireless' --exclude='*/kernel/drivers/infiniband' \
		--exclude='*/kernel/sound' --exclude='./usr' ./boot ./lib
	local ver=${pkg#linux-image-}
	depmod -b "$dir" "$ver"
	touch "$dir/.done"
}
pkg=${CGV2_KERNEL_PKG:-$(kernel_pkg)}
if [[ -z $pkg ]]; then
	apt-get update -qq >/dev/null
	pkg=$(kernel_pkg)
fi
[[ -n $pkg ]] || { log "no linux-image-amd64 in apt's lists"; exit 1; }
fetch_kernel "$pkg"
kver=${pkg#linux-image-}
kdir=$out/kernel/$pkg
vmlinuz=$kdir/boot/vmlinuz-$kver

# --- initramfs: static busybox, the 9p module chain, hack/cgroupv2-initramfs-init -----------------
mods=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p)
initrd=$out/initramfs-$kver.img
stamp=$(cat hack/cgroupv2-initramfs-init /bin/busybox | sha256sum | cut -c1-16)
if [[ ! -f $initrd || $(cat "$initrd.stamp" 2>/dev/null) != "$stamp" ]]; then
	log "building $initrd"
	ir=$(mktemp -d "${TMPDIR:-/tmp}/crishim-cgv2-initrd.XXXXXX")
	mkdir -p "$ir"/{bin,dev,proc,sys,newroot,modules}
	cp /bin/busybox "$ir/bin/busybox"
	cp hack/cgroupv2-initramfs-init "$ir/init"
	chmod 755 "$ir/init"
	for m in "${mods[@]}"; do
		f=$(find "$kdir/lib/modules/$kver" -name "$m.ko" | head -1)
		[[ -n $f ]] || { log "module $m missing from $pkg"; exit 1; }
		cp "$f" "$ir/modules/"
	done
	printf '%s\n' "${mods[@]}" >"$ir/modules/order"
	(cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	echo "$stamp" >"$initrd.stamp"
	rm -rf "$ir"
fi

# --- test binaries ------------------------------------------------------------------------------
mkdir -p "$out/bin"
plan=()
while read -r p re mode envs; do
	[[ -n $p ]] || continue
	bin=$out/bin/$(echo "$p" | tr / _).test
	log "building $p tests"
	CGO_ENABLED=1 $go test -c -tags seccomp -o "$bin" "./$p"
	# The package dir: test binaries run there, as go test runs them.
	plan+=("$bin $repo/$p $re ${mode:-short} $envs")
	if [[ $p == test/e2e ]]; then
		# What critest needs and the guest cannot build (no network): the daemon, critest and
		# crictl, the fixture images' busybox.
		make -s build
		bash hack/build-tools.sh "${OUT:-_output}/bin"
		CRISHIM_E2E=1 bash hack/install-deps.sh
		bash hack/build-busybox.sh "${OUT:-_output}/busybox/busybox"
	fi
done <<<"$plan_in"

results=$out/results
rm -rf "$results"
mkdir -p "$results"
printf '%s\n' "${plan[@]}" >"$results/plan"

# /tmp of the guest: an ext4 disk (tmpfs of a 6.1 kernel cannot be idmapped, which user
# namespace tests need), made afresh each run; sparse, so it costs what the tests write.
disk=$out/tmp.img
rm -f "$disk"
truncate -s "${CGV2_DISK:-16G}" "$disk"
mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$disk"

# --- boot ---------------------------------------------------------------------------------------
log "booting $kver under QEMU (TCG); guest logs in $results"
start=$(date +%s)
qemu=(qemu-system-x86_64 -machine q35 -cpu max -m "${CGV2_MEM:-3072}" -smp 2 -nographic -no-reboot -nic none
	-kernel "$vmlinuz" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 quiet loglevel=4 crishim_repo=$repo crishim_kdir=$kdir crishim_results=$results"
	-fsdev "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap"
	-device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
	-fsdev "local,id=results,path=$results,security_model=none,multidevs=remap"
	-device "virtio-9p-pci,fsdev=results,mount_tag=results"
	-drive "file=$disk,if=virtio,format=raw,cache=unsafe")
# The guest uses only CPU here, but the machine has 2 cores: hold the root-test lock meanwhile.
rc=0
lock=(flock /tmp/crishim-root.lock)
# make test runs this under the caller's lock already (CGV2_LOCK=0): taking it again would wait forever.
[[ ${CGV2_LOCK:-1} == 0 ]] && lock=()
"${lock[@]}" timeout --foreground --kill-after=30s "$timeout" "${qemu[@]}" </dev/null || rc=$?
secs=$(($(date +%s) - start))
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
	log "the guest did not finish within $timeout"
fi

# --- results ------------------------------------------------------------------------------------
fail=0
if [[ ! -f $results/done ]]; then
	log "the guest ended without reporting (qemu exit $rc)"
	fail=1
fi
while read -r bin dir re mode envs; do
	name=$(basename "$bin" .test)
	code=$(cat "$results/$name.rc" 2>/dev/null || echo missing)
	summary=$(grep -cE '^(=== RUN|--- PASS|--- FAIL|--- SKIP)' "$results/$name.log" 2>/dev/null || true)
	pass=$(grep -cE '^\s*--- PASS' "$results/$name.log" 2>/dev/null || true)
	failn=$(grep -cE '^\s*--- FAIL' "$results/$name.log" 2>/dev/null || true)
	skip=$(grep -cE '^\s*--- SKIP' "$results/$name.log" 2>/dev/null || true)
	log "$name: exit $code, $pass passed, $failn failed, $skip skipped (-run $re, $mode${envs:+, $envs})"
	: "$summary" "$dir"
	# The guest starts with no cgroup below the root: whatever a binary's tests left is a leak.
	if [[ -s $results/$name.cgroups-left ]]; then
		log "$name left cgroups behind:"
		sed 's/^/  /' "$results/$name.cgroups-left" >&2
		fail=1
	fi
	if [[ $code != 0 ]]; then
		fail=1
		grep -E -B2 -A20 '^\s*--- FAIL|^panic:|test timed out' "$results/$name.log" | head -150 >&2 || true
	fi
done <"$results/plan"
log "guest run took ${secs}s (including any wait for the lock)"
rm -f "$disk"
exit $fail
