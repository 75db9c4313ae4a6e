/*
 * "provisio-entropy": the host's random bytes for the device key (provisio-entropy.c). Plain
 * JavaScript with XS's host-function syntax, listed by manifest.json as it is (esbuild does not
 * read this syntax): fill(buffer) fills an ArrayBuffer, or a Uint8Array's bytes, and throws when
 * the host's source fails.
 */
export function fill(buffer) @ "xs_provisio_entropy_fill";
