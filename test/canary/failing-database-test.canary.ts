import { expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

// The real path of most tests: a server on a database copy (the embedded PostgreSQL's package was
// the one calling process.exit(0) on the way out).
const t = useTestApp();

it('fails on purpose after talking to the real server', async () => {
  const response = await t.gql('{ __typename }');
  expect(response.data).toEqual({ __typename: 'Mutation' });
});
