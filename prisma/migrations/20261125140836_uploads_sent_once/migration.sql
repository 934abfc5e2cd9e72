-- AlterTable
ALTER TABLE "Upload" ADD COLUMN     "sentAt" TIMESTAMP(3);
