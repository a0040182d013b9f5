// Bundles web/ into dist/: app.js (with socket.io-client), the E2EE worker, index.html and style.css, and
// reports their size as served compressed. Over BUDGET_KB gzipped, the build fails.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

const BUDGET_KB = 150;
const out = process.env.CLIENT_DIST ?? 'dist';
await mkdir(out, { recursive: true });
await build({
  entryPoints: ['web/app.js'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  outfile: `${out}/app.js`,
  logLevel: 'warning',
});
// The end-to-end encryption worker, a classic worker script of its own.
await build({
  entryPoints: ['web/e2ee/worker.js'],
  bundle: true,
  format: 'iife',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  outfile: `${out}/e2ee-worker.js`,
  logLevel: 'warning',
});
await copyFile('web/index.html', `${out}/index.html`);
await copyFile('web/style.css', `${out}/style.css`);

let total = 0;
const parts = [];
for (const f of ['app.js', 'e2ee-worker.js', 'index.html', 'style.css']) {
  const bytes = await readFile(`${out}/${f}`);
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  parts.push(`${f} ${(bytes.length / 1024).toFixed(1)} kB (${(gz / 1024).toFixed(1)} kB gzipped)`);
}
// Cargo shows a build script's output only as warnings: say it that way, so it is seen.
const line = `client bundle: ${(total / 1024).toFixed(1)} kB gzipped of ${BUDGET_KB} kB: ${parts.join(', ')}`;
console.log(process.env.CARGO ? `cargo::warning=${line}` : line);
if (total > BUDGET_KB * 1024) {
  console.error(`the client bundle is over its budget of ${BUDGET_KB} kB gzipped`);
  process.exit(1);
}
