#!/usr/bin/env bash
# Benchmarks crishim against containerd on this machine, side by side, in one run.
#
# Starts Debian's containerd and the built crishim daemon (_output/shim) on their own
# sockets, root and state dirs (a temp dir), both pulling from the same in-process loopback
# registry (served by cribench, mirrored under the fake host bench.local) and both using a
# bridge CNI network of their own; then runs `cribench run` with the two endpoints
# interleaved, prints the table (ratios crishim/containerd) and writes the JSON report. It
# stops what it started and removes what the runtimes left (pods, mounts, cgroups, bridges).
#
# Environment:
#   BENCH_RUNTIMES   runtimes to measure, in order (default "containerd crishim"; the first
#                    is the baseline of the ratios)
#   BENCH_OUT        directory for the JSON report and daemon logs (default _output/bench)
#   BENCH_KEEP=1     keep the temp dir (configs, logs) for inspection
#   SHIM_BIN         crishim binary (default _output/shim, built with `make build`)
#   BENCH_PERF=1     record each daemon with `perf record -g` during the run; a summary of the
#                    hottest symbols goes to $BENCH_OUT/perf-<runtime>.txt
# Any argument is passed to `cribench run` (e.g. --serial 50 --scenarios pods,exec -v).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
runtimes=${BENCH_RUNTIMES:-containerd crishim}
out=${BENCH_OUT:-$repo/_output/bench}
shim_bin=${SHIM_BIN:-$repo/_output/shim}
registry_host=bench.local

if [[ $(id -u) -ne 0 ]]; then
	echo "bench: must run as root (it starts container runtimes)" >&2
	exit 1
fi
CRISHIM_BENCH=1 bash hack/install-deps.sh
mkdir -p "$out"

work=$(mktemp -d "${TMPDIR:-/tmp}/crishim-bench.XXXXXX")
run_id=$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
cgroup_parent=/crishim-bench-$run_id
pids=()
endpoints=()
extra=()
daemons=() # name=pid

log() { echo "bench: $*" >&2; }

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# pids_with ARG...: pids whose command line contains every ARG.
pids_with() {
	local p cmd a ok
	for p in /proc/[0-9]*; do
		{ cmd=$(tr '\0' ' ' <"$p/cmdline"); } 2>/dev/null || continue
		[[ -n $cmd ]] || continue
		ok=1
		for a in "$@"; do [[ $cmd == *"$a"* ]] || ok=0; done
		((ok)) && echo "${p#/proc/}"
	done
	return 0
}

cleanup() {
	set +e
	if ((${#endpoints[@]})); then
		"$work/bin/cribench" cleanup "${endpoints[@]}" >&2
	fi
	for pid in "${pids[@]}"; do stop_pid "$pid"; done
	# Per-pod processes the daemons started: containerd's shims and crishim's monitors are
	# recognised by our unique work dir in their command lines.
	for pid in $(pids_with containerd-shim "$work/") $(pids_with " monitor --socket " "$work/"); do
		kill -KILL "$pid" 2>/dev/null
	done
	sleep 0.5
	# Mounts (rootfs, netns, shm) under the work dir, deepest first.
	awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	for br in cni0-bench crishim-bench; do
		ip link show "$br" >/dev/null 2>&1 && ip link del "$br"
	done
	cleanup_iptables
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
		[[ -d $h$cgroup_parent ]] && find "$h$cgroup_parent" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cleanup_iptables removes the NAT rules and chains the bridge plugin made for our networks
# (normally gone with each pod's CNI DEL; left only after a crash).
cleanup_iptables() {
	command -v iptables-save >/dev/null || return 0
	local net rule chain
	for net in cribench-containerd cribench-crishim; do
		iptables-save -t nat 2>/dev/null | grep -F "name: \\\"$net\\\"" | grep '^-A POSTROUTING' | while read -r rule; do
			chain=$(sed -n 's/.* -j \(CNI-[0-9a-f]*\).*/\1/p' <<<"$rule")
			eval "iptables -t nat ${rule/-A /-D }" 2>/dev/null
			[[ -n $chain ]] && iptables -t nat -F "$chain" 2>/dev/null && iptables -t nat -X "$chain" 2>/dev/null
		done
	done
}

# write_cni DIR NAME BRIDGE SUBNET: a bridge + host-local + portmap network like crishim's default.
write_cni() {
	mkdir -p "$1"
	cat >"$1/10-$2.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$2",
  "plugins": [
    {"type": "bridge", "bridge": "$3", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$4"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$1/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}
EOF
}

# wait_socket PATH PID NAME: wait until the daemon serves its socket (or died).
wait_socket() {
	local i
	for i in $(seq 300); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || { log "$3 exited; log:"; tail -20 "$work/$3.log" >&2; return 1; }
		sleep 0.1
	done
	log "$3 did not create $1 in 30 s"
	return 1
}

start_containerd() {
	local d=$work/containerd
	mkdir -p "$d"
	write_cni "$d/net.d" cribench-containerd cni0-bench 10.99.0.0/16
	cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$registry_host/cribench/pause:1"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$registry_host"]
    endpoint = ["http://127.0.0.1:$port"]
EOF
	containerd --config "$d/config.toml" >"$work/containerd.log" 2>&1 &
	pids+=($!)
	wait_socket "$d/containerd.sock" $! containerd || return 1
	endpoints+=(--endpoint "containerd=unix://$d/containerd.sock")
	daemons+=("containerd=$!")
	extra+=(--daemon-pid "containerd=$!" --pod-procs "containerd=containerd-shim-runc-v2,$d/containerd.sock")
}

start_crishim() {
	local d=$work/crishim
	if [[ ! -x $shim_bin && -z ${SHIM_BIN:-} ]]; then
		make build >&2
	fi
	if [[ ! -x $shim_bin ]]; then
		log "no crishim binary at $shim_bin (make build): crishim not measured"
		return 1
	fi
	mkdir -p "$d"
	write_cni "$d/net.d" cribench-crishim crishim-bench 10.98.0.0/16
	"$shim_bin" config default >"$d/default.toml"
	local monitor=()
	if [[ -x $(dirname "$shim_bin")/crishim-monitor ]]; then
		# the dedicated small monitor binary, when the build makes one
		monitor=(--set "runtime.monitor_path=\"$(dirname "$shim_bin")/crishim-monitor\"")
	fi
	# Keys the current binary does not know are skipped (sections land as crishim grows).
	"$work/bin/cribench" tomlset --base "$d/default.toml" \
		--set "root_dir=\"$d/root\"" --set "state_dir=\"$d/state\"" --set "socket=\"$d/crishim.sock\"" \
		--set "log_level=\"info\"" \
		--set "cni.conf_dir=\"$d/net.d\"" --set "cni.bin_dirs=[\"/usr/lib/cni\"]" \
		--set "cni.cache_dir=\"$d/cni\"" --set "cni.write_default=false" \
		--set "runtime.restrict_oom_score_adj=true" "${monitor[@]}" \
		--set "images.registries={\"$registry_host\"={mirrors=[\"http://127.0.0.1:$port\"]}}" \
		>"$d/config.toml"
	"$shim_bin" daemon --config "$d/config.toml" >"$work/crishim.log" 2>&1 &
	pids+=($!)
	wait_socket "$d/crishim.sock" $! crishim || return 1
	endpoints+=(--endpoint "crishim=unix://$d/crishim.sock")
	daemons+=("crishim=$!")
	extra+=(--daemon-pid "crishim=$!" --pod-procs "crishim= monitor --socket ,$d/")
}

log "building cribench"
mkdir -p "$work/bin"
go build -o "$work/bin/cribench" ./test/bench/cmd/cribench
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/bin/benchhelper" ./test/bench/cmd/benchhelper
port=$("$work/bin/cribench" freeport)

for rt in $runtimes; do
	case $rt in
	containerd) log "containerd $(containerd --version | awk '{print $3}')"; start_containerd || log "containerd not measured" ;;
	crishim) start_crishim || log "crishim not measured" ;;
	*) log "unknown runtime $rt"; exit 2 ;;
	esac
done
if ((${#endpoints[@]} == 0)); then
	log "no runtime started"
	exit 1
fi

perf_pids=()
if [[ ${BENCH_PERF:-} == 1 ]] && command -v perf >/dev/null; then
	for spec in "${daemons[@]}"; do
		rt=${spec%%=*} pid=${spec#*=}
		perf record -q -F 199 -g -o "$out/perf-$rt.data" -p "$pid" >/dev/null 2>&1 &
		perf_pids+=("$!:$rt")
	done
fi

log "running scenarios (logs: $work/*.log)"
status=0
"$work/bin/cribench" run "${endpoints[@]}" "${extra[@]}" \
	--registry-listen "127.0.0.1:$port" --registry-host "$registry_host" \
	--helper-bin "$work/bin/benchhelper" --cgroup-parent "$cgroup_parent" \
	--json "$out/bench.json" "$@" | tee "$out/bench.txt" || status=$?
for pp in "${perf_pids[@]}"; do
	kill -INT "${pp%%:*}" 2>/dev/null || true
	wait "${pp%%:*}" 2>/dev/null || true
	{ perf report -q --stdio --no-children --sort symbol -g none -i "$out/perf-${pp#*:}.data" 2>/dev/null |
		grep '%' | sed 's/  *-  *-  *$//' | head -40 >"$out/perf-${pp#*:}.txt"; } || true
	log "perf profile of ${pp#*:}: $out/perf-${pp#*:}.txt"
done
cp "$work"/*.log "$out/" 2>/dev/null || true
exit $status
