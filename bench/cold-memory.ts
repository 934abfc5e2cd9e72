/**
 * What a working set costs once it has gone cold on this machine. On the machine class of the
 * eighth to tenth sessions (see "A tenth session" in bench/results/fanout-history.md) memory
 * that a process had not touched for 10 ms took 2–4 times as long to read again (other tenants
 * of a shared host, as far as a guest can tell). A server waits milliseconds between messages at
 * light load, so it meets them with colder caches than back to back; on a whole send that came to
 * 1.4–1.9 times the CPU at 10 messages a second that it took at 200 (`npm run bench:rate`). Not
 * yet measured on the other classes: bench:fanout writes the 4 MB figure in its report's stamp so
 * that runs on different classes can be told apart.
 *
 * A fixed piece of work reads `mb` megabytes of small objects in a scattered order; it is timed
 * right after the same work (warm), and after a busy gap of `gap` ms in which the process keeps
 * its core as far as it can (a spin on the clock: no sleep, no system call; the kernel may still
 * preempt it, and each row says how often it did). The median of `repeats` timings each, and its
 * ratio to the warm one. Only the ratio is meant to be compared between runs: the warm time
 * itself moves by a factor of two from one run to the next on the same machine.
 */
import { realpathSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine } from './support.js';

export interface ColdMemoryRow {
  gap: number;
  /** Median milliseconds of the work after the gap. */
  ms: number;
  /** ms ÷ the median right after the same work (gap 0). */
  ratio: number;
  /** Times the kernel took the core from the process over the row's timings and gaps. */
  preempted: number;
}

/** The work over `mb` MB after each gap (a gap of 0 is measured first, whether asked for or not). */
export function coldMemory(mb: number, gaps: readonly number[], repeats: number): ColdMemoryRow[] {
  const count = Math.max(1, Math.round(repeats));
  // About 64 bytes an object with its string, a pointer in the array: a 1 MB set is ~16,000 objects.
  const objects = Array.from({ length: Math.max(1, Math.round((mb * 2 ** 20) / 64)) }, (_, i) => ({ a: i, b: i * 2, c: String(i % 100) }));
  // A prime stride visits every object once, scattered, unless the length is a multiple of it.
  const stride = objects.length % 7919 === 0 ? 7907 : 7919;
  let sink = 0;
  const work = () => {
    let sum = 0;
    // Stepped by addition: `i * stride` would leave the small-integer range past 16 MB.
    for (let i = 0, j = 0; i < objects.length; i++, j = (j + stride) % objects.length) {
      const o = objects[j]!;
      sum += o.a + o.b + o.c.length;
    }
    sink += sum;
  };
  const spin = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  for (let i = 0; i < 20; i++) work();
  const rows = [0, ...gaps.filter((gap) => gap !== 0)].map((gap) => {
    const times: number[] = [];
    const before = process.resourceUsage().involuntaryContextSwitches;
    for (let k = 0; k < count; k++) {
      spin(gap);
      const started = performance.now();
      work();
      times.push(performance.now() - started);
    }
    times.sort((x, y) => x - y);
    return { gap, ms: times[Math.floor(times.length / 2)]!, preempted: process.resourceUsage().involuntaryContextSwitches - before };
  });
  // Read after the loops, so that the work cannot be left out as unused.
  if (sink === 0.5) console.log(sink);
  const warm = rows[0]!.ms;
  const asked = new Set(gaps);
  return rows.filter((row) => asked.has(row.gap)).map((row) => ({ ...row, ratio: row.ms / warm }));
}

/** One line for a report: the 4 MB set after 10 ms against back to back. */
export function coldMemoryLine(): string {
  const [warm, cold] = coldMemory(4, [0, 10], 40);
  return (
    `a 4 MB working set read after 10 ms untouched took ${cold!.ms.toFixed(2)} ms against ${warm!.ms.toFixed(2)} ms back to back ` +
    `(${cold!.ratio.toFixed(1)}×, one sample; the process preempted ${warm!.preempted + cold!.preempted} times meanwhile; \`npm run bench:cold-memory\`)`
  );
}

// `npm run bench:cold-memory -- [--mb 0.5,2,4,16] [--gaps 0,0.3,1,3,10,30] [--repeats 60]`
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '0.5,2,4,16' },
      gaps: { type: 'string', default: '0,0.3,1,3,10,30' },
      repeats: { type: 'string', default: '60' },
    },
  });
  const gaps = [0, ...values.gaps.split(',').map(Number).filter((gap) => gap !== 0)];
  console.log(`cold memory: ${describeMachine()}, ${new Date().toISOString().slice(0, 16)} UTC, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`median ms of the work after a busy gap (× back to back; times the process was preempted), ${values.repeats} timings each\n`);
  console.log(`| working set | ${gaps.map((gap) => (gap === 0 ? 'back to back' : `after ${gap} ms`)).join(' | ')} |`);
  console.log(`|---|${gaps.map(() => '---|').join('')}`);
  for (const mb of values.mb.split(',').map(Number)) {
    const rows = coldMemory(mb, gaps, Number(values.repeats));
    console.log(`| ${mb} MB | ${rows.map((row) => `${row.ms.toFixed(2)} (${row.ratio.toFixed(1)}×; ${row.preempted})`).join(' | ')} |`);
  }
}
