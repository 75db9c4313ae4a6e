/** The public API of the device SDK: what dist/provisio-sdk.js exports. */
export * from "./ports";
export * from "./ticks";
export * from "./backoff";
export * from "./mqtt/index";
