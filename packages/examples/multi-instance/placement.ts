/**
 * Where a run keeps its data: the message store in a fresh schema of PARLEY_PG_URL's database,
 * the key vault in a schema of the `parley_vault` database (made by .ci/postgres-setup.sh): a
 * database of its own, as a deployment keeps it, so a copy of the message store never carries
 * the keys that open it.
 */

export const VAULT_DATABASE = 'parley_vault';

export function vaultUrlFor(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${VAULT_DATABASE}`;
  return parsed.toString();
}
