// Builds the dashboard into ../perpsim/web_dist (served by `perpsim serve`): one minified ES module,
// the stylesheet and index.html. Prints the bundle's size.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const out = new URL("../perpsim/web_dist/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out + "assets", { recursive: true });
await build({
  entryPoints: ["src/main.ts"], bundle: true, minify: true, format: "esm", target: "es2022",
  outfile: out + "assets/app.js", legalComments: "eof", logLevel: "warning",
});
copyFileSync("src/style.css", out + "assets/app.css");
copyFileSync("index.html", out + "index.html");
const sizes = {};
for (const f of ["assets/app.js", "assets/app.css", "index.html"]) {
  const bytes = readFileSync(out + f);
  sizes[f] = { bytes: statSync(out + f).size, gzip: gzipSync(bytes).length };
}
writeFileSync(out + "sizes.json", JSON.stringify(sizes, null, 1));
console.log(JSON.stringify({ bundle: sizes }));
