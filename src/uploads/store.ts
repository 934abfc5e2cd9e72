import type { UploadConfig } from '../config.js';
import { createLocalStore, type LocalStore } from './local-store.js';
import { createS3Store, type S3Store } from './s3-store.js';

/** What a stored object is, as far as accepting it goes: its real size and first bytes. */
export interface Probe {
  size: number;
  head: Buffer;
}

/** Where a client sends an upload's bytes (a PUT), and the headers it must send with them. */
export interface UploadTarget {
  url: string;
  headers: Record<string, string>;
}

export interface UploadSpec {
  id: string;
  key: string;
  declaredType: string;
  byteSize: number;
  expiresAt: Date;
}

export type ObjectStore = LocalStore | S3Store;

export function createStore(config: UploadConfig): ObjectStore {
  return config.s3 ? createS3Store(config.s3) : createLocalStore(config.localDir);
}

// One store per process, like the database client: the services that check uploads (a send, a
// profile update) reach it without it travelling through every call. Every app of a process
// shares one configuration.
let current: ObjectStore | undefined;

export function useStore(store: ObjectStore) {
  current = store;
}

export function getStore(): ObjectStore {
  if (!current) throw new Error('The upload store is not configured (createRuntime sets it)');
  return current;
}
