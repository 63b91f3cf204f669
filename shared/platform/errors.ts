/**
 * The one family of expected errors: a bad setting, an unusable signing key, a refused admin
 * operation, a command line that cannot be understood. Each carries a stable `code` in
 * kebab-case (`invalid-config`, `not-found`, …) that callers branch on, and a message fit to
 * show an operator as it is; anything else that is thrown is a bug or an outage.
 */
export abstract class ExpectedError extends Error {
  abstract override readonly name: string;
  abstract readonly code: string;
}

/** Whether a thrown value is one of ours, so its message can be shown without a stack. */
export function isExpectedError(error: unknown): error is ExpectedError {
  return error instanceof ExpectedError;
}
