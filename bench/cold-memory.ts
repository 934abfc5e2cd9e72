/**
 * What a working set costs once it has gone cold here. The two machine classes the fan-out bench
 * has run on most differ less in speed than in this (see "A tenth session" in
 * bench/results/fanout-history.md): on a shared host, memory that a process has not touched for a
 * few milliseconds may have been evicted by other tenants, and the next request that reads it
 * waits for main memory. At 100 messages a second each server meets every message so, and an
 * API that touches megabytes a request (its code, the schema, its caches) pays more than a relay
 * that touches kilobytes.
 *
 * A fixed piece of work reads `mb` megabytes of small objects in a scattered order; it is timed
 * right after the same work (warm), and after a busy gap of `gap` ms in which the process keeps
 * its core (a spin on the clock: no sleep, no system call, so no scheduling is involved). The
 * median of `repeats` timings each, and its ratio to the warm one.
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine } from './support.js';

/** Median milliseconds of the work over `mb` MB after each gap, and the ratios to gap 0. */
export function coldMemory(mb: number, gaps: readonly number[], repeats: number): { gap: number; ms: number; ratio: number }[] {
  // About 64 bytes an object with its string, a pointer in the array: a 1 MB set is ~16,000 objects.
  const objects = Array.from({ length: Math.round((mb * 2 ** 20) / 64) }, (_, i) => ({ a: i, b: i * 2, c: String(i % 100) }));
  // A stride coprime with the length (Knuth's 7919 unless it divides it): every object, scattered.
  const stride = objects.length % 7919 === 0 ? 7907 : 7919;
  let sink = 0;
  const work = () => {
    let sum = 0;
    for (let i = 0; i < objects.length; i++) {
      const o = objects[(i * stride) % objects.length]!;
      sum += o.a + o.b + o.c.length;
    }
    sink += sum;
  };
  const spin = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  for (let i = 0; i < 20; i++) work();
  const rows = gaps.map((gap) => {
    const times: number[] = [];
    for (let k = 0; k < repeats; k++) {
      spin(gap);
      const started = performance.now();
      work();
      times.push(performance.now() - started);
    }
    times.sort((x, y) => x - y);
    return { gap, ms: times[Math.floor(times.length / 2)]! };
  });
  if (sink === 0.5) console.log(sink); // keeps the work from being optimised away
  const warm = rows.find((row) => row.gap === 0)?.ms ?? rows[0]!.ms;
  return rows.map((row) => ({ ...row, ratio: row.ms / warm }));
}

/** One line for a report: the 4 MB set after 10 ms against back to back. */
export function coldMemoryLine(): string {
  const [warm, cold] = coldMemory(4, [0, 10], 40);
  return `a 4 MB working set read after 10 ms untouched took ${cold!.ms.toFixed(2)} ms against ${warm!.ms.toFixed(2)} ms back to back (${cold!.ratio.toFixed(1)}×; \`npm run bench:cold-memory\`)`;
}

// `npm run bench:cold-memory -- [--mb 0.5,2,4,16] [--gaps 0,0.3,1,3,10,30] [--repeats 60]`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '0.5,2,4,16' },
      gaps: { type: 'string', default: '0,0.3,1,3,10,30' },
      repeats: { type: 'string', default: '60' },
    },
  });
  const gaps = values.gaps.split(',').map(Number);
  console.log(`cold memory: ${describeMachine()}, ${new Date().toISOString().slice(0, 16)} UTC, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`median ms of the work after a busy gap (× back to back), ${values.repeats} timings each\n`);
  console.log(`| working set | ${gaps.map((gap) => `after ${gap} ms`).join(' | ')} |`);
  console.log(`|---|${gaps.map(() => '---|').join('')}`);
  for (const mb of values.mb.split(',').map(Number)) {
    const rows = coldMemory(mb, gaps, Number(values.repeats));
    console.log(`| ${mb} MB | ${rows.map((row) => `${row.ms.toFixed(2)} (${row.ratio.toFixed(1)}×)`).join(' | ')} |`);
  }
}
