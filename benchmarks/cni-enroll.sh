#!/usr/bin/env bash
# The CNI plugin and node agent on the local cluster (issue 7), two figures:
#   (i)  CNI ADD latency, process start included: the plugin node-1's agent installed
#        (/run/mesh/nodes/node-1/cni-bin/mesh-cni) exec'd as a runtime does it (CNI_* environment,
#        the conflist's mesh-cni entry with a prevResult on stdin), ADD_RUNS times per case, each
#        against a fresh throwaway network namespace made for it and deleted after it:
#          captured     a pod of an ambient namespace: the agent hands the namespace to ztunnel,
#                       installs the capture rules and the probe SNAT before it answers. ztunnel
#                       acks a pod once its inbound HBONE listener has the identity's certificate,
#                       and the CA gives a node only certificates of identities with a pod on it,
#                       so a pod of the same identity (cni-bench/anchor) runs on node-1 first and
#                       is enrolled: the ADDs are of a pod whose certificate ztunnel holds (a new
#                       replica). The first pod of an identity new to the node also waits for
#                       ztunnel's certificate fetch; that is part of figure (ii).
#          not ambient  a pod of a plain namespace: the agent looks it up and answers "skipped"
#          excluded     kube-system: the plugin passes prevResult through without asking the agent
#                       (the plugin's own floor: JVM start, reading the config, writing the result)
#        The pods named in CNI_ARGS exist in the API but are bound to a node no kubelet runs, so
#        nothing but this script creates sandboxes for them.
#   (ii) time to enroll PODS running pods after the label: a Deployment of PODS sample/sleep pods
#        spread over both nodes, all Ready, then `kubectl label ns ... istio.io/dataplane-mode=ambient`;
#        measured from just before the label command until every pod carries
#        ambient.istio.io/redirection=enabled (polled with kubectl as fast as it answers).
#        Afterwards (not timed) every pod must carry the capture rules, be served by its node's
#        ztunnel (its /config_dump lists the pod's IP) and not have restarted; the script exits
#        non-zero if not, after writing the table.
#        WARM_IDENTITY=1 first enrolls one pod of the same identity per node (pod label
#        istio.io/dataplane-mode=ambient), so each ztunnel already holds the namespace's
#        certificate when the label comes: the agent's own pace, without the first fetch.
# Writes a Markdown table to stdout and to benchmarks/results/cni-<UTC timestamp>.md.
#
# usage: benchmarks/cni-enroll.sh     (as root; builds through ./mesh; tears the cluster down)
# env:   ADD_RUNS (50 per case), PODS (100), WARM_IDENTITY (0)
set -euo pipefail

ADD_RUNS=${ADD_RUNS:-50}
PODS=${PODS:-100}
WARM_IDENTITY=${WARM_IDENTITY:-0}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mesh="$root/mesh"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$here/results/cni-$stamp.md"
work=$(mktemp -d)
sandbox=""
cleanup() {
    [ -n "$sandbox" ] && ip netns del "$sandbox" 2>/dev/null || true
    rm -rf "$work"
    "$mesh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "cni-enroll.sh: needs root (network namespaces)" >&2; exit 2; }
kubectl() { "$mesh" kubectl "$@"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
"$mesh" down >/dev/null 2>&1 || true
"$mesh" up --nodes 2 --mesh >/dev/null
export MESH_SKIP_BUILD=1   # built by `up`; the many kubectl calls below need not check again

# ---- (i) CNI ADD ----

exe=/run/mesh/nodes/node-1/cni-bin/mesh-cni
conflist=/run/mesh/nodes/node-1/net.d/10-mesh.conflist
for _ in $(seq 100); do [ -x "$exe" ] && grep -q mesh-cni "$conflist" && break; sleep 0.1; done
[ -x "$exe" ] || { echo "cni-enroll.sh: $exe was not installed by the node agent" >&2; exit 1; }

# Pods for the ADDs to name: bound to a node without a kubelet, so only this script makes sandboxes.
{
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: cni-bench, labels: {istio.io/dataplane-mode: ambient}}\n'
    printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: cni-plain}\n'
    for ns in cni-bench cni-plain; do
        for i in $(seq "$ADD_RUNS"); do
            printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: add-%d, namespace: %s}\n' "$i" "$ns"
            printf 'spec: {nodeName: cni-bench-nowhere, containers: [{name: sleep, image: sample/sleep}]}\n'
        done
    done
} >"$work/add-pods.yaml"
kubectl apply -f "$work/add-pods.yaml" >/dev/null
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: anchor, namespace: cni-bench}\nspec: {nodeName: node-1, containers: [{name: sleep, image: sample/sleep}]}\n' \
    | kubectl apply -f - >/dev/null
for _ in $(seq 120); do
    [ "$(kubectl get pod -n cni-bench anchor -o jsonpath='{.metadata.annotations.ambient\.istio\.io/redirection}' 2>/dev/null)" = enabled ] && break
    sleep 0.5
done
[ "$(kubectl get pod -n cni-bench anchor -o jsonpath='{.metadata.annotations.ambient\.istio\.io/redirection}')" = enabled ] \
    || { echo "cni-enroll.sh: cni-bench/anchor was not enrolled on node-1" >&2; exit 1; }

# add_once CASE NAMESPACE I: one timed ADD against a fresh namespace; prints the milliseconds.
add_once() {
    local case=$1 ns=$2 i=$3 uid start elapsed rc
    sandbox="mesh-bench-add-$i"
    ip netns add "$sandbox"
    ip netns exec "$sandbox" ip link set lo up
    uid=$(kubectl get pod -n "$ns" "add-$i" -o jsonpath='{.metadata.uid}' 2>/dev/null || echo "uid-$i")
    python3 - "$conflist" "$sandbox" "$i" >"$work/conf.json" <<'EOF'
import json, sys
conflist, netns, i = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
conf = next(p for p in conflist["plugins"] if p["type"] == "mesh-cni")
conf.update(cniVersion=conflist["cniVersion"], name=conflist["name"])
# A documentation-only range, outside every pod CIDR: the probe SNAT made for it hits nothing real.
conf["prevResult"] = {"cniVersion": conflist["cniVersion"],
                      "interfaces": [{"name": "eth0", "sandbox": "/run/netns/" + netns}],
                      "ips": [{"address": f"198.18.{i // 250}.{i % 250 + 1}/24", "interface": 0}], "dns": {}}
print(json.dumps(conf))
EOF
    start=$(date +%s%N)
    rc=0
    CNI_COMMAND=ADD CNI_CONTAINERID="bench-$case-$i" CNI_NETNS="/run/netns/$sandbox" CNI_IFNAME=eth0 \
        CNI_PATH="$(dirname "$exe"):/usr/lib/cni" \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=add-$i;K8S_POD_UID=$uid" \
        "$exe" <"$work/conf.json" >"$work/result.json" || rc=$?
    elapsed=$(ms_since "$start")
    if [ "$rc" != 0 ] || ! grep -q '"198.18.' "$work/result.json"; then
        echo "cni-enroll.sh: ADD $case #$i failed (exit $rc): $(cat "$work/result.json")" >&2; exit 1
    fi
    # Not timed: the case did what it says.
    if [ "$case" = captured ] && ! ip netns exec "$sandbox" iptables -t nat -S ISTIO_OUTPUT 2>/dev/null | grep -q -- '--to-ports 15001'; then
        echo "cni-enroll.sh: ADD captured #$i returned without the capture rules in place" >&2; exit 1
    fi
    CNI_COMMAND=DEL CNI_CONTAINERID="bench-$case-$i" CNI_NETNS="/run/netns/$sandbox" CNI_IFNAME=eth0 \
        CNI_PATH="$(dirname "$exe"):/usr/lib/cni" \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=add-$i;K8S_POD_UID=$uid" \
        "$exe" <"$work/conf.json" >/dev/null
    ip netns del "$sandbox"
    sandbox=""
    echo "$elapsed"
}

# stats FILE: "p50 p99 min mean max" of one number per line (nearest rank)
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
        r50 = int(NR * 0.50); if (r50 < NR * 0.50) r50++; r99 = int(NR * 0.99); if (r99 < NR * 0.99) r99++;
        printf "%d %d %d %.0f %d\n", v[r50], v[r99], v[1], s / NR, v[NR] }'
}

for case in captured "not ambient" excluded; do
    case $case in
        captured) ns=cni-bench ;;
        "not ambient") ns=cni-plain ;;
        excluded) ns=kube-system ;;
    esac
    echo "CNI ADD, $case: $ADD_RUNS runs" >&2
    : >"$work/add-${case// /-}.txt"
    for i in $(seq "$ADD_RUNS"); do
        add_once "${case// /-}" "$ns" "$i" >>"$work/add-${case// /-}.txt"
    done
done
exe_copy="$work/mesh-cni"
cp "$exe" "$exe_copy"
# Gone pods leave nothing behind: the agents tell ztunnel and drop their probe SNAT.
kubectl delete pods --all -n cni-bench --wait=false >/dev/null
kubectl delete pods --all -n cni-plain --wait=false >/dev/null

# ---- (ii) enrolling running pods ----

cat >"$work/enroll.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: enroll-bench}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleep, namespace: enroll-bench}
spec:
  replicas: $PODS
  selector: {matchLabels: {app: sleep}}
  template:
    metadata: {labels: {app: sleep}}
    spec:
      containers: [{name: sleep, image: sample/sleep}]
EOF
if [ "$WARM_IDENTITY" = 1 ]; then
    for node in node-1 node-2; do
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: warm-%s, namespace: enroll-bench, labels: {istio.io/dataplane-mode: ambient}}\n' "$node"
        printf 'spec: {nodeSelector: {kubernetes.io/hostname: %s}, containers: [{name: sleep, image: sample/sleep}]}\n' "$node"
    done >>"$work/enroll.yaml"
fi
kubectl apply -f "$work/enroll.yaml" >/dev/null
# Only the Deployment's pods are counted (app=sleep); warm-up pods are not.
ready_count() {
    kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
        | grep -c '^True$' || true
}
annotated_count() {
    kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.metadata.annotations.ambient\.istio\.io/redirection}{"\n"}{end}' \
        | grep -c '^enabled$' || true
}
echo "waiting for $PODS pods to run" >&2
deadline=$((SECONDS + 300))
until [ "$(ready_count)" = "$PODS" ]; do
    [ $SECONDS -lt $deadline ] || { echo "cni-enroll.sh: $PODS pods not ready within 300 s" >&2; exit 1; }
    sleep 1
done
spread=$(kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c \
    | awk '{printf "%s%s: %d", sep, $2, $1; sep = ", "}')
lifetimes() {
    kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.metadata.uid} {.status.startTime} {.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort
}
lifetimes >"$work/before.txt"
if [ "$WARM_IDENTITY" = 1 ]; then
    until [ "$(kubectl get pods -n enroll-bench -l istio.io/dataplane-mode=ambient \
            -o jsonpath='{range .items[*]}{.metadata.annotations.ambient\.istio\.io/redirection}{"\n"}{end}' | grep -c '^enabled$')" = 2 ]; do
        [ $SECONDS -lt $deadline ] || { echo "cni-enroll.sh: warm-up pods not enrolled" >&2; exit 1; }
        sleep 1
    done
fi

echo "labelling enroll-bench ambient" >&2
start=$(date +%s%N)
kubectl label ns enroll-bench istio.io/dataplane-mode=ambient >/dev/null
first=""
polls=0
while :; do
    n=$(annotated_count)
    polls=$((polls + 1))
    [ -n "$first" ] || [ "$n" = 0 ] || first=$(ms_since "$start")
    [ "$n" = "$PODS" ] && break
    if [ "$(ms_since "$start")" -gt 120000 ]; then
        echo "cni-enroll.sh: only $n of $PODS pods annotated after 120 s" >&2; exit 1
    fi
done
enroll_ms=$(ms_since "$start")
poll_ms=$((enroll_ms / polls))

# Where the time went, per node, from the components' logs (HH:MM:SS.mmm, this machine's clock):
# ztunnel's first "serving pod" of the Deployment's pods is its first hand-off ack (with
# WARM_IDENTITY=0 the identity's certificate is fetched first), the agent's first and last
# "enrolled" its first and last annotation.
log_ms() {
    local t
    t=$(grep -h "$2" "$1" 2>/dev/null | "$3" -n1 | cut -d' ' -f1)
    [ -n "$t" ] || { echo "?"; return; }
    echo $(( $(date -d "$(date +%F) $t" +%s%3N) - start / 1000000 ))
}
breakdown=""
for node in node-1 node-2; do
    breakdown+="| $node: label → ztunnel acked its first pod / → agent annotated its first pod / → its last | $(log_ms "/run/mesh/logs/ztunnel-$node.log" "serving pod enroll-bench/sleep-" head) / $(log_ms "/run/mesh/logs/cni-agent-$node.log" "enrolled enroll-bench/sleep-" head) / $(log_ms "/run/mesh/logs/cni-agent-$node.log" "enrolled enroll-bench/sleep-" tail) ms |"$'\n'
done

# Not timed: every pod really carries the rules, and none restarted.
redirected=0
for netns in $(kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.metadata.annotations.mesh\.local/netns}{"\n"}{end}'); do
    if ip netns exec "$netns" iptables -t nat -S ISTIO_OUTPUT 2>/dev/null | grep -q -- '--to-ports 15001'; then
        redirected=$((redirected + 1))
    fi
done
lifetimes >"$work/after.txt"
if cmp -s "$work/before.txt" "$work/after.txt"; then unchanged=yes; else unchanged=no; fi
# ztunnel takes each pod over the hand-off after the agent sent it: allow it a while.
served=0
for _ in $(seq 30); do
    for node in node-1 node-2; do
        ip netns exec "mesh-$node" curl -sS --max-time 3 http://127.0.0.1:15000/config_dump >"$work/dump-$node.json" 2>/dev/null || true
    done
    served=0
    while read -r node podip; do
        if grep -q "\"ip\" : \"$podip\"" "$work/dump-$node.json"; then served=$((served + 1)); fi
    done < <(kubectl get pods -n enroll-bench -l app=sleep -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.podIP}{"\n"}{end}')
    [ "$served" = "$PODS" ] && break
    sleep 1
done

# ---- report ----

read -r c50 c99 cmin cmean cmax < <(stats "$work/add-captured.txt")
read -r n50 n99 nmin nmean nmax < <(stats "$work/add-not-ambient.txt")
read -r e50 e99 emin emean emax < <(stats "$work/add-excluded.txt")
verdict() { if [ "$1" -le "$2" ]; then echo "met"; else echo "**not met**"; fi; }
{
    echo "# CNI plugin and node agent: ADD latency and enrolling $PODS running pods ($stamp)"
    echo
    echo "| CNI ADD, process start included ($ADD_RUNS runs each) | p50 ms | p99 ms | min ms | mean ms | max ms |"
    echo "|---|---|---|---|---|---|"
    echo "| captured (ambient pod, identity's certificate held: hand-off to ztunnel, rules, probe SNAT) | $c50 | $c99 | $cmin | $cmean | $cmax |"
    echo "| not ambient (the agent answers \"skipped\") | $n50 | $n99 | $nmin | $nmean | $nmax |"
    echo "| excluded namespace (no agent call: the plugin's floor) | $e50 | $e99 | $emin | $emean | $emax |"
    echo
    echo "| enrolling running pods | value |"
    echo "|---|---|"
    echo "| pods, by node | $PODS ($spread) |"
    echo "| their identity's certificate already held by ztunnel | $([ "$WARM_IDENTITY" = 1 ] && echo "yes (WARM_IDENTITY=1)" || echo "no: the label brings the identity's first pods") |"
    echo "| label → first pod annotated | $first ms |"
    echo "| label → all $PODS annotated \`ambient.istio.io/redirection=enabled\` | $enroll_ms ms |"
    echo "| resolution (one kubectl poll) | ~$poll_ms ms |"
    printf '%s' "$breakdown"
    echo "| pods with the capture rules afterwards | $redirected / $PODS |"
    echo "| pods served by their node's ztunnel afterwards | $served / $PODS |"
    echo "| uid, startTime, restartCount unchanged | $unchanged |"
    echo
    echo "| goal (issue 7) | measured | |"
    echo "|---|---|---|"
    echo "| ADD p50 ≤ 150 ms, process start included | $c50 ms (captured) | $(verdict "$c50" 150) |"
    echo "| 100 pods enrolled ≤ 3 s | $enroll_ms ms for $PODS | $(verdict "$enroll_ms" 3000) |"
    echo
    echo "Machine: $(nproc) vCPU shared with other work (another engineer's builds may run meanwhile), $(uname -r), $("$JAVA_HOME/bin/java" -version 2>&1 | head -n1);"
    echo "load average (1, 5, 15 min) before the cluster came up: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "The plugin is the wrapper the agent installs: \`$(grep '^exec' "$exe_copy")\`."
    echo
    echo "Reproduce: \`benchmarks/cni-enroll.sh\` (as root; env ADD_RUNS, PODS, WARM_IDENTITY)."
} | tee "$out"
if [ "$redirected" != "$PODS" ] || [ "$served" != "$PODS" ] || [ "$unchanged" != yes ]; then
    echo "cni-enroll.sh: enrollment left pods uncaptured, not served by ztunnel, or restarted" >&2
    grep -h "WARN\|ERROR" /run/mesh/logs/cni-agent-node-*.log | tail -n 4 >&2 || true
    exit 1
fi
