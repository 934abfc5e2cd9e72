-- CreateTable
CREATE TABLE "UserEventStream" (
    "userId" UUID NOT NULL,
    "lastPosition" BIGINT NOT NULL DEFAULT 0,
    "prunedThrough" BIGINT NOT NULL DEFAULT 0,
    "unreadTotal" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "UserEventStream_pkey" PRIMARY KEY ("userId")
);

-- CreateTable
CREATE TABLE "UserEvent" (
    "userId" UUID NOT NULL,
    "position" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "conversationId" UUID,
    "payload" JSONB NOT NULL,
    "occurredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "UserEvent_pkey" PRIMARY KEY ("userId","position")
);

-- CreateIndex
CREATE INDEX "UserEvent_occurredAt_idx" ON "UserEvent" USING BRIN ("occurredAt");

-- AddForeignKey
ALTER TABLE "UserEventStream" ADD CONSTRAINT "UserEventStream_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing unread counters: each user's total starts exact.
INSERT INTO "UserEventStream" ("userId", "unreadTotal")
SELECT "userId", SUM("unreadCount")::int FROM "MessageNotification" GROUP BY "userId";

-- AddForeignKey
ALTER TABLE "UserEvent" ADD CONSTRAINT "UserEvent_userId_fkey" FOREIGN KEY ("userId") REFERENCES "UserEventStream"("userId") ON DELETE CASCADE ON UPDATE CASCADE;
