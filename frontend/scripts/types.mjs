// `npm run types`: writes src/generated/api.ts, the TypeScript types of the REST API,
// from the OpenAPI document the Python package prints offline (`visualbox openapi`),
// so no server has to run. tests/test_frontend_types.py regenerates it and fails when
// the committed file differs.
//
//   node scripts/types.mjs [--output FILE]
//
// The Python that runs `visualbox openapi`: $VISUALBOX_PYTHON, else the repository's
// .venv, else python3 on the PATH.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import openapiTS, { COMMENT_HEADER, astToString } from "openapi-typescript";

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const at = args.indexOf("--output");
const output = resolve(at >= 0 ? args[at + 1] : resolve(frontend, "src/generated/api.ts"));

function python() {
  if (process.env.VISUALBOX_PYTHON) return process.env.VISUALBOX_PYTHON;
  const venv = resolve(frontend, "../.venv/bin/python");
  return existsSync(venv) ? venv : "python3";
}

const text = execFileSync(python(), ["-m", "visualbox", "openapi"], {
  cwd: resolve(frontend, ".."),
  encoding: "utf-8",
  maxBuffer: 64 * 1024 * 1024,
  stdio: ["ignore", "pipe", "inherit"],
});
const ast = await openapiTS(JSON.parse(text), {
  // The server marks a response field required when it is always sent; a request
  // field with a default stays optional.
  defaultNonNullable: false,
  // `export type DashboardPublic = components["schemas"]["DashboardPublic"]` etc.
  rootTypes: true,
  rootTypesNoSchemaPrefix: true,
  silent: true,
});
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, COMMENT_HEADER + "// Regenerate with `npm --prefix frontend run types`.\n\n" + astToString(ast));
