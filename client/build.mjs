// Bundles web/ into dist/: app.js (with socket.io-client), index.html and style.css.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

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
await copyFile('web/index.html', `${out}/index.html`);
await copyFile('web/style.css', `${out}/style.css`);
