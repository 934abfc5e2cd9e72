import { serverAudits } from 'graphql-http';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';

const t = useTestApp();

// Every audit passes today, MUST, SHOULD and MAY alike; a SHOULD or MAY that a future change
// cannot meet goes to the README's list with its reason, and out of this expectation.
describe('GraphQL over HTTP conformance (graphql-http serverAudits)', () => {
  for (const audit of serverAudits({ url: () => t.app.url(), fetchFn: fetch })) {
    it(audit.name, async () => {
      const result = await audit.fn();
      expect(result, result.status === 'ok' ? '' : result.reason).toMatchObject({ status: 'ok' });
    });
  }
});
