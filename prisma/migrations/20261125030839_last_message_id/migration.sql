-- AlterTable
ALTER TABLE "Conversation" ADD COLUMN     "lastMessageId" UUID;

-- CreateIndex
CREATE UNIQUE INDEX "Conversation_lastMessageId_key" ON "Conversation"("lastMessageId");

-- AddForeignKey
ALTER TABLE "Conversation" ADD CONSTRAINT "Conversation_lastMessageId_fkey" FOREIGN KEY ("lastMessageId") REFERENCES "Message"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Backfill (written by hand after the generated part): each conversation's newest message.
UPDATE "Conversation" c
   SET "lastMessageId" = (SELECT m."id" FROM "Message" m WHERE m."conversationId" = c."id" ORDER BY m."seq" DESC LIMIT 1);
