/** The refusals of operators' requests: a bad id, a missing owner, a key in the wrong state. */
import { ExpectedError } from '../platform/errors';

export type AdminErrorCode = 'invalid-argument' | 'not-found' | 'already-exists' | 'failed-precondition';

export class AdminError extends ExpectedError {
  override readonly name = 'AdminError';
  constructor(
    message: string,
    readonly code: AdminErrorCode,
  ) {
    super(message);
  }
}
