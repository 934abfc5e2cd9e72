import type { Viewer } from './viewer.js';

/** setTimeout's ceiling (about 24.8 days); a longer wait is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The one token-expiry rule for every transport: a token stops being accepted `clockToleranceS`
 * after its `exp` (the same tolerance jose applies when verifying it). Calls `onExpiry` then and
 * returns the function that cancels the wait.
 */
export function whenTokenExpires(viewer: Viewer, clockToleranceS: number, onExpiry: () => void): () => void {
  const expiresAt = (viewer.tokenExpiresAt + clockToleranceS) * 1000;
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = expiresAt - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(onExpiry, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
