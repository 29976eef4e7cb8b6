#!/usr/bin/env bash
# e2e/kind/run.sh: the mesh on a real Kubernetes, a kind cluster, end to end.
#
#   creates a kind cluster (one control plane, two workers: cluster.yaml), builds the three images
#   with Jib into the Docker engine, loads them into the nodes, applies manifests/ (kubectl apply
#   -k), waits for the rollouts, deploys a tiny app (app.yaml: shop/backend, a client in shop and
#   one in legacy), enrolls both namespaces with the ambient label, and checks: no pod restarted,
#   traffic still flows, ztunnel's metrics count mutual-TLS connections, an AuthorizationPolicy
#   denying legacy (deny-legacy.yaml) refuses its calls and removing it lets them through again.
#   Then it deletes the cluster (MESH_KIND_KEEP=1 keeps it).
#
# NOT EXERCISED on the project's own machines: they have no Docker engine, so this stops at the
# first check with exit code 2. It needs docker (with a running engine), kind and kubectl.
#
# Environment: MESH_KIND_CLUSTER (name, default meshlite), MESH_KIND_NODE_IMAGE (a kindest/node
# image, Kubernetes 1.30 or newer), MESH_KIND_TIMEOUT (seconds per wait, default 180),
# MESH_KIND_KEEP=1 (leave the cluster up).
#
# Exit codes: 0 every check passed, 1 a check failed, 2 a prerequisite is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cluster="${MESH_KIND_CLUSTER:-meshlite}"
wait_s="${MESH_KIND_TIMEOUT:-180}"
context="kind-$cluster"

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
missing() { printf 'kind/run.sh: %s\n' "$*" >&2; exit 2; }
k() { kubectl --context "$context" "$@"; }

fail() {
  printf '\nkind/run.sh: FAIL: %s\n' "$*" >&2
  if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    printf '\n-- mesh pods\n' >&2
    k -n istio-system get pods -o wide >&2 || true
    for app in istiod ztunnel meshlite-cni; do
      printf '\n-- last log lines of %s\n' "$app" >&2
      k -n istio-system logs -l "app=$app" --tail=20 --prefix >&2 || true
    done
  fi
  exit 1
}

# until_ok SECONDS WHAT CMD...: runs CMD every 2 s until it succeeds; fails the run after SECONDS.
until_ok() {
  local limit="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what: not within ${limit}s"
    sleep 2
  done
  ok "$what"
}

# ---- prerequisites ----

# The Docker engine first: it is what the project's own machines lack.
command -v docker >/dev/null 2>&1 || missing "docker not found; this script needs docker (with a running engine), kind and kubectl"
if ! docker info >/dev/null 2>&1; then
  missing "no Docker engine: 'docker info' failed. kind runs its nodes as Docker containers, so this
script cannot run here. (The project's own machines have no Docker engine; it is not exercised there.)"
fi
for tool in kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || missing "$tool not found; this script needs docker, kind and kubectl"
done
version="$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$root/pom.xml" | head -n 1)"
[[ -n "$version" ]] || missing "cannot read the project version from $root/pom.xml"
grep -q "newTag: $version\$" "$root/manifests/kustomization.yaml" \
  || missing "manifests/kustomization.yaml does not tag the images $version (the pom's version)"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  missing "a kind cluster named $cluster exists already; delete it (kind delete cluster --name $cluster) or set MESH_KIND_CLUSTER"
fi

# ---- cluster and images ----

step "creating kind cluster $cluster (1 control plane, 2 workers)"
create=(kind create cluster --name "$cluster" --config "$here/cluster.yaml" --wait "${wait_s}s")
[[ -n "${MESH_KIND_NODE_IMAGE:-}" ]] && create+=(--image "$MESH_KIND_NODE_IMAGE")
"${create[@]}" || fail "kind create cluster"
cleanup() {
  if [[ "${MESH_KIND_KEEP:-0}" == 1 ]]; then
    printf '\nkeeping cluster %s (remove it with: kind delete cluster --name %s)\n' "$cluster" "$cluster"
  else
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

step "building images meshlite/{istiod-lite,ztunnel,cni}:$version with Jib"
(cd "$root" && ./mvnw -B -q -DskipTests -Dmesh.aot.skip=true -pl istiod-lite/server,ztunnel -am \
  package jib:dockerBuild) || fail "building the istiod-lite and ztunnel images"
# The agent runs iptables, ip and nsenter, which eclipse-temurin:25-jre lacks and Jib cannot
# install: the cni image gets a local base with them.
docker build -q -t "meshlite/cni-base:$version" - >/dev/null <<'DOCKERFILE' || fail "building the cni base image"
FROM eclipse-temurin:25-jre
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables iproute2 nftables util-linux \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
(cd "$root" && ./mvnw -B -q -DskipTests -Dmesh.aot.skip=true -pl cni-plugin -am \
  -Djib.from.image="docker://meshlite/cni-base:$version" package jib:dockerBuild) || fail "building the cni image"
ok "images built"

step "loading the images into the nodes"
kind load docker-image --name "$cluster" \
  "meshlite/istiod-lite:$version" "meshlite/ztunnel:$version" "meshlite/cni:$version" || fail "kind load docker-image"

# ---- the mesh ----

step "applying manifests/ (kubectl apply -k)"
k apply -k "$root/manifests" || fail "kubectl apply -k manifests/"
k -n istio-system rollout status deployment/istiod --timeout="${wait_s}s" || fail "istiod-lite did not roll out"
k -n istio-system rollout status daemonset/meshlite-cni --timeout="${wait_s}s" || fail "the CNI agent did not roll out"
k -n istio-system rollout status daemonset/ztunnel --timeout="${wait_s}s" || fail "ztunnel did not roll out"
ok "istiod-lite, the CNI agent and ztunnel are ready on every node"

# ---- the app, outside the mesh ----

step "deploying the app: shop/backend (2 replicas), a client in shop and one in legacy"
k apply -f "$here/app.yaml" || fail "kubectl apply -f app.yaml"
for target in shop/deployment/backend shop/deployment/client legacy/deployment/client; do
  k -n "${target%%/*}" rollout status "${target#*/}" --timeout="${wait_s}s" || fail "$target did not roll out"
done

# call NS: one HTTP request from NS's client to the backend Service; prints the status (000: none).
call() {
  k -n "$1" exec deploy/client -- curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
    http://backend.shop.svc.cluster.local/hostname 2>/dev/null || true
}
answers() { [[ "$(call "$1")" == "$2" ]]; }
# calls_all NS STATUS N: N calls in a row, every one answered STATUS.
calls_all() {
  local i got
  for ((i = 0; i < $3; i++)); do
    got="$(call "$1")"
    [[ "$got" == "$2" ]] || { printf '   call %d from %s: %s (expected %s)\n' "$i" "$1" "$got" "$2" >&2; return 1; }
  done
}
until_ok 60 "shop's client reaches the backend (no mesh yet)" answers shop 200
until_ok 60 "legacy's client reaches the backend (no mesh yet)" answers legacy 200

# ---- enrollment, live ----

# uid:restarts of every pod in shop and legacy: equal before and after means nothing restarted.
pods_state() {
  local ns
  for ns in shop legacy; do
    k -n "$ns" get pods -o jsonpath='{range .items[*]}{.metadata.uid}:{range .status.containerStatuses[*]}{.restartCount}{end}{"\n"}{end}'
  done | sort
}
# enrolled NS: every pod of NS carries the annotation the CNI agent sets once ztunnel serves it.
enrolled() {
  local pods marked
  pods="$(k -n "$1" get pods --no-headers | wc -l)"
  marked="$(k -n "$1" get pods -o jsonpath='{range .items[*]}{.metadata.annotations.ambient\.istio\.io/redirection}{"\n"}{end}' \
    | grep -c '^enabled$' || true)"
  [[ "$pods" -gt 0 && "$pods" == "$marked" ]]
}

before="$(pods_state)"
step "enrolling shop and legacy: istio.io/dataplane-mode=ambient (no restart)"
# Both: a policy by namespace needs the caller's identity, which only an enrolled client has.
k label namespace shop istio.io/dataplane-mode=ambient --overwrite >/dev/null
k label namespace legacy istio.io/dataplane-mode=ambient --overwrite >/dev/null
until_ok 60 "every pod of shop is captured and served by ztunnel" enrolled shop
until_ok 60 "every pod of legacy is captured and served by ztunnel" enrolled legacy
after="$(pods_state)"
[[ "$before" == "$after" ]] || fail "pods were restarted or replaced by the enrollment:
before: $before
after:  $after"
ok "no pod restarted or replaced"

until_ok 30 "shop's client reaches the backend through the mesh" answers shop 200
calls_all shop 200 20 || fail "shop's calls through the mesh did not all succeed"
calls_all legacy 200 20 || fail "legacy's calls through the mesh did not all succeed"
ok "40 calls through the mesh, all answered"

# mtls_connections: mutual-TLS connections counted by all ztunnels (the metric is Istio's).
mtls_connections() {
  local pod total=0 n
  for pod in $(k -n istio-system get pods -l app=ztunnel -o jsonpath='{.items[*].metadata.name}'); do
    n="$(k get --raw "/api/v1/namespaces/istio-system/pods/$pod:15020/proxy/metrics" \
      | awk '/^istio_tcp_connections_opened_total\{/ && /connection_security_policy="mutual_tls"/ { s += $NF } END { printf "%d", s }')"
    total=$((total + n))
  done
  echo "$total"
}
mtls="$(mtls_connections)"
[[ "$mtls" -gt 0 ]] || fail "ztunnel metrics show no connection with connection_security_policy=\"mutual_tls\""
ok "ztunnel metrics: $mtls connections with connection_security_policy=\"mutual_tls\""

# ---- policy ----

step "AuthorizationPolicy shop/deny-legacy: callers from legacy are refused"
k apply -f "$here/deny-legacy.yaml" >/dev/null || fail "kubectl apply -f deny-legacy.yaml"
refused() { [[ "$(call legacy)" != 200 ]]; }
until_ok 30 "legacy's calls are refused" refused
for ((i = 0; i < 10; i++)); do
  refused || fail "a call from legacy got through while deny-legacy was in force"
done
calls_all shop 200 10 || fail "shop's own calls were refused by a policy aimed at legacy"
ok "10 more calls from legacy refused; shop's calls still answered"

k delete -f "$here/deny-legacy.yaml" >/dev/null || fail "kubectl delete -f deny-legacy.yaml"
until_ok 30 "legacy's calls get through again once the policy is gone" answers legacy 200

step "all checks passed"
