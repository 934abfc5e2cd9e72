/**
 * The stamp every file under bench/results/ carries: what produced a figure (machine, Node,
 * PostgreSQL, Redis, commit) and when, so a reader can compare like with like.
 */
import { execFileSync } from 'node:child_process';
import { REPO_ROOT, describeMachine } from './support.js';

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** The commit measured, "+ changes" when the working tree differs from it. */
export function commitMeasured(): string {
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  return git('status', '--porcelain', '--untracked-files=no') ? `${commit} + uncommitted changes` : commit;
}

export function resultStamp(postgres: string): { markdown: string; caption: string } {
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const machine = describeMachine();
  const commit = commitMeasured();
  return {
    markdown: `Measured ${date} UTC on ${machine}, PostgreSQL ${postgres}, commit \`${commit}\`.`,
    caption: `${machine}, PostgreSQL ${postgres}, commit ${commit}, ${date} UTC`,
  };
}
