const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Not global: `test` on a global pattern keeps a position between calls. */
const HAS_UNSAFE = /[&<>"']/;
const UNSAFE = /[&<>"']/g;

/** Escapes text for use inside a double-quoted HTML attribute or as HTML text. */
export function escapeHtml(value: string): string {
  // Read once: an object whose toString answers differently each time must not pass the test
  // with one text and go out with another.
  const text = typeof value === 'string' ? value : String(value);
  return HAS_UNSAFE.test(text) ? text.replace(UNSAFE, (char) => ESCAPES[char]) : text;
}
