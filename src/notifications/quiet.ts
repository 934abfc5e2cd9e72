/**
 * Quiet hours: a daily window, in the user's time zone, during which notifications wait. The
 * window may cross midnight (22:00–07:00). What falls in it is delayed to its end, never dropped.
 */
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since midnight of an "HH:MM" clock time; null when it is not one. */
export function clockMinutes(value: string): number | null {
  const match = CLOCK.exec(value);
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

export function isTimeZone(value: string): boolean {
  if (value.trim() === '' || value !== value.trim()) return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

function localMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return part('hour') * 60 + part('minute');
}

function inWindow(minutes: number, start: number, end: number): boolean {
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

export interface QuietHours {
  start: string;
  end: string;
  timeZone: string;
}

/**
 * When the quiet hours around `now` end, or null when `now` is outside them. Computed on the
 * local clock of `now`; on the night the clocks go back, stepped forward until the window is
 * really over. On the night they go forward the end may come up to an hour late: a delay, never
 * a notification inside the window.
 */
export function quietUntil(now: Date, quiet: QuietHours | null): Date | null {
  if (!quiet) return null;
  const start = clockMinutes(quiet.start);
  const end = clockMinutes(quiet.end);
  if (start === null || end === null || start === end) return null;
  const current = localMinutes(now, quiet.timeZone);
  if (!inWindow(current, start, end)) return null;
  const minuteStart = Math.floor(now.getTime() / 60_000) * 60_000;
  let candidate = minuteStart + (((end - current + 1440) % 1440) || 1440) * 60_000;
  for (let i = 0; i < 180 && inWindow(localMinutes(new Date(candidate), quiet.timeZone), start, end); i++) candidate += 60_000;
  return new Date(candidate);
}
