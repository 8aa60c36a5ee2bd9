/**
 * Every failure a user can cause is one of these: it carries the exit code the CLI returns and a
 * message meant to be printed as is (one line naming the bad input and what would be accepted).
 */
export class FwbuildError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command line, config or target data: exit 2. */
export class UsageError extends FwbuildError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}

/** A step, a download or a test failed: exit 1. */
export class BuildError extends FwbuildError {
  constructor(
    message: string,
    hint?: string,
    readonly logPath?: string,
  ) {
    super(message, 1, hint);
  }
}

/** The user pressed Ctrl-C or the process was told to stop: exit 130 like a shell would. */
export class InterruptedError extends FwbuildError {
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}; containers and partial outputs were removed`, 130);
  }
}
