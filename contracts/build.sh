#!/usr/bin/env bash
# Compile the test contracts (TestToken: ERC20, TestNFT: ERC721, TestMulti: ERC1155) into
# dev/contracts/<Name>.json (abi, bytecode, compiler, source_sha256) with the npm `solc`
# package (solc-js; no native toolchain).
# Usage: contracts/build.sh [Name ...]   (default: all of them; installs solc into .tools/solc,
#        SOLC_PREFIX overrides)
set -euo pipefail

SOLC_VERSION="${SOLC_VERSION:-0.8.28}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${SOLC_PREFIX:-$ROOT/.tools/solc}"
NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
    NAMES=(TestToken TestNFT TestMulti)
fi

if [ ! -f "$PREFIX/node_modules/solc/package.json" ] ||
   ! grep -q "\"version\": \"$SOLC_VERSION\"" "$PREFIX/node_modules/solc/package.json"; then
    mkdir -p "$PREFIX"
    npm install --silent --no-fund --no-audit --prefix "$PREFIX" "solc@$SOLC_VERSION"
fi
mkdir -p "$ROOT/dev/contracts"

for NAME in "${NAMES[@]}"; do
SRC="$ROOT/contracts/$NAME.sol"
OUT="$ROOT/dev/contracts/$NAME.json"
NODE_PATH="$PREFIX/node_modules" node - "$SRC" "$OUT" "$NAME" <<'JS'
const fs = require("fs");
const crypto = require("crypto");
const solc = require("solc");
const [src, out, name] = process.argv.slice(2);
const source = fs.readFileSync(src);
const file = name + ".sol";
const input = {
  language: "Solidity",
  sources: { [file]: { content: source.toString("utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "paris",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const result = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (result.errors || []).filter((e) => e.severity === "error");
for (const e of result.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
const c = result.contracts[file][name];
const artifact = {
  abi: c.abi,
  bytecode: "0x" + c.evm.bytecode.object,
  compiler: "solc-js " + solc.version() + " (optimizer on, 200 runs, evm paris)",
  source_sha256: crypto.createHash("sha256").update(source).digest("hex"),
};
fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
console.log(`wrote ${out} (${(artifact.bytecode.length - 2) / 2} bytes of creation code)`);
JS
done
