#!/usr/bin/env bash
# Enrollment under traffic, many times over (issue 7: "the continuous client sees no failed
# request"), on the local cluster: two http-echo backends behind a Service and a talker pod in
# namespace shop; the talker calls the Service without pause (one curl after another, 3 s
# timeout) while the namespace's ambient label is added and removed CYCLES times, HOLD seconds
# apart. Every call's exit code and duration is kept; the script prints how many calls were made,
# how many failed (any non-zero curl exit, a timeout included), the slowest, and how many of the
# talker's calls ztunnel carried (its outbound access-log lines), and exits non-zero on a failure.
# EnrollmentIT runs the same race 4 times in the test suite; this is the long version.
# Writes a Markdown summary to stdout and to benchmarks/results/churn-<UTC timestamp>.md.
#
# usage: benchmarks/enroll-churn.sh   (as root; builds through ./mesh; tears the cluster down)
# env:   CYCLES (10), HOLD (4 s)
set -euo pipefail

CYCLES=${CYCLES:-10}
HOLD=${HOLD:-4}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mesh() { "$root/mesh" "$@"; }
work=$(mktemp -d)
cleanup() {
    rm -f "$work/talking"
    wait 2>/dev/null || true
    mesh down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# EnrollmentIT's apps: shop (two http-echo backends, their Service, the talker) and legacy.
app="$root/e2e/src/test/resources/enrollment-apps.yaml"

mesh down >/dev/null 2>&1 || true
mesh up --nodes 2 --mesh >&2
mesh kubectl apply -f "$app" >/dev/null
ready() { mesh kubectl get pods -n shop -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
print(sum(1 for p in pods for c in p.get("status", {}).get("conditions", []) if c["type"] == "Ready" and c["status"] == "True"))'; }
for _ in $(seq 120); do [ "$(ready)" = 3 ] && break; sleep 1; done
[ "$(ready)" = 3 ] || { echo "shop's 3 pods not ready within 120 s" >&2; exit 1; }
talker=$(mesh kubectl get pod -n shop talker -o json)
netns=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["annotations"]["mesh.local/netns"])' <<<"$talker")
talker_node=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["spec"]["nodeName"])' <<<"$talker")

# The talker: bounded by the file it checks and by a deadline of its own.
touch "$work/talking"
(
    end=$((SECONDS + CYCLES * HOLD * 2 + 60))
    while [ -f "$work/talking" ] && (( SECONDS < end )); do
        s=$(date +%s%N)
        rc=0; ip netns exec "$netns" curl -sS -o /dev/null --max-time 3 http://backend.shop/ 2>>"$work/curl.err" || rc=$?
        echo "$rc $(( ($(date +%s%N) - s) / 1000000 )) $(( s / 1000000 ))" >> "$work/calls"
    done
) &
sleep 2
for _ in $(seq "$CYCLES"); do
    echo "$(( $(date +%s%N) / 1000000 )) label" >> "$work/events"
    mesh kubectl label ns shop istio.io/dataplane-mode=ambient >/dev/null
    sleep "$HOLD"
    echo "$(( $(date +%s%N) / 1000000 )) unlabel" >> "$work/events"
    mesh kubectl label ns shop istio.io/dataplane-mode- >/dev/null
    sleep "$HOLD"
done
sleep 1
rm -f "$work/talking"
wait

calls=$(wc -l < "$work/calls")
failed=$(awk '$1 != 0' "$work/calls" | wc -l)
slowest=$(sort -k2 -n "$work/calls" | tail -1 | cut -d' ' -f2)
p99=$(sort -k2 -n "$work/calls" | awk '{a[NR]=$2} END {i=int(NR*0.99); if (i<1) i=1; print a[i]}')
talker_ip=$(mesh kubectl get pod -n shop talker -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["podIP"])')
meshed=$(grep -h "direction=outbound" /run/mesh/logs/ztunnel-node-*.log | grep -c "src.addr=$talker_ip" || true)

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$here/results/churn-$stamp.md"
mkdir -p "$here/results"
{
    echo "# Enrollment churn $stamp"
    echo
    echo "$(nproc) cores, $(uname -r). ${CYCLES} times: label shop ambient, ${HOLD} s, remove the label, ${HOLD} s;"
    echo "the talker ($talker_node) calls backend.shop (2 pods, both nodes) one curl after another (3 s timeout) throughout."
    echo
    echo "| calls | failed | p99 ms | slowest ms | calls carried by ztunnel (HBONE) |"
    echo "|---:|---:|---:|---:|---:|"
    echo "| $calls | $failed | $p99 | $slowest | $meshed |"
    if (( failed > 0 )); then
        echo
        echo "Failed calls (curl exit, ms since the last label change):"
        echo '```'
        awk 'NR == FNR { t[NR] = $1; e[NR] = $2; n = NR; next }
             $1 != 0 { last = "before any"; d = 0; for (i = 1; i <= n; i++) if (t[i] <= $3) { last = e[i]; d = $3 - t[i] }
                       printf "exit %s, %d ms after %s (call took %d ms)\n", $1, d, last, $2 }' "$work/events" "$work/calls"
        sort "$work/curl.err" | uniq -c
        echo '```'
        cp -r /run/mesh/logs "/tmp/enroll-churn-logs-$stamp"
        echo "The cluster's logs: /tmp/enroll-churn-logs-$stamp"
    fi
    echo
    echo "Reproduce: \`benchmarks/enroll-churn.sh\` (CYCLES=${CYCLES} HOLD=${HOLD})"
} | tee "$out"
echo "saved $out" >&2
(( failed == 0 && meshed > 0 ))
