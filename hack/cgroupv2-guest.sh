#!/bin/bash
# PID 1 of the cgroup v2 guest (see hack/cgroupv2.sh), on the host's root shared read-only over
# 9p: give the guest writable tmpfs dirs, the kernel's modules, a pure cgroup2 hierarchy with every
# controller enabled for children, loopback; run each planned test binary with a timeout; write
# logs and exit codes to the results export; power off. Bash as PID 1 also reaps orphans (its
# SIGCHLD handler waits for any child), as tests that check for leftover processes need.
set -u
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
arg() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
repo=$(arg crishim_repo)
kdir=$(arg crishim_kdir)
results=$(arg crishim_results)
bye() {
	sync
	umount "$results" 2>/dev/null
	/bin/busybox poweroff -f
	sleep 60
}
fail() {
	echo "cgroupv2-guest: $*"
	echo "$*" >"$results/guest-error" 2>/dev/null
	bye
}

mount --make-rshared /
for d in /run /var/tmp /var/lib /var/log; do
	mount -t tmpfs -o mode=0755 tmpfs "$d" || fail "tmpfs on $d"
done
# The guest kernel's modules, for the kernel's own module requests (overlay, veth, bridge,
# nf_tables...): the host has no /lib/modules for this kernel, so the kernel's modprobe is the
# host's kmod pointed at the unpacked package.
kver=$(uname -r)
[[ -d $kdir/lib/modules/$kver ]] || fail "no modules for $kver under $kdir"
printf '#!/bin/sh\nexec /sbin/modprobe -d %s "$@"\n' "$kdir" >/run/modprobe
chmod 755 /run/modprobe
echo /run/modprobe >/proc/sys/kernel/modprobe
# /tmp (the tests' temp dirs, rootfs templates, daemon dirs): the ext4 disk the host made.
/run/modprobe virtio_blk || fail "modprobe virtio_blk"
for _ in $(seq 100); do [[ -b /dev/vda ]] && break; sleep 0.1; done
mount -t ext4 /dev/vda /tmp || fail "mount /dev/vda (ext4) on /tmp"
chmod 1777 /tmp /var/tmp
# The repo (its _output: e2e work dirs, tool and image caches) and /root (Go's build and module
# caches) stay readable as on the host and take writes in the guest's memory: an overlay with the
# 9p dir as its lower layer.
mkdir -p /run/ovl
for d in "$repo" /root; do
	u=/run/ovl/$(echo "$d" | tr / _)
	mkdir -p "$u/up" "$u/work"
	mount -t overlay -o "lowerdir=$d,upperdir=$u/up,workdir=$u/work" overlay "$d" || fail "overlay on $d"
done
mount -t 9p -o trans=virtio,version=9p2000.L results "$results" || fail "cannot mount the results export"
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx 2>/dev/null || mount --bind /dev/pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
# Pure cgroup v2, as systemd hosts mount it.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || fail "enable controller $c"
done
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ip link set lo up
hostname cgroupv2-guest
{
	echo "kernel $(uname -r)"
	echo "cgroup.controllers $(cat /sys/fs/cgroup/cgroup.controllers)"
	echo "cgroup.subtree_control $(cat /sys/fs/cgroup/cgroup.subtree_control)"
	grep cgroup /proc/self/mountinfo
	echo "cpus $(nproc) $(grep MemTotal /proc/meminfo)"
	echo "uptime at init $(cut -d' ' -f1 /proc/uptime)s"
} >"$results/env"
cat "$results/env"

per_test=${CGV2_PER_TEST:-25m}
while read -r bin dir re mode envs; do
	name=$(basename "$bin" .test)
	read -r -a envs <<<"$envs"
	echo "cgroupv2-guest: running $name${re:+ -run $re}"
	start=$(date +%s)
	args=(-test.v -test.count=1 -test.timeout="$per_test")
	[[ $mode == short ]] && args+=(-test.short)
	[[ $re != - ]] && args+=(-test.run "$re")
	(cd "$dir" && env "${envs[@]}" timeout -k 20s "$per_test" "$bin" "${args[@]}") >"$results/$name.log" 2>&1
	rc=$?
	echo "$rc" >"$results/$name.rc"
	echo "cgroupv2-guest: $name exit $rc after $(($(date +%s) - start))s (uptime $(cut -d' ' -f1 /proc/uptime)s)"
	# What the tests left behind, for the host's report.
	find /sys/fs/cgroup -mindepth 1 -type d >"$results/$name.cgroups-left"
done <"$results/plan"
dmesg >"$results/dmesg"
touch "$results/done"
bye
