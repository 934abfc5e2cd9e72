import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../config.js';
import { SNIFF_BYTES } from './sniff.js';
import type { Probe, UploadSpec, UploadTarget } from './store.js';

/** How long the presigned GET a download redirects to works: the API's check runs at each download. */
export const S3_REDIRECT_TTL_S = 60;

/**
 * S3-compatible storage (AWS S3, Cloudflare R2, MinIO…) with a private bucket: clients PUT to
 * presigned URLs, the API reads the first bytes to check them, and a download is a redirect to a
 * presigned GET minted after the API's own check.
 */
export function createS3Store(config: S3Config) {
  // The SDK is loaded on first use, not with the server: most deployments (and every test but
  // the S3 one) never touch it, and it is a sixth of a second of imports.
  let loaded: Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3'); getSignedUrl: typeof import('@aws-sdk/s3-request-presigner').getSignedUrl }> | undefined;
  const aws = () =>
    (loaded ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]).then(([sdk, presigner]) => ({
      sdk,
      getSignedUrl: presigner.getSignedUrl,
      client: new sdk.S3Client({
        region: config.region,
        forcePathStyle: config.forcePathStyle,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
        ...(config.credentials ? { credentials: config.credentials } : {}),
        // The SDK's default adds CRC32 checksum parameters to presigned PUTs, which a browser's PUT
        // of the raw file cannot match; checksums only where an operation requires them.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    })));
  const bucket = config.bucket;

  return {
    kind: 's3' as const,
    bucket,

    /**
     * A presigned PUT whose signature covers the content type, the exact length declared and
     * `If-None-Match: *`: the object can be created once, so bytes checked at a send cannot be
     * replaced later with the same URL (S3, R2 and MinIO honour conditional writes).
     */
    async uploadTarget(upload: UploadSpec): Promise<UploadTarget> {
      const expiresIn = Math.max(1, Math.round((upload.expiresAt.getTime() - Date.now()) / 1000));
      const { client, sdk, getSignedUrl } = await aws();
      const url = await getSignedUrl(
        client,
        new sdk.PutObjectCommand({ Bucket: bucket, Key: upload.key, ContentType: upload.declaredType, ContentLength: upload.byteSize, IfNoneMatch: '*' }),
        { expiresIn, signableHeaders: new Set(['content-type', 'content-length', 'if-none-match']) },
      );
      return { url, headers: { 'content-type': upload.declaredType, 'if-none-match': '*' } };
    },

    async probe(key: string): Promise<Probe | null> {
      const { client, sdk } = await aws();
      try {
        const head = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
        const size = head.ContentLength ?? 0;
        if (size === 0) return { size, head: Buffer.alloc(0) };
        const first = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${SNIFF_BYTES - 1}` }));
        const bytes = first.Body ? Buffer.from(await first.Body.transformToByteArray()) : Buffer.alloc(0);
        return { size, head: bytes.subarray(0, SNIFF_BYTES) };
      } catch (error) {
        if (error instanceof sdk.NotFound || error instanceof sdk.NoSuchKey || (error as { name?: string }).name === 'NotFound') return null;
        throw error;
      }
    },

    /** Deletes objects, a thousand per request (the most DeleteObjects takes); a missing one is no error. */
    async removeMany(keys: readonly string[]): Promise<void> {
      const { client, sdk } = await aws();
      for (let start = 0; start < keys.length; start += 1000) {
        const batch = keys.slice(start, start + 1000);
        const result = await client.send(
          new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        if (result.Errors?.length) throw new Error(`S3 refused to delete ${result.Errors.length} objects: ${result.Errors[0]?.Code} ${result.Errors[0]?.Message}`);
      }
    },

    /** A presigned GET that answers with the type the API verified, whatever the object's metadata says. */
    async downloadUrl(key: string, type: string, contentDisposition: string): Promise<string> {
      const { client, sdk, getSignedUrl } = await aws();
      return getSignedUrl(
        client,
        new sdk.GetObjectCommand({ Bucket: bucket, Key: key, ResponseContentType: type, ResponseContentDisposition: contentDisposition }),
        { expiresIn: S3_REDIRECT_TTL_S },
      );
    },
  };
}

export type S3Store = ReturnType<typeof createS3Store>;
