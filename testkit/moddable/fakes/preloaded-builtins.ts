/**
 * Moddable's xsl puts the built-ins into flash at build time, read-only: there an assignment that
 * an own property would make over a frozen prototype's (`this.name = …` over Error.prototype.name)
 * throws "not writable", as the real simulator showed. The rig freezes the same before the app runs.
 */
import "./base64-builtins";
const builtins = [
  Object,
  Function,
  Array,
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  Promise,
  Map,
  Set,
  WeakMap,
  WeakSet,
  ArrayBuffer,
  DataView,
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  String,
  Number,
  Boolean,
  Symbol,
  Date,
  RegExp,
  BigInt,
];
for (const builtin of builtins) {
  Object.freeze(builtin.prototype);
  Object.freeze(builtin);
}
Object.freeze(Math);
Object.freeze(JSON);
