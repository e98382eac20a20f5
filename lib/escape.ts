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
  return HAS_UNSAFE.test(value) ? value.replace(UNSAFE, (char) => ESCAPES[char]) : value;
}
