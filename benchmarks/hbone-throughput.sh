#!/usr/bin/env bash
# HBONE tunnel benchmark on loopback, every baseline in the same run (DESIGN §9):
#   direct 127.0.0.1 | stunnel TLS 1.3 mTLS pair | hbone connect -> hbone serve
# for each path: single-connection iperf3 throughput (after an unrecorded warm-up run of the same
# length on every path: the hbone JVMs compile their hot paths, stunnel has nothing to warm), and
# request/response latency at a fixed rate (open-loop, one keep-alive connection, 1 KiB messages
# to an echo server).
# Writes a Markdown table to stdout and to benchmarks/results/hbone-<UTC timestamp>.md.
#
# usage: benchmarks/hbone-throughput.sh        (build first: ./mvnw -pl hbone-protocol install)
# needs: iperf3, stunnel4, openssl, python3 (Debian packages of the same names); the echo server
#        and the latency client are LatencyProbe.java (run as a single-file Java program).
# env:   JAVA_HOME (default /usr/lib/jvm/temurin-25-jdk-amd64), SECONDS_IPERF (10),
#        ROUNDS (3: the paths take turns this many times; medians are reported),
#        SECONDS_WARMUP (5; 0 for none), RATE (1000 req/s), SECONDS_LATENCY (10), SIZE (1024 bytes),
#        SECONDS_LATENCY_WARMUP (10: paced, unrecorded requests before each path's latency run),
#        HBONE_JVM_FLAGS (the hbone processes' JVM flags, default below),
#        HBONE_JAVA_OPTS (extra JVM options for the hbone processes, e.g. a JFR recording)
set -euo pipefail

JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
SECONDS_IPERF=${SECONDS_IPERF:-10}
SECONDS_WARMUP=${SECONDS_WARMUP:-5}
RATE=${RATE:-1000}
SECONDS_LATENCY=${SECONDS_LATENCY:-10}
SIZE=${SIZE:-1024}
# This shared 2-core machine moves single runs by ±30 %: the paths take turns ROUNDS times and the
# report gives medians, with every round's figures listed.
ROUNDS=${ROUNDS:-3}
# The latency run's paced warm-up, the same on every path: the hbone processes carrying it are
# JVMs whose hot paths C2 compiles in the first ~10,000 round trips; before that their p99 is the
# compiler's, not the tunnel's. Its p99 is still reported ("cold p99").
SECONDS_LATENCY_WARMUP=${SECONDS_LATENCY_WARMUP:-10}
HBONE_JAVA_OPTS=${HBONE_JAVA_OPTS:-}
# How the hbone proxy is meant to run: a small heap (the relay's buffers are direct memory, not heap;
# the CLI keeps Netty's allocator in its normal mode under it) and the serial collector (one relay
# loop per core, nothing for a concurrent collector to overlap with). The default G1 heap is sized
# from the machine's RAM, and made the proxy JVMs several hundred MiB of RSS for nothing.
HBONE_JVM_FLAGS=${HBONE_JVM_FLAGS:--XX:+UseSerialGC -Xms16m -Xmx64m --enable-native-access=ALL-UNNAMED}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
JAVA="$JAVA_HOME/bin/java"

need() { # tool, Debian package
    command -v "$1" >/dev/null 2>&1 || { echo "missing $1: apt-get install $2" >&2; exit 2; }
}
need iperf3 iperf3
need openssl openssl
need python3 python3
if command -v stunnel4 >/dev/null 2>&1; then STUNNEL=stunnel4; else need stunnel stunnel4; STUNNEL=stunnel; fi
[[ -x "$JAVA" ]] || { echo "no java at $JAVA: set JAVA_HOME (Debian: temurin-25-jdk)" >&2; exit 2; }
jar=$(ls "$root"/hbone-protocol/target/hbone-protocol-*.jar 2>/dev/null | grep -v -e tests -e sources | head -1 || true)
[[ -n "$jar" && -d "$root/hbone-protocol/target/lib" ]] || {
    echo "build first: ./mvnw -q -B -pl hbone-protocol install -DskipTests" >&2; exit 2; }
CP="$jar:$root/hbone-protocol/target/lib/*"

work=$(mktemp -d /tmp/hbone-bench.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

start() { # name, command...: runs in the background, logs to $work/name.log
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something listens on 127.0.0.1:port (bind test: nothing connects to it).
await_listen() {
    local port=$1 name=$2
    for _ in $(seq 300); do
        if ! python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.close()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "$name did not listen on $port:" >&2; cat "$work/$name.log" >&2; exit 1
}

# ---- certificates (openssl, EC P-256, SPIFFE URI SANs) ----
cd "$work"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/O=cluster.local/CN=bench root" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem 2>/dev/null
leaf() { # name, service account
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    openssl req -new -key "$1.key" -subj /O=cluster.local -out "$1.csr" 2>/dev/null
    printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyAgreement \
        extendedKeyUsage=serverAuth,clientAuth "subjectAltName=critical,URI:spiffe://cluster.local/ns/bench/sa/$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$RANDOM" -days 1 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
leaf server server
leaf client client

# ---- targets: iperf3 server and an echo server ----
P_IPERF=$(free_port); P_ECHO=$(free_port)
start iperf3 iperf3 -s -B 127.0.0.1 -p "$P_IPERF"
start echo "$JAVA" "$here/LatencyProbe.java" echo "$P_ECHO"
await_listen "$P_IPERF" iperf3
await_listen "$P_ECHO" echo

# ---- stunnel pair: plain -> client stunnel -TLS 1.3 mTLS-> server stunnel -> target ----
P_ST_SRV=$(free_port); P_ST_SRV_ECHO=$(free_port); P_ST_CLI=$(free_port); P_ST_CLI_ECHO=$(free_port)
tls_opts="sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384
CAfile = $work/ca.pem
verifyChain = yes"
cat >stunnel-server.conf <<CONF
foreground = yes
pid =
debug = warning
[iperf]
accept = 127.0.0.1:$P_ST_SRV
connect = 127.0.0.1:$P_IPERF
cert = $work/server.pem
key = $work/server.key
$tls_opts
[echo]
accept = 127.0.0.1:$P_ST_SRV_ECHO
connect = 127.0.0.1:$P_ECHO
cert = $work/server.pem
key = $work/server.key
$tls_opts
CONF
cat >stunnel-client.conf <<CONF
foreground = yes
pid =
debug = warning
[iperf]
client = yes
accept = 127.0.0.1:$P_ST_CLI
connect = 127.0.0.1:$P_ST_SRV
cert = $work/client.pem
key = $work/client.key
$tls_opts
[echo]
client = yes
accept = 127.0.0.1:$P_ST_CLI_ECHO
connect = 127.0.0.1:$P_ST_SRV_ECHO
cert = $work/client.pem
key = $work/client.key
$tls_opts
CONF
start stunnel-server "$STUNNEL" "$work/stunnel-server.conf"
stunnel_srv=$!
start stunnel-client "$STUNNEL" "$work/stunnel-client.conf"
stunnel_cli=$!
await_listen "$P_ST_SRV" stunnel-server
await_listen "$P_ST_CLI" stunnel-client

# ---- HBONE pair: plain -> hbone connect -HBONE-> hbone serve -> target ----
P_HB=$(free_port); P_HB_CLI=$(free_port); P_HB_CLI_ECHO=$(free_port)
# HBONE_JAVA_OPTS is split on spaces on purpose (several options in one variable).
# shellcheck disable=SC2086
hbone() { exec "$JAVA" $HBONE_JVM_FLAGS $HBONE_JAVA_OPTS -cp "$CP" dev.meshlite.hbone.cli.HboneCli "$@"; } # exec: $! is the JVM
material=(--cert "$work/server.pem" --key "$work/server.key" --ca "$work/ca.pem")
cmaterial=(--cert "$work/client.pem" --key "$work/client.key" --ca "$work/ca.pem"
           --expect-id spiffe://cluster.local/ns/bench/sa/server)
start hbone-serve hbone serve --listen "127.0.0.1:$P_HB" "${material[@]}"
hb_srv=$!
start hbone-connect hbone connect --listen "127.0.0.1:$P_HB_CLI" --via "127.0.0.1:$P_HB" --to "127.0.0.1:$P_IPERF" "${cmaterial[@]}"
hb_cli=$!
start hbone-connect-echo hbone connect --listen "127.0.0.1:$P_HB_CLI_ECHO" --via "127.0.0.1:$P_HB" --to "127.0.0.1:$P_ECHO" "${cmaterial[@]}"
hb_cli_echo=$!
await_listen "$P_HB" hbone-serve
await_listen "$P_HB_CLI" hbone-connect
await_listen "$P_HB_CLI_ECHO" hbone-connect-echo

# ---- measurements ----
cpu_seconds() { # pids...: user+system CPU seconds so far
    local total=0 p
    for p in "$@"; do
        total=$(python3 -c 'import os,sys; f=open("/proc/%s/stat"%sys.argv[1]).read().rsplit(")",1)[1].split(); print(int(sys.argv[2])+int(f[11])+int(f[12]))' "$p" "$total")
    done
    python3 -c 'import os,sys; print("%.1f" % (int(sys.argv[1]) / os.sysconf("SC_CLK_TCK")))' "$total"
}
rss_mib() { # pids...: summed VmRSS in MiB
    local kb=0 p
    for p in "$@"; do kb=$((kb + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done
    echo $((kb / 1024))
}
iperf() { # port [seconds [omit]] -> Gbit/s (receiver side, after 2 s omitted); a run that moved no byte fails the benchmark
    iperf3 -c 127.0.0.1 -p "$1" -t "${2:-$SECONDS_IPERF}" -O "${3:-2}" -J >"$work/iperf-$1.json" || true
    if ! python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); b=d["end"]["sum_received"]["bits_per_second"]; assert b > 0, d.get("error", "no byte received"); print("%.2f" % (b/1e9))' "$work/iperf-$1.json"; then
        echo "iperf3 through port $1 failed: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error", "no byte received"))' "$work/iperf-$1.json" 2>&1)" >&2
        for log in "$work"/*.log; do echo "--- $(basename "$log")" >&2; tail -20 "$log" >&2; done
        exit 1
    fi
}
warmup() { # port -> Gbit/s of the unrecorded warm-up run ("-" without one)
    if (( SECONDS_WARMUP > 0 )); then iperf "$1" "$SECONDS_WARMUP" 0; else echo "-"; fi
}
latency() { # host:port -> "p50 p90 p99 max cold-p99"
    "$JAVA" "$here/LatencyProbe.java" run "$1" "$RATE" "$SECONDS_LATENCY" "$SIZE" "$SECONDS_LATENCY_WARMUP"
}

median() { python3 -c 'import statistics,sys; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
nth() { local i=$1; shift; echo "${@:$i:1}"; } # nth 2 a b c -> b

declare -A tput cold lat cpu rss
echo "${ROUNDS} rounds: iperf3 ${SECONDS_IPERF}s per path (after one ${SECONDS_WARMUP}s warm-up each), then ${RATE} req/s x ${SECONDS_LATENCY}s per path..." >&2
cold[direct]=$(warmup "$P_IPERF")
cold[stunnel]=$(warmup "$P_ST_CLI")
cold[hbone]=$(warmup "$P_HB_CLI")
cpu_st=0; cpu_hb=0
for round in $(seq "$ROUNDS"); do
    tput[direct]+="$(iperf "$P_IPERF") "
    c0=$(cpu_seconds "$stunnel_cli" "$stunnel_srv")
    tput[stunnel]+="$(iperf "$P_ST_CLI") "
    cpu_st=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[3]) - float(sys.argv[2]))' "$cpu_st" "$c0" "$(cpu_seconds "$stunnel_cli" "$stunnel_srv")")
    c0=$(cpu_seconds "$hb_cli" "$hb_srv")
    tput[hbone]+="$(iperf "$P_HB_CLI") "
    cpu_hb=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[3]) - float(sys.argv[2]))' "$cpu_hb" "$c0" "$(cpu_seconds "$hb_cli" "$hb_srv")")
done
cpu[direct]="-"; rss[direct]="-"
cpu[stunnel]=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) / int(sys.argv[2])))' "$cpu_st" "$ROUNDS")
cpu[hbone]=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) / int(sys.argv[2])))' "$cpu_hb" "$ROUNDS")
for round in $(seq "$ROUNDS"); do
    lat[direct,$round]=$(latency "127.0.0.1:$P_ECHO")
    lat[stunnel,$round]=$(latency "127.0.0.1:$P_ST_CLI_ECHO")
    lat[hbone,$round]=$(latency "127.0.0.1:$P_HB_CLI_ECHO")
done
rss[stunnel]=$(rss_mib "$stunnel_cli" "$stunnel_srv")
rss[hbone]=$(rss_mib "$hb_cli" "$hb_cli_echo" "$hb_srv")
# per path, the median over the rounds of each latency figure; "cold p99" is the first round's
for path in direct stunnel hbone; do
    cols=()
    for field in 1 2 3 4; do
        vals=(); for round in $(seq "$ROUNDS"); do vals+=("$(nth "$field" ${lat[$path,$round]})"); done
        cols+=("$(median "${vals[@]}")")
    done
    lat[$path]="${cols[*]} $(nth 5 ${lat[$path,1]})"
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$here/results/hbone-$stamp.md"
mkdir -p "$here/results"
read -r d50 d90 d99 _ _ <<<"${lat[direct]}"
{
    echo "# HBONE benchmark $stamp"
    echo
    echo "$(nproc) cores, $(uname -r), $("$JAVA" -version 2>&1 | head -1), $(iperf3 --version | head -1 | cut -d' ' -f1-2),"
    echo "$("$STUNNEL" -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*'), $(openssl version | cut -d' ' -f1-2)."
    echo "${ROUNDS} rounds, the paths taking turns within each; every figure below is the median over the rounds (each round's are listed after the table)."
    echo "Throughput: iperf3, one connection, ${SECONDS_IPERF} s (first 2 s omitted); before the first round an unrecorded ${SECONDS_WARMUP} s run on each path"
    echo "(its figure is the \"cold\" column: the hbone JVMs' first seconds). hbone JVM flags: \`${HBONE_JVM_FLAGS}${HBONE_JAVA_OPTS:+ $HBONE_JAVA_OPTS}\`."
    echo "Latency: ${RATE} req/s of ${SIZE} B for"
    echo "${SECONDS_LATENCY} s after warm-up (2000 unpaced round trips, then ${SECONDS_LATENCY_WARMUP} s at the same rate, whose p99 in the first round is the \"cold p99\" column),"
    echo "one keep-alive connection, open-loop (from each request's due time)."
    echo "Proxy CPU: user+system seconds of both proxy processes during one iperf3 run (the rounds' mean); RSS after the last run."
    echo
    echo "| path | throughput Gbit/s | cold Gbit/s | p50 ms | p90 ms | p99 ms | max ms | added p50 / p90 / p99 ms | cold p99 ms | proxy CPU s | proxy RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for path in direct stunnel hbone; do
        read -r p50 p90 p99 pmax pcold <<<"${lat[$path]}"
        added=$(python3 -c 'import sys; a=[float(x) for x in sys.argv[1:]]; print("%.3f / %.3f / %.3f" % (a[0]-a[3], a[1]-a[4], a[2]-a[5]))' "$p50" "$p90" "$p99" "$d50" "$d90" "$d99")
        case $path in
            direct) name="direct 127.0.0.1" ;;
            stunnel) name="stunnel TLS 1.3 mTLS pair" ;;
            hbone) name="hbone connect → serve" ;;
        esac
        echo "| $name | $(median ${tput[$path]}) | ${cold[$path]} | $p50 | $p90 | $p99 | $pmax | $added | $pcold | ${cpu[$path]} | ${rss[$path]} |"
    done
    echo
    echo "| round | direct Gbit/s | stunnel Gbit/s | hbone Gbit/s | hbone / stunnel | stunnel added p99 ms | hbone added p99 ms |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for round in $(seq "$ROUNDS"); do
        st=$(nth "$round" ${tput[stunnel]}); hb=$(nth "$round" ${tput[hbone]})
        echo "| $round | $(nth "$round" ${tput[direct]}) | $st | $hb | $(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1])/float(sys.argv[2])))' "$hb" "$st") | $(python3 -c 'import sys; print("%.3f" % (float(sys.argv[1])-float(sys.argv[2])))' "$(nth 3 ${lat[stunnel,$round]})" "$(nth 3 ${lat[direct,$round]})") | $(python3 -c 'import sys; print("%.3f" % (float(sys.argv[1])-float(sys.argv[2])))' "$(nth 3 ${lat[hbone,$round]})" "$(nth 3 ${lat[direct,$round]})") |"
    done
    echo
    ratio=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1])/float(sys.argv[2])))' "$(median ${tput[hbone]})" "$(median ${tput[stunnel]})")
    echo "hbone / stunnel throughput (medians): ${ratio}x (goal: ≥ 1.5x); hbone added p99 must not exceed stunnel's."
} | tee "$out"
echo "saved $out" >&2
