#!/usr/bin/env bash
# A fleet on one machine, to watch by hand: 20 `anya serve` hosts with their own state
# folders, one OCI registry (Debian's docker-registry) and one Prometheus scraping every
# host's /metrics. A good version is rolled out 5% -> 25% -> 50% -> 100% by the controller
# (`anya rollout step`, gated on Prometheus); a bad one (it traps on a quarter of the
# inputs) is aborted at its first stage and its cohort rolls back by itself.
# Everything lands in ./fleet-demo (delete it to start over). Needs: docker-registry,
# prometheus, curl, python3 (`apt-get install docker-registry prometheus curl python3`).
set -euo pipefail
cd "$(dirname "$0")/.."

here=$PWD
demo=${ANYA_FLEET_DEMO_DIR:-$here/fleet-demo}
hosts=${ANYA_FLEET_HOSTS:-20}
for tool in docker-registry prometheus curl python3; do
  command -v "$tool" >/dev/null || { echo "fleet-demo needs $tool (apt-get install $tool)" >&2; exit 2; }
done
rm -rf "$demo"
mkdir -p "$demo"/{keys,hosts,packages}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step "build the host and the example plugins (wasm32-wasip2)"
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build -q -p anya-host --bin anya
cargo build -q --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir target/plugins
wasm=target/plugins/wasm32-wasip2/release

step "start one OCI registry and sign the packages into it"
registry_port=$(free_port)
cat > "$demo/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $demo/registry-data
http:
  addr: 127.0.0.1:$registry_port
EOF
docker-registry serve "$demo/registry.yml" > "$demo/registry.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null; do sleep 0.2; done
registry=oci://127.0.0.1:$registry_port/fleet
# The publisher's commands: its own state folder, the fleet's trust store.
publisher() { "$here/target/debug/anya" --state "$demo/publisher" --registry "$registry" --trust "$demo/trust.toml" "$@"; }
publisher key generate --out "$demo/keys/packages" >/dev/null
offline_hex=$(publisher --json key generate --out "$demo/keys/offline" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["public_key"])')
publisher key generate --out "$demo/keys/online" >/dev/null
publisher trust add "$demo/keys/packages.pub" --name packages --may-sign '*' >/dev/null
sign() { publisher sign "$wasm/$1.wasm" --manifest "plugins/$2/manifest.toml" --key "$demo/keys/packages.key" -o "$demo/packages/$3.wasm" >/dev/null; }
sign bech32_v1_0 bech32-v1.0 bech32-1.0.0
sign bech32_v1_1 bech32-v1.1 bech32-1.1.0
sign bech32_flaky bech32-flaky bech32-1.2.0
sign bip173_vectors bip173-vectors bip173-vectors-1.0.0
sign bip350_vectors bip350-vectors bip350-vectors-1.0.0
show publisher publish "$demo"/packages/{bech32-1.0.0,bip173-vectors-1.0.0,bip350-vectors-1.0.0}.wasm

step "sign the release index (offline key) naming the rollout key (online), and pin its root"
# The trust store: the package key, and the index root every host pins.
printf '[index]\nrelease_keys = ["%s"]\nrelease_threshold = 1\n' "$offline_hex" >> "$demo/trust.toml"
show publisher index release --key "$demo/keys/offline.key" --rollout-key "$demo/keys/online.pub"
# Hosts install nothing until the online key signs a first rollout document (it pins every
# component at its newest release).
show publisher rollout step --key "$demo/keys/online.key"

step "start $hosts hosts on bech32 1.0.0 (their own state folders), and a Prometheus scraping them"
cat > "$demo/update_policy.toml" <<'EOF'
[auto_update]
enabled = true
feature_updates = true
check_interval_minutes = 1

[rollback]
rollback_timeout_minutes = 1
# Each host's own trial lets a quarter of failed calls through, so that the fleet's
# analysis is what stops the bad version (the default, 0.05, would roll it back first).
trial_failure_rate = 0.5
EOF
host() { local i=$1; shift; "$here/target/debug/anya" --state "$demo/hosts/$i" --registry "$registry" --trust "$demo/trust.toml" "$@"; }
targets=()
for i in $(seq -w 1 "$hosts"); do
  host "$i" install bech32 1.0.0 >/dev/null
  port=$(free_port)
  echo "$port" > "$demo/hosts/$i.metrics-port"
  targets+=("'127.0.0.1:$port'")
  # The binary itself in the background (not through the function), so that the clean-up
  # stops it.
  "$here/target/debug/anya" --state "$demo/hosts/$i" --registry "$registry" --trust "$demo/trust.toml" \
    --policy "$demo/update_policy.toml" serve --metrics "127.0.0.1:$port" 2> "$demo/hosts/$i.log" &
  pids+=($!)
done
for i in $(seq -w 1 "$hosts"); do until [ -S "$demo/hosts/$i/daemon/control.sock" ]; do sleep 0.1; done; done
prometheus_port=$(free_port)
cat > "$demo/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: anya
    static_configs:
      - targets: [$(IFS=,; echo "${targets[*]}")]
EOF
prometheus --config.file="$demo/prometheus.yml" --storage.tsdb.path="$demo/prometheus-data" \
  --web.listen-address="127.0.0.1:$prometheus_port" > "$demo/prometheus.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$prometheus_port/-/ready" >/dev/null; do sleep 0.2; done
prometheus_url=http://127.0.0.1:$prometheus_port
echo "Prometheus: $prometheus_url (try: sum by (version) (rate(anya_calls_total[1m])))"

step "a steady call load on every host (a quarter of the inputs end in '!')"
p2tr=bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0
(
  round=0
  while true; do
    round=$((round + 1))
    n=0
    for i in $(seq -w 1 "$hosts"); do
      n=$((n + 1))
      input=$p2tr; (( (round + n) % 4 == 0 )) && input="$p2tr!"
      curl -s -o /dev/null --unix-socket "$demo/hosts/$i/daemon/control.sock" -X POST \
        http://localhost/v1/call -d "{\"name\":\"bech32\",\"function\":\"decode\",\"args\":\"$input\"}" || true
    done
  done
) &
pids+=($!)

# One scheduler cycle on every host now (instead of waiting for their next check).
cycle() {
  for i in $(seq -w 1 "$hosts"); do
    curl -s -o /dev/null --unix-socket "$demo/hosts/$i/daemon/control.sock" -X POST http://localhost/v1/scheduler/run || true
  done
}
versions() {
  for i in $(seq -w 1 "$hosts"); do
    curl -s "http://127.0.0.1:$(cat "$demo/hosts/$i.metrics-port")/metrics" |
      sed -n 's/^anya_component_info{component="bech32",version="\([^"]*\)".*/\1/p'
  done | sort | uniq -c | tr '\n' ' '
  echo
}
controller() { publisher rollout step --key "$demo/keys/online.key" --prometheus "$prometheus_url" --interval 2s --count 3 --window 20s; }

step "publish bech32 1.1.0 and release it: hosts take nothing until the rollout starts"
show publisher publish "$demo/packages/bech32-1.1.0.wasm"
show publisher index release --key "$demo/keys/offline.key"
cycle
echo "hosts: $(versions)"

step "roll bech32 1.1.0 out: 5% -> 25% -> 50% -> 100%, each stage judged by Prometheus"
started=$SECONDS
show publisher rollout start bech32 1.1.0 --stages 5,25,50,100 --key "$demo/keys/online.key"
for _ in $(seq 1 12); do
  cycle
  echo "hosts: $(versions)"
  publisher rollout status | grep -q '1.1.0 everywhere' && break
  controller
done
cycle
echo "hosts: $(versions)"
if versions | grep -qx " *$hosts 1.1.0 *"; then
  echo "(every host on 1.1.0 $((SECONDS - started)) s after the start)"
else
  echo "(not every host is on 1.1.0 after 12 steps: see anya rollout status)"; publisher rollout status
fi

step "a bad version, 1.2.0: it traps on the inputs ending in '!'"
show publisher publish "$demo/packages/bech32-1.2.0.wasm"
show publisher index release --key "$demo/keys/offline.key"
show publisher rollout start bech32 1.2.0 --stages 25,100 --key "$demo/keys/online.key"
cycle
echo "hosts: $(versions)"
for _ in 1 2 3; do
  out=$(controller); echo "$out"
  grep -q ABORTED <<< "$out" && break
done
cycle
echo "hosts: $(versions)"
show publisher rollout status
echo "\$ sum by (reason) (anya_rollbacks_total)"
sleep 2
curl -s "$prometheus_url/api/v1/query" --data-urlencode 'query=sum by (reason) (anya_rollbacks_total)'
echo
echo "(logs and state: $demo)"
