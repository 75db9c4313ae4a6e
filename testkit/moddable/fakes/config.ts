/** Fake of `mc/config`: the test fills it before it calls the app's main(). */
const config: Record<string, unknown> = {};
export default config;
