import type { Role } from '../src/generated/prisma/client.js';

/** The users `npm run seed` creates; `npm run token` gives them these roles before the seed has run. */
export const DEMO_USERS: readonly { email: string; firstName: string; lastName: string; role: Role }[] = [
  { email: 'salon@example.com', firstName: 'Salon Élégance', lastName: '', role: 'SALON' },
  { email: 'camille@example.com', firstName: 'Camille', lastName: 'Martin', role: 'CLIENT' },
  { email: 'lucas@example.com', firstName: 'Lucas', lastName: 'Bernard', role: 'CLIENT' },
];
