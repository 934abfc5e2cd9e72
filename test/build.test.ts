import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const BUILD = resolve('scripts/build.mjs');
const project = mkdtempSync(join(tmpdir(), 'salon-build-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

const build = () => promisify(execFile)(process.execPath, [BUILD], { cwd: project });
const identity = (path: string) => {
  const stat = statSync(join(project, path));
  return `${stat.ino}:${stat.mtimeMs}`;
};

describe('npm run build (scripts/build.mjs)', () => {
  it('writes src/ to dist/, then rewrites only what changed, each file renamed into place', async () => {
    mkdirSync(join(project, 'src', 'sub'), { recursive: true });
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a: number = 1;\n');
    writeFileSync(join(project, 'src', 'sub', 'b.ts'), "export const b: string = 'b';\n");
    await build();
    expect(readFileSync(join(project, 'dist', 'a.js'), 'utf8')).toContain('const a = 1');
    expect(readFileSync(join(project, 'dist', 'sub', 'b.js'), 'utf8')).toContain('const b = "b"');
    const before = { a: identity('dist/a.js'), b: identity('dist/sub/b.js') };

    // Nothing changed: no file is touched, so nothing a starting server reads is being rewritten.
    await build();
    expect({ a: identity('dist/a.js'), b: identity('dist/sub/b.js') }).toEqual(before);

    // One source changed: its output is a new file (another inode, renamed over the old one); the other is untouched.
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a: number = 2;\n');
    await build();
    expect(readFileSync(join(project, 'dist', 'a.js'), 'utf8')).toContain('const a = 2');
    expect(statSync(join(project, 'dist', 'a.js')).ino).not.toBe(Number(before.a.split(':')[0]));
    expect(identity('dist/sub/b.js')).toBe(before.b);
    expect(readdirSync(join(project, 'dist'), { recursive: true }).filter((name) => String(name).endsWith('.tmp'))).toEqual([]);
  });
});
