/** The NaCl subset the device needs, written from the specifications: see each file's header. */
export { sha512 } from "./sha512";
export { x25519, x25519Base } from "./x25519";
export { openBox } from "./box";
