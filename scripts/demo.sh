#!/usr/bin/env bash
# The main job on the embedded default: build the example plugins, sign them with a freshly
# generated key, publish them to a local registry folder, install and call them, and show
# `check` and `status`. Everything lands in ./demo (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

here=$PWD
demo=${ANYA_DEMO_DIR:-$here/demo}
rm -rf "$demo"
mkdir -p "$demo"
export ANYA_STATE=$demo/state ANYA_REGISTRY=$demo/registry

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "build the host and the example plugins (wasm32-wasip2)"
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build -q -p anya-host --bin anya
cargo build -q --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir target/plugins
anya() { "$here/target/debug/anya" "$@"; }
wasm=target/plugins/wasm32-wasip2/release

step "generate a signing key and trust it for the example components"
show anya key generate --out "$demo/keys/dev"
show anya trust add "$demo/keys/dev.pub" --may-sign 'bech32' --may-sign 'bitcoin-module' --may-sign 'bip*-vectors'

step "sign and publish bech32 1.0.0, bech32 1.1.0 and the BIP-173/BIP-350 validators"
sign() { anya sign "$wasm/$1.wasm" --manifest "plugins/$2/manifest.toml" --key "$demo/keys/dev.key" -o "$demo/$3.wasm"; }
sign bech32_v1_0 bech32-v1.0 bech32-1.0.0
sign bech32_v1_1 bech32-v1.1 bech32-1.1.0
sign bip173_vectors bip173-vectors bip173-vectors-1.0.0
sign bip350_vectors bip350-vectors bip350-vectors-1.0.0
show anya publish "$demo"/bech32-1.0.0.wasm "$demo"/bech32-1.1.0.wasm "$demo"/bip173-vectors-1.0.0.wasm "$demo"/bip350-vectors-1.0.0.wasm
show anya inspect "$demo/bech32-1.1.0.wasm"

step "install bech32 1.0.0 and call it"
show anya install bech32 1.0.0
show anya call bech32 decode '"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"'

step "check for updates (exit code 100: updates available)"
set +e; anya check; code=$?; set -e
echo "(exit code $code)"

step "a deliberately broken build (accepts mixed case) is refused by the BIP-173 validator"
sign bech32_broken bech32-broken bech32-1.1.1
show anya publish "$demo"/bech32-1.1.1.wasm
set +e; anya install bech32 1.1.1; code=$?; set -e
echo "(exit code $code: refused by the validation gate; nothing changed)"

step "install the update and call it again: bech32m (BIP-350) now decodes"
show anya install bech32 1.1.0
show anya call bech32 decode '"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"'
show anya list
show anya status

step "roll back to 1.0.0 (no fetch, no verification of anything new, no compile) and show why"
show anya rollback bech32 --reason "demo: going back"
show anya status bech32

step "bitcoin-module under the guide's policy (BIPs 141, 143, 144 required), with the BIP validators"
policy=tests/fixtures/update_policy.toml
grep -A2 'components.bitcoin-module' "$policy"
for bip in 141 143 144 174 340 341; do sign "bip${bip}_vectors" "bip${bip}-vectors" "bip${bip}-vectors-1.0.0"; done
sign bitcoin_module bitcoin-module bitcoin-module-1.1.0
sign bitcoin_bad_bip143_amount bitcoin-bad-bip143-amount bitcoin-module-1.1.1
show anya publish "$demo"/bip14[134]-vectors-1.0.0.wasm "$demo"/bip174-vectors-1.0.0.wasm \
  "$demo"/bip34[01]-vectors-1.0.0.wasm "$demo"/bitcoin-module-1.1.[01].wasm
echo "\$ anya --policy $policy install bitcoin-module 1.1.1   # its BIP-143 sighash forgets the amount"
set +e; anya --policy "$policy" install bitcoin-module 1.1.1; code=$?; set -e
echo "(exit code $code: refused by the validation gate, naming the BIP-143 vectors it fails)"
show anya --policy "$policy" install bitcoin-module 1.1.0
anya status bitcoin-module > "$demo/bitcoin-module-status.txt"
head -n 12 "$demo/bitcoin-module-status.txt"
echo "(every case: $demo/bitcoin-module-status.txt)"
show anya call bitcoin-module parse-witness-program '[[0,20,117,30,118,232,25,145,150,212,84,148,28,69,209,179,163,35,241,67,59,214]]'

step "run the daemon: the same commands now go through it (control socket, scheduler, metrics)"
"$here/target/debug/anya" serve --text-logs --metrics 127.0.0.1:9464 2> "$demo/daemon.log" &
daemon=$!
for _ in $(seq 1 100); do [ -S "$ANYA_STATE/daemon/control.sock" ] && break; sleep 0.1; done
show anya status
show anya call bech32 decode '"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"'
if command -v curl >/dev/null 2>&1; then
  echo '$ curl -s http://127.0.0.1:9464/metrics | grep anya_calls_total'
  curl -s http://127.0.0.1:9464/metrics | grep '^anya_calls_total' || true
fi
show kill -TERM "$daemon"
wait "$daemon"
echo "(the daemon stopped cleanly; its log is $demo/daemon.log)"
