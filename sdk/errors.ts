/**
 * The base of the SDK's errors: a stable `code` for code to act on, a message for people. Each
 * subclass names itself with a literal, since the minified device build renames classes: a getter
 * on its prototype, as an instance field would be assigned (useDefineForClassFields is off) and XS
 * refuses an assignment that Error.prototype.name, read-only once preloaded, would shadow.
 */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string = code) {
    super(message);
    this.code = code;
  }
}
