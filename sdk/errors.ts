/**
 * The base of the SDK's errors: a stable `code` for code to act on, a message for people, and a
 * `name` each class sets in `className`, since the minified device build renames classes. `name` is
 * a getter on the prototype, not an instance field: that would be assigned (useDefineForClassFields
 * is off), and XS refuses an assignment that Error.prototype.name, read-only once preloaded, would
 * shadow.
 */
export class CodedError<Code extends string> extends Error {
  static className = "CodedError";
  readonly code: Code;
  constructor(code: Code, message: string = code) {
    super(message);
    this.code = code;
  }

  override get name(): string {
    return (this.constructor as typeof CodedError).className;
  }
}

/**
 * The error class of one set of codes, named `name`: one function makes them all, as the device
 * pays XS about 60 bytes for each class written out. Export it with a type of the same name:
 * `export const XError = codedErrorClass<XErrorCode>("XError"); export type XError = InstanceType<typeof XError>;`
 */
export function codedErrorClass<Code extends string>(name: string) {
  const errorClass = class extends CodedError<Code> {};
  errorClass.className = name;
  return errorClass;
}
