import { useT } from './i18n';

/** A count with its words for screen readers (an aria-label on a plain span is not read). */
export function Badge({ count }: { count: number }) {
  const t = useT();
  return (
    <span className="badge">
      <span aria-hidden="true">{count}</span>
      <span className="visually-hidden">{t.unread(count)}</span>
    </span>
  );
}

/** A query that failed: said, not shown as an empty list, with a way to try again. */
export function LoadFailed({ onRetry }: { onRetry(): void }) {
  const t = useT();
  return (
    <p className="placeholder" role="alert">
      {t.loadFailed} <button type="button" onClick={onRetry}>{t.retry}</button>
    </p>
  );
}
