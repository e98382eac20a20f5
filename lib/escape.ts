const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

const UNSAFE = /[&<>"']/g;

/** Escapes text for use inside a double-quoted HTML attribute or as HTML text. */
export function escapeHtml(value: string): string {
  return UNSAFE.test(value) ? value.replace(UNSAFE, (char) => ESCAPES[char]) : value;
}
