// `npm run build`: src/ to plain JavaScript in dist/ (esbuild, no bundling), as the Dockerfile and
// `npm start` run it. Each file is replaced whole (written beside, then renamed over) and only
// when its content changed: a process starting from dist/ while another build runs (`npm start`
// in one terminal or test, `node dist/server.js` in another) never reads a half-written module.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

const { outputFiles } = await build({
  entryPoints: ['src/**/*.ts'],
  outdir: 'dist',
  outbase: 'src',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  write: false,
});

for (const file of outputFiles) {
  let current;
  try {
    current = readFileSync(file.path);
  } catch {
    current = undefined;
  }
  if (current?.equals(file.contents)) continue;
  mkdirSync(dirname(file.path), { recursive: true });
  const temporary = `${file.path}.${process.pid}.tmp`;
  writeFileSync(temporary, file.contents);
  renameSync(temporary, file.path);
}
