-- AlterTable
ALTER TABLE "MessageNotification" ADD COLUMN     "pendingSince" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "MessageNotification_pendingSince_idx" ON "MessageNotification"("pendingSince");

-- Backfill: the oldest unread message not yet notified (nor skipped) of each recipient and
-- conversation (a SYSTEM message is the client's, a USER message is for whoever did not write it).
UPDATE "MessageNotification" mn
   SET "pendingSince" = (
     SELECT min(m."createdAt")
       FROM "Message" m
       JOIN "Conversation" c ON c."id" = m."conversationId"
      WHERE m."conversationId" = mn."conversationId" AND m."seq" > mn."notifiedThroughSeq"
        AND m."readAt" IS NULL AND NOT m."isDeleted"
        AND CASE WHEN m."kind" = 'SYSTEM' THEN c."clientUserId" = mn."userId" ELSE m."authorId" IS DISTINCT FROM mn."userId" END)
 WHERE mn."unreadCount" > 0;

-- The sweep reads the due rows by "pendingSince" now, not every row with unread messages.
DROP INDEX IF EXISTS "MessageNotification_unread_idx";
