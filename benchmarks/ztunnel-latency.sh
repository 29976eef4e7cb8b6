#!/usr/bin/env bash
# ztunnel on the local cluster (DESIGN §9): HTTP/1.1 at a fixed rate, SIZE-byte replies, keep-alive,
# open-loop, from a client pod on node-1 to a server pod on node-2 through the Service VIP, with
# the baseline in the same run:
#   no mesh      the namespace not enrolled: kube-proxy DNAT, plaintext pod to pod
#   ambient L4   the namespace enrolled live: client -> ztunnel node-1 -> HBONE -> ztunnel node-2 -> server
# Reports the latency the mesh adds (p50/p90/p99), each ztunnel's CPU per 1000 req/s (utime+stime
# from /proc over the measured window) and RSS (idle, and after the load).
# Writes a Markdown table to stdout and to benchmarks/results/ztunnel-<UTC timestamp>.md.
#
# usage: benchmarks/ztunnel-latency.sh     (as root; builds through ./mesh; tears the cluster down)
# env:   RATE (1000 req/s), SECONDS_RUN (20), SIZE (1024 bytes), CONNS (4 connections), WARMUP (10 s,
#        a run before each measured one, so JIT compilation is not charged to the figures),
#        MESH_ZTUNNEL_JVM_FLAGS (ztunnel's JVM flags instead of the defaults, for comparisons)
set -euo pipefail

RATE=${RATE:-1000}
SECONDS_RUN=${SECONDS_RUN:-20}
SIZE=${SIZE:-1024}
CONNS=${CONNS:-4}
WARMUP=${WARMUP:-10}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mesh="$root/mesh"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$here/results/ztunnel-$stamp.md"
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"; "$mesh" down >/dev/null 2>&1 || true' EXIT

[ "$(id -u)" = 0 ] || { echo "ztunnel-latency.sh: needs root (network namespaces)" >&2; exit 2; }
"$JAVA_HOME/bin/javac" -d "$probe_dir" "$here/LatencyProbe.java"

"$mesh" down >/dev/null 2>&1 || true
"$mesh" up --nodes 2 --mesh >/dev/null
yaml=$(mktemp)
cat >"$yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: bench, labels: {app: server}}
spec:
  nodeSelector: {kubernetes.io/hostname: node-2}
  containers:
  - name: http-echo
    image: sample/http-echo
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: bench}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: bench}
spec:
  nodeSelector: {kubernetes.io/hostname: node-1}
  containers: [{name: sleep, image: sample/sleep}]
EOF
"$mesh" kubectl apply -f "$yaml" >/dev/null
rm -f "$yaml"
ready() { [ "$("$mesh" kubectl get -n bench "pod/$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
for i in $(seq 1 120); do ready server && ready client && break; sleep 0.5; done
ready server && ready client || { echo "ztunnel-latency.sh: bench pods not ready in 60 s" >&2; exit 1; }

jsonpath() { "$mesh" kubectl get -n bench "$1" -o "jsonpath=$2"; }
vip=$(jsonpath svc/server '{.spec.clusterIP}')
netns=$(jsonpath pod/client '{.metadata.annotations.mesh\.local/netns}')
ztunnel_pid() { pgrep -f -- "-Dmesh.component=ztunnel@$1" | head -n1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
uticks() { awk '{print $14}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

until ip netns exec "$netns" curl -sf --max-time 2 "http://$vip/" >/dev/null; do sleep 0.5; done

# probe [SECONDS]: runs the load and prints "p50 p90 p99 max"; CPU is sampled around it
probe() {
    ip netns exec "$netns" "$JAVA_HOME/bin/java" -XX:+UseSerialGC -cp "$probe_dir" LatencyProbe \
        http "$vip:80" "$RATE" "${1:-$SECONDS_RUN}" "$SIZE" "$CONNS"
}

echo "no mesh: $RATE req/s, ${SECONDS_RUN}s, $SIZE-byte replies, $CONNS connections" >&2
probe "$WARMUP" >/dev/null
read -r b50 b90 b99 bmax < <(probe)

"$mesh" kubectl label ns bench istio.io/dataplane-mode=ambient >/dev/null
until [ "$(jsonpath pod/server '{.metadata.annotations.ambient\.istio\.io/redirection}')" = enabled ] \
   && [ "$(jsonpath pod/client '{.metadata.annotations.ambient\.istio\.io/redirection}')" = enabled ]; do sleep 0.5; done
until ip netns exec "$netns" curl -sf --max-time 2 "http://$vip/" >/dev/null \
   && grep -q 'via="hbone' /run/mesh/logs/ztunnel-node-1.log; do sleep 0.5; done
sleep 2
z1=$(ztunnel_pid node-1); z2=$(ztunnel_pid node-2)
idle1=$(rss_mib "$z1"); idle2=$(rss_mib "$z2")

echo "ambient L4: warm-up (${WARMUP}s, not measured), then the same load through both ztunnels" >&2
probe "$WARMUP" >/dev/null
t1=$(ticks "$z1"); t2=$(ticks "$z2"); u1=$(uticks "$z1"); u2=$(uticks "$z2"); w0=$(date +%s.%N)
read -r m50 m90 m99 mmax < <(probe)
w1=$(date +%s.%N)
c1=$(( $(ticks "$z1") - t1 )); c2=$(( $(ticks "$z2") - t2 ))
cu1=$(( $(uticks "$z1") - u1 )); cu2=$(( $(uticks "$z2") - u2 ))
load1=$(rss_mib "$z1"); load2=$(rss_mib "$z2")
if ! grep -q 'via="hbone' /run/mesh/logs/ztunnel-node-1.log; then
    echo "ztunnel-latency.sh: the load did not go through HBONE" >&2; exit 1
fi

FLAGS=${MESH_ZTUNNEL_JVM_FLAGS:-}
python3 - "$out" <<EOF
import sys
rate, secs = $RATE, $SECONDS_RUN
wall = $w1 - $w0
def vcpu(ticks):  # vCPU per 1000 req/s over the measured run (the probe's own first second included)
    return ticks / $hz / wall / (rate / 1000)
rows = [
  ("p50 ms", $b50, $m50), ("p90 ms", $b90, $m90), ("p99 ms", $b99, $m99), ("max ms", $bmax, $mmax)]
lines = ["# ztunnel: $RATE req/s HTTP/1.1, $SIZE-byte replies, $CONNS keep-alive connections, node-1 -> node-2 via the Service VIP ($stamp)", "",
         "| latency | no mesh | ambient L4 (2 ztunnels) | added by the mesh |", "|---|---|---|---|"]
for name, b, m in rows:
    lines.append(f"| {name} | {b:.3f} | {m:.3f} | {m - b:+.3f} |")
lines += ["", "| ztunnel | CPU, vCPU per 1000 req/s | of which user space | RSS idle, MiB | RSS after the load, MiB |",
          "|---|---|---|---|---|",
          f"| node-1 (client side) | {vcpu($c1):.3f} | {vcpu($cu1):.3f} | $idle1 | $load1 |",
          f"| node-2 (server side) | {vcpu($c2):.3f} | {vcpu($cu2):.3f} | $idle2 | $load2 |", "",
          "System time includes the kernel's packet path of the emulated nodes (veth, bridge, netfilter in",
          "several namespaces), which runs in the sending thread's context and is charged to ztunnel here.", "",
          "ztunnel JVM flags: " + ("$FLAGS" or "the defaults of ClusterUp.ZTUNNEL_JVM_FLAGS"), "",
          "Reproduce: \`benchmarks/ztunnel-latency.sh\` (env RATE, SECONDS_RUN, SIZE, CONNS, WARMUP, MESH_ZTUNNEL_JVM_FLAGS)."]
text = "\n".join(lines) + "\n"
open(sys.argv[1], "w").write(text)
print(text)
EOF
