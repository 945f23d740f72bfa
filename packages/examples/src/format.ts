/** Transcript helpers: nothing printed carries a key, a full phone number or a ciphertext. */

/** "+15550123" → "+1•••••23": enough to tell people apart in a transcript, not enough to call them. */
export function maskNumber(number: string): string {
  if (number.length <= 5) return '•'.repeat(number.length);
  return `${number.slice(0, 2)}${'•'.repeat(number.length - 4)}${number.slice(-2)}`;
}

/** A message id shortened for reading ("m1a2b3c…"). */
export function shortId(id: string): string {
  return `${id.slice(0, 7)}…`;
}

export type Log = (line: string) => void;

export const silent: Log = () => undefined;
