import { createHash, randomInt } from 'node:crypto';

/**
 * One-time activation codes: 20 characters from a 32-letter alphabet without look-alikes
 * (100 bits), shown as XXXXX-XXXXX-XXXXX-XXXXX. Only a SHA-256 of the code is stored: with that
 * much entropy a slow hash adds nothing, and a stolen row does not reveal the code.
 */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function newActivationCode(): string {
  const chars = Array.from({ length: 20 }, () => ALPHABET[randomInt(ALPHABET.length)]);
  return [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join('')).join('-');
}

export function hashActivationCode(code: string): string {
  return createHash('sha256')
    .update(
      code
        .trim()
        .toUpperCase()
        .replace(/[^A-Z0-9]/g, ''),
    )
    .digest('base64url');
}
