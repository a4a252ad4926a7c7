import { ErrorCode, LoupeError } from '@loupe/shared';
import { isStorageFull } from './database.js';

/**
 * What a member is told when something could not be stored: STORAGE_FULL when the disk (files or
 * database) is full, else null (the caller decides: STORAGE_FAILED for a document change, INTERNAL
 * for a request). Nothing was saved in either case; the same request works once space is back.
 */
export function storageRefusal(e: unknown): LoupeError | null {
  if (e instanceof LoupeError) return e.code === ErrorCode.STORAGE_FULL ? e : null;
  if (isStorageFull(e) || /\bENOSPC\b|No space left on device|database or disk is full/i.test((e as Error | null)?.message ?? '')) {
    return new LoupeError(ErrorCode.STORAGE_FULL, 'The server\'s disk is full, so nothing was saved: try again once the server has space (tell its admin).');
  }
  return null;
}
