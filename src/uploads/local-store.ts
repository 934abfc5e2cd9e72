import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PROJECT_ROOT } from '../config.js';
import { SNIFF_BYTES } from './sniff.js';
import type { Probe } from './store.js';

export class UploadTooLarge extends Error {
  override name = 'UploadTooLarge';
}

export class AlreadyUploaded extends Error {
  override name = 'AlreadyUploaded';
}

/**
 * Files in a folder of this machine, served by the API itself (src/uploads/routes.ts): the
 * zero-configuration store. Keys are made by the API (ids, never a client's file name).
 */
export function createLocalStore(folder: string) {
  const root = isAbsolute(folder) ? folder : join(PROJECT_ROOT, folder);
  const pathOf = (key: string) => join(root, key);

  return {
    kind: 'local' as const,
    root,
    pathOf,

    /**
     * Streams `body` to the file of `key`, refusing past `maxBytes` as soon as it is passed.
     * Written to a temporary file first and then linked into place, which fails if the file is
     * there already: an upload is written once, and a reader never sees half a file.
     */
    async write(key: string, body: Readable, maxBytes: number): Promise<number> {
      const target = pathOf(key);
      await mkdir(dirname(target), { recursive: true });
      const temporary = `${target}.${randomBytes(6).toString('hex')}.part`;
      let size = 0;
      try {
        await pipeline(
          // Left open on a refusal: the route answers 413 and drains what the client still sends.
          body.iterator({ destroyOnReturn: false }),
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              size += chunk.length;
              if (size > maxBytes) throw new UploadTooLarge(`More than ${maxBytes} bytes`);
              yield chunk;
            }
          },
          createWriteStream(temporary, { flags: 'wx', mode: 0o600 }),
        );
        await link(temporary, target).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'EEXIST' ? new AlreadyUploaded('This upload was already written') : error;
        });
        return size;
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
    },

    async remove(key: string): Promise<void> {
      await unlink(pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },

    async removeMany(keys: readonly string[]): Promise<void> {
      for (const key of keys) await this.remove(key);
    },

    async probe(key: string): Promise<Probe | null> {
      let handle;
      try {
        handle = await open(pathOf(key), 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      try {
        const { size } = await handle.stat();
        const head = Buffer.alloc(Math.min(SNIFF_BYTES, size));
        await handle.read(head, 0, head.length, 0);
        return { size, head };
      } finally {
        await handle.close();
      }
    },

    async open(key: string): Promise<{ size: number; stream: Readable } | null> {
      try {
        const { size } = await stat(pathOf(key));
        return { size, stream: createReadStream(pathOf(key)) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
  };
}

export type LocalStore = ReturnType<typeof createLocalStore>;
