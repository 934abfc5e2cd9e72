/**
 * Demo data: a salon, two clients, and appointments with their conversations (each opened with
 * the French SYSTEM confirmation) plus a short exchange. Safe to run twice: it stops when the
 * demo salon already has appointments. Uses DATABASE_URL (the database is created if missing), or
 * the embedded PostgreSQL when unset: the one `npm start` runs, or one started for the seed.
 *
 * The demo users may exist already, created just-in-time by a token signed before the seed (with
 * the role that token carried, the name taken from the email): the seed puts back their demo
 * role and names, whatever order `npm run token` and `npm run seed` ran in.
 */
import '../src/load-env.js';
import { devUserId } from '../src/auth/dev-users.js';
import type { Viewer } from '../src/auth/viewer.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { connectDb, db, disconnectDb } from '../src/db.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrateDatabase } from '../src/db/migrations.js';
import { startJobQueue } from '../src/jobs/queue.js';
import { createAppointment, type ReminderSchedule } from '../src/services/appointments.js';
import { sendMessage } from '../src/services/messages.js';
import { DEMO_USERS } from './demo-users.js';

const config = loadConfig();
let databaseUrl = config.databaseUrl;
let stopEmbedded: (() => Promise<void>) | undefined;
if (!databaseUrl) {
  const embedded = await startEmbeddedPostgres({ port: config.embeddedPostgresPort, dataDir: config.embeddedPostgresDir });
  databaseUrl = embedded.url;
  stopEmbedded = embedded.stop;
}
try {
  await migrateDatabase(databaseUrl, (message) => console.log(message));
  connectDb(databaseUrl);

  /** The demo user as the seed wants it, whatever a token used before the seed made of it. */
  const demoViewer = async (email: string): Promise<Viewer> => {
    const demo = DEMO_USERS.find((user) => user.email === email);
    if (!demo) throw new Error(`${email} is not a demo user`);
    const { firstName, lastName, role } = demo;
    const user = await db.user.upsert({
      where: { email },
      create: { id: devUserId(email), email, firstName, lastName, role },
      update: { firstName, lastName, role },
      select: { id: true },
    });
    return { id: user.id, role, tokenExpiresAt: 0 };
  };
  const salon = await demoViewer('salon@example.com');
  const camille = await demoViewer('camille@example.com');
  const lucas = await demoViewer('lucas@example.com');

  if ((await db.appointment.count({ where: { salonId: salon.id } })) > 0) {
    console.log('Demo data already present.');
  } else {
    const inDays = (days: number, hour: number) => {
      const date = new Date();
      date.setUTCDate(date.getUTCDate() + days);
      date.setUTCHours(hour, 0, 0, 0);
      return date;
    };
    // The demo appointments get their reminders like any other: the jobs wait in the database for the server.
    const queue = await startJobQueue({ databaseUrl, pollMs: config.jobPollMs, stopTimeoutMs: 1_000 }, {});
    const reminders: ReminderSchedule = { queue, beforeH: config.reminderBeforeH };
    let first;
    try {
      first = await createAppointment(salon, { clientUserId: camille.id, startsAt: inDays(3, 9), service: 'Coupe et brushing' }, config.timeZone, reminders);
      await createAppointment(salon, { clientUserId: lucas.id, startsAt: inDays(5, 14), service: 'Coupe homme' }, config.timeZone, reminders);
      await createAppointment(camille, { salonId: salon.id, startsAt: inDays(20, 10), service: 'Couleur' }, config.timeZone, reminders);
    } finally {
      await queue.stop();
    }

    const conversation = await db.conversation.findUniqueOrThrow({ where: { appointmentId: first.result.id } });
    const max = config.limits.contentMaxLength;
    await sendMessage(camille, { conversationId: conversation.id, content: 'Merci ! Puis-je venir 15 minutes plus tôt ?' }, max);
    await sendMessage(salon, { conversationId: conversation.id, content: 'Bien sûr, à bientôt !' }, max);
    console.log('Seeded: salon@example.com (salon), camille@example.com and lucas@example.com (clients).');
  }
  console.log('Get a token with: npm run token -- salon@example.com');
} catch (error) {
  // A DATABASE_URL that cannot be used is said in one line, as the server says it.
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
} finally {
  await disconnectDb();
  await stopEmbedded?.();
}
