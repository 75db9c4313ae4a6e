/**
 * Text a client chose (client IDs, topics, addresses) as it may appear in a log line: control
 * characters escaped, so a newline in a topic cannot forge a line, and long values cut.
 */
const maxLength = 200;

export function printable(text: string | undefined | null): string {
  if (text === undefined || text === null) return "-";
  const cut = text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
  return cut.replace(
    // Control characters are what this escapes.
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
