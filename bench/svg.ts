/**
 * The plots of bench/results/: plain SVG strings (a line chart, a distribution), so a result file
 * renders on GitHub and in any browser without a plotting dependency in the benches.
 */

export interface Series {
  name: string;
  color: string;
  /** Dashed: a floor, drawn beside what it is the floor of. */
  dashed?: boolean;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log scales: socket counts (1k…10k) and latencies (1 ms…1 s) both span decades. */
  logX?: boolean;
  logY?: boolean;
  series: Series[];
}

const WIDTH = 520;
const HEIGHT = 340;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const format = (value: number) => (value >= 1000 ? `${Math.round(value / 100) / 10}k` : `${Math.round(value * 10) / 10}`);

/** Tick values for an axis: 1-2-5 steps on a log scale, about five even steps on a linear one. */
function ticks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let decade = 10 ** Math.floor(Math.log10(min)); decade <= max; decade *= 10) {
      for (const step of [1, 2, 5]) if (decade * step >= min && decade * step <= max) out.push(decade * step);
    }
    return out;
  }
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step / 1000; value += step) out.push(Math.round(value * 1e6) / 1e6);
  return out;
}

function panel(p: Panel, offsetX: number): string {
  const points = p.series.flatMap((s) => s.points).filter((pt) => Number.isFinite(pt.x) && Number.isFinite(pt.y));
  const positive = (values: number[], log?: boolean) => (log ? values.filter((v) => v > 0) : values);
  const xs = positive(points.map((pt) => pt.x), p.logX);
  const ys = positive(points.map((pt) => pt.y), p.logY);
  let [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  let [yMin, yMax] = [p.logY ? Math.min(...ys) : 0, Math.max(...ys)];
  if (p.logX) [xMin, xMax] = [10 ** Math.floor(Math.log10(xMin)), 10 ** Math.ceil(Math.log10(xMax))];
  if (p.logY) [yMin, yMax] = [10 ** Math.floor(Math.log10(Math.max(yMin, 0.1))), 10 ** Math.ceil(Math.log10(yMax))];
  if (xMax === xMin) xMax = xMin + 1;
  if (yMax === yMin) yMax = yMin + 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => {
    const t = p.logX ? (Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin)) : (x - xMin) / (xMax - xMin);
    return offsetX + MARGIN.left + t * plotW;
  };
  const sy = (y: number) => {
    const clamped = p.logY ? Math.max(y, yMin) : y;
    const t = p.logY ? (Math.log10(clamped) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : (clamped - yMin) / (yMax - yMin);
    return MARGIN.top + (1 - t) * plotH;
  };
  const parts: string[] = [];
  parts.push(`<text x="${offsetX + WIDTH / 2}" y="20" text-anchor="middle" font-weight="bold">${escape(p.title)}</text>`);
  for (const x of ticks(xMin, xMax, p.logX ?? false)) {
    parts.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${format(x)}</text>`);
  }
  for (const y of ticks(yMin, yMax, p.logY ?? false)) {
    parts.push(`<line x1="${offsetX + MARGIN.left}" x2="${offsetX + MARGIN.left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${offsetX + MARGIN.left - 6}" y="${sy(y) + 4}" text-anchor="end">${format(y)}</text>`);
  }
  parts.push(`<rect x="${offsetX + MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${offsetX + MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escape(p.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(${offsetX + 16} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(p.yLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const valid = s.points.filter((pt) => (!p.logX || pt.x > 0) && Number.isFinite(pt.y));
    const path = valid.map((pt, j) => `${j === 0 ? 'M' : 'L'}${sx(pt.x).toFixed(1)},${sy(pt.y).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    if (valid.length <= 12) for (const pt of valid) parts.push(`<circle cx="${sx(pt.x)}" cy="${sy(pt.y)}" r="3" fill="${s.color}"/>`);
    const ly = MARGIN.top + 14 + i * 16;
    const lx = offsetX + MARGIN.left + 10;
    parts.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${lx + 28}" y="${ly}">${escape(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** Panels side by side, with a caption under them (the machine and the commit). */
export function svgPlot(panels: Panel[], caption: string): string {
  const width = WIDTH * panels.length;
  const height = HEIGHT + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * WIDTH)),
    `<text x="8" y="${height - 6}" font-size="11" fill="#555">${escape(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** The share of a sorted sample at or below each value: a distribution's curve (x: value, y: %). */
export function cumulative(sorted: number[], steps = 200): { x: number; y: number }[] {
  if (sorted.length === 0) return [];
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i <= steps; i++) {
    const index = Math.min(sorted.length - 1, Math.floor((i / steps) * (sorted.length - 1)));
    out.push({ x: Math.max(sorted[index]!, 0.5), y: ((index + 1) / sorted.length) * 100 });
  }
  return out;
}
