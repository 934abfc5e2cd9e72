/**
 * Demo data: a salon, two clients, and appointments with their conversations (each opened with
 * the French SYSTEM confirmation) plus a short exchange. Safe to run twice: it stops when the
 * demo salon already has appointments. Uses DATABASE_URL, or the embedded PostgreSQL when unset
 * (stop `npm start` first: one process at a time owns the embedded data folder).
 */
import { devUserId } from '../src/auth/dev-users.js';
import type { Viewer } from '../src/auth/viewer.js';
import { loadConfig } from '../src/config.js';
import { connectDb, db, disconnectDb } from '../src/db.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrateDatabase } from '../src/db/migrations.js';
import type { Role } from '../src/generated/prisma/client.js';
import { createAppointment } from '../src/services/appointments.js';
import { sendMessage } from '../src/services/messages.js';

const people: { email: string; firstName: string; lastName: string; role: Role }[] = [
  { email: 'salon@example.com', firstName: 'Salon Élégance', lastName: '', role: 'SALON' },
  { email: 'camille@example.com', firstName: 'Camille', lastName: 'Martin', role: 'CLIENT' },
  { email: 'lucas@example.com', firstName: 'Lucas', lastName: 'Bernard', role: 'CLIENT' },
];

const config = loadConfig();
let databaseUrl = config.databaseUrl;
let stopEmbedded: (() => Promise<void>) | undefined;
if (!databaseUrl) {
  const embedded = await startEmbeddedPostgres();
  databaseUrl = embedded.url;
  stopEmbedded = embedded.stop;
}
await migrateDatabase(databaseUrl);
connectDb(databaseUrl);

try {
  for (const person of people) {
    await db.user.upsert({ where: { email: person.email }, create: { id: devUserId(person.email), ...person }, update: {} });
  }
  const viewer = (email: string, role: Role): Viewer => ({ id: devUserId(email), role, tokenExpiresAt: 0 });
  const salon = viewer('salon@example.com', 'SALON');
  const camille = viewer('camille@example.com', 'CLIENT');
  const lucas = viewer('lucas@example.com', 'CLIENT');

  if ((await db.appointment.count({ where: { salonId: salon.id } })) > 0) {
    console.log('Demo data already present.');
  } else {
    const inDays = (days: number, hour: number) => {
      const date = new Date();
      date.setUTCDate(date.getUTCDate() + days);
      date.setUTCHours(hour, 0, 0, 0);
      return date;
    };
    const first = await createAppointment(salon, { clientUserId: camille.id, startsAt: inDays(3, 9), service: 'Coupe et brushing' });
    await createAppointment(salon, { clientUserId: lucas.id, startsAt: inDays(5, 14), service: 'Coupe homme' });
    await createAppointment(camille, { salonId: salon.id, startsAt: inDays(20, 10), service: 'Couleur' });

    const conversation = await db.conversation.findUniqueOrThrow({ where: { appointmentId: first.result.id } });
    const max = config.limits.contentMaxLength;
    await sendMessage(camille, { conversationId: conversation.id, content: 'Merci ! Puis-je venir 15 minutes plus tôt ?' }, max);
    await sendMessage(salon, { conversationId: conversation.id, content: 'Bien sûr, à bientôt !' }, max);
    console.log('Seeded: salon@example.com (salon), camille@example.com and lucas@example.com (clients).');
  }
  console.log('Get a token with: npm run token -- salon@example.com');
} finally {
  await disconnectDb();
  await stopEmbedded?.();
}
