/**
 * Token secrecy. Every token the process learns is registered here; `redact` replaces each one
 * (and its URL-encoded form) with its mask. Logs, error messages and CLI output pass through it,
 * so a token cannot leak even through a third-party error that quotes a URL.
 */
const known = new Set<string>();

/**
 * `…05`: enough to tell tokens apart, useless to an attacker. Never more than a quarter of the
 * token, and at most its last 2 characters (the first ones are often a shared prefix anyway).
 */
export function maskToken(token: string): string {
  const shown = Math.min(2, Math.floor(token.length / 4));
  return shown > 0 ? `…${token.slice(-shown)}` : '…';
}

export function registerSecret(secret: string): void {
  if (secret && secret.length >= 4) known.add(secret);
}

export function redact(text: string): string {
  let out = text;
  for (const s of known) {
    const mask = maskToken(s);
    // As it is, URL-encoded, and as it reads inside a JSON string (JSON log lines, --json output,
    // API answers), where its mask is JSON-escaped too so the line stays valid JSON.
    const forms: [string, string][] = [[s, mask], [encodeURIComponent(s), mask], [jsonEscaped(s), jsonEscaped(mask)]];
    for (const [form, shown] of forms) {
      if (out.includes(form)) out = out.split(form).join(shown);
    }
  }
  // Belt and braces: a `token=` query parameter that slipped through unregistered.
  return out.replace(/([?&]token=)([^&\s"'#]+)/gi, (_m, p: string, v: string) =>
    v.includes('…') ? `${p}${v}` : `${p}${maskToken(decodeURIComponentSafe(v))}`,
  );
}

/** A string as it stands between the quotes of a JSON string. */
const jsonEscaped = (v: string): string => JSON.stringify(v).slice(1, -1);

function decodeURIComponentSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** An Error safe to show: redacted message, no cause chain, a stack without secrets. */
export function safeError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const safe = new Error(redact(e.message));
  safe.name = e.name;
  safe.stack = e.stack ? redact(e.stack) : undefined;
  for (const key of ['code', 'kind', 'hint', 'retryable'] as const) {
    const v = (e as unknown as Record<string, unknown>)[key];
    if (v !== undefined) (safe as unknown as Record<string, unknown>)[key] = v;
  }
  return safe;
}
