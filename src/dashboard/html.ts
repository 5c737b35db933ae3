/** HTML escaping for the dashboard's pages: every value from a batch goes through it. */

/** Escape text for HTML (element content and quoted attribute values). */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
