/**
 * Every environment variable the connector reads, declared once: name, what it means, its type
 * and allowed range, its default. `validateEnvironment` checks them all at start-up (the CLI calls it first), so a wrong value stops
 * the command before it does anything, naming the setting and what it accepts (a silently ignored
 * `RAKUTEN_LEASE_TTL_MS=0` would run workers that steal each other's connectors). The README's
 * configuration table is checked against this list by test/config.test.ts.
 *
 * It sits in util/ so that any layer may read its one setting from here (the URL allow-list in
 * rakuten/, the key in util/vault.ts) without parsing the environment again on its own terms.
 */
import { validateConnectorKey } from './vault.js';

export type SettingKind = 'int' | 'text' | 'secret' | 'hosts' | 'url' | 'flag';

export interface SettingSpec {
  env: string;
  kind: SettingKind;
  /** Shown in the README's configuration table. */
  doc: string;
  /** As shown in the README ("none" when there is none). */
  defaultDoc: string;
  /** The CLI flag that overrides it, if any. */
  flag?: string;
  min?: number;
  max?: number;
  /** Extra rule: an error message, or null when the value is fine. */
  check?: (value: string) => string | null;
}


/** RAKUTEN_SMTP_URL's problem, or null; never quotes the value (it holds a password). */
function smtpUrlProblem(v: string): string | null {
  try {
    const u = new URL(v.trim());
    if ((u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname) return null;
  } catch {
    // not a URL
  }
  return 'use smtp://user:pass@host:587 or smtps://user:pass@host:465';
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const MIB = 1024 * 1024;

/** The settings, in README order. */
export const SETTINGS = [
  { env: 'RAKUTEN_CONNECTOR_HOME', kind: 'text', flag: '--home', defaultDoc: '`./.rakuten-connector`', doc: 'home directory (state, secret key, default warehouse)' },
  { env: 'RAKUTEN_WAREHOUSE', kind: 'text', flag: '--warehouse', defaultDoc: '`duckdb:<home>/warehouse.duckdb`', doc: 'warehouse URL: `duckdb:<file>`, `postgres://…` or `clickhouse://…`',
    check: (v) => (/^(duckdb(:|$)|postgres(ql)?:\/\/|clickhouses?:\/\/)/.test(v.trim()) ? null : 'use duckdb:<file>, postgres://user@host/db or clickhouse://user@host:8123/db') },
  { env: 'RAKUTEN_ALLOWED_HOSTS', kind: 'hosts', defaultDoc: 'none', doc: 'extra `host:port` entries allowed besides `ran-reporting.rakutenmarketing.com` (http or https); how tests and the demo reach the simulator. It guards fetching only: a connector whose host is no longer allowed is still listed, with its problem' },
  { env: 'RAKUTEN_CONNECTOR_KEY', kind: 'secret', defaultDoc: '`<home>/secret.key` (32 random bytes, base64, mode 0600; created atomically, never replaced)', doc: 'key that seals stored tokens (at least 16 characters, e.g. `openssl rand -base64 32`; stretched with scrypt); set the same on every worker sharing a warehouse',
    check: validateConnectorKey },
  { env: 'RAKUTEN_CONNECTOR_ADMIN_TOKEN', kind: 'secret', defaultDoc: 'none (`serve` then answers on loopback only)', doc: '`serve`: the admin token every request must carry (at least 16 characters); required for `--host` other than loopback', min: 16 },
  { env: 'RAKUTEN_REPORT_URL', kind: 'secret', defaultDoc: 'none', doc: '`add`: the "Get API" URL, instead of `--url` (keeps the token out of `ps`)' },
  { env: 'RAKUTEN_TOKEN', kind: 'secret', defaultDoc: 'none', doc: '`add --report-key K`: the API token, instead of `--token`' },
  { env: 'RAKUTEN_API_BASE', kind: 'url', defaultDoc: '`https://ran-reporting.rakutenmarketing.com`', doc: 'base URL used with `--report-key`' },
  { env: 'RAKUTEN_HEADERS_TIMEOUT_MS', kind: 'int', min: 100, max: 2 * HOUR, defaultDoc: '300000', doc: 'longest wait for a report to start (ms)' },
  { env: 'RAKUTEN_BODY_TIMEOUT_MS', kind: 'int', min: 100, max: 2 * HOUR, defaultDoc: '120000', doc: 'longest silence mid-download (ms)' },
  { env: 'RAKUTEN_REQUEST_DEADLINE_MS', kind: 'int', min: 1000, max: 24 * HOUR, defaultDoc: '1800000', doc: 'longest a whole report request may take, download included (ms); Save & Test has its own 60 s' },
  { env: 'RAKUTEN_MAX_REPORT_MB', kind: 'int', min: 1, max: 1024 * 1024, defaultDoc: '1024', doc: 'largest report body accepted for one window (MiB, counted after decompression)' },
  { env: 'RAKUTEN_MAX_ATTEMPTS', kind: 'int', min: 1, max: 100, defaultDoc: '6', doc: 'tries per window before a sync fails (exponential backoff with jitter; 429 Retry-After respected)' },
  { env: 'RAKUTEN_RETRY_BASE_MS', kind: 'int', min: 0, max: HOUR, defaultDoc: '1000', doc: 'first retry delay (ms)' },
  { env: 'RAKUTEN_RETRY_MAX_MS', kind: 'int', min: 0, max: 6 * HOUR, defaultDoc: '60000', doc: 'longest retry delay (ms)' },
  { env: 'RAKUTEN_LEASE_TTL_MS', kind: 'int', min: 1000, max: 6 * HOUR, defaultDoc: '60000', doc: 'how long a worker\'s claim on a connector lasts without renewal (ms; renewed every third of it); `sync` and `serve`' },
  { env: 'RAKUTEN_SYNC_CONCURRENCY', kind: 'int', min: 1, max: 64, defaultDoc: '2', doc: '`serve`: connectors synced at the same time' },
  { env: 'RAKUTEN_SMTP_URL', kind: 'secret', defaultDoc: 'none (e-mail alerts then fail, saying so)', doc: 'SMTP server for e-mail alerts: `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://user:pass@host:465` (TLS); the password is never shown',
    check: smtpUrlProblem },
  { env: 'RAKUTEN_ALERT_FROM', kind: 'text', defaultDoc: '`rakuten-connector@<hostname>`', doc: 'sender address of e-mail alerts',
    check: (v) => (/^[^\s@]+@[^\s@]+$/.test(v.trim()) && v.trim().length <= 254 ? null : 'use one e-mail address, e.g. alerts@example.com') },
  { env: 'RAKUTEN_DEBUG', kind: 'flag', defaultDoc: 'off', doc: '`1`: print stack traces (redacted) with errors' },
] as const satisfies readonly SettingSpec[];

export type SettingName = (typeof SETTINGS)[number]['env'];

const BY_NAME = new Map<string, SettingSpec>(SETTINGS.map((s) => [s.env, s]));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ConfigError';
  }
}

function spec(name: SettingName): SettingSpec {
  return BY_NAME.get(name)!;
}

/** What a setting accepts, in words (for messages). */
export function allowedRange(s: SettingSpec): string {
  if (s.kind === 'int') return `a whole number from ${s.min} to ${s.max}`;
  if (s.kind === 'hosts') return 'comma-separated host:port entries, e.g. 127.0.0.1:8787,sim.local:9000';
  if (s.kind === 'url') return 'an http(s) URL';
  if (s.kind === 'flag') return '1, true, 0 or false';
  if (s.kind === 'secret' && s.min) return `at least ${s.min} characters`;
  return 'text';
}

/** The problem with one raw value, or null. Never quotes a secret. */
export function settingProblem(s: SettingSpec, raw: string): string | null {
  const shown = s.kind === 'secret' ? '' : `=${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}…` : raw)}`;
  const bad = (why?: string) => `${s.env}${shown}: ${why ?? `use ${allowedRange(s)}`}`;
  const v = raw.trim();
  switch (s.kind) {
    case 'int': {
      if (!/^\d+$/.test(v)) return bad();
      const n = Number(v);
      if (n < s.min! || n > s.max!) return bad();
      break;
    }
    case 'hosts':
      for (const h of v.split(',').map((x) => x.trim()).filter(Boolean)) {
        if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?):\d{1,5}$/i.test(h) || Number(h.split(':').at(-1)) > 65535) {
          return bad(`"${h}" is not host:port (${allowedRange(s)})`);
        }
      }
      break;
    case 'url':
      try {
        const u = new URL(v);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') return bad();
      } catch {
        return bad();
      }
      break;
    case 'flag':
      if (!/^(1|0|true|false|yes|no|on|off)?$/i.test(v)) return bad();
      break;
    case 'secret':
      if (s.min && v.length < s.min) return bad(`too short (${v.length} characters): use ${allowedRange(s)}`);
      break;
    default:
      break;
  }
  const why = s.check?.(raw) ?? null;
  if (why === null) return null;
  return why.startsWith(s.env) ? why : bad(why);
}

/** The raw value of a setting: unset and empty are the same (no value). */
function raw(name: SettingName, env: NodeJS.ProcessEnv): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

/** One integer setting, validated (throws ConfigError), or its default. */
export function intSetting(name: SettingName, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const v = raw(name, env);
  if (v === undefined) return fallback;
  const p = settingProblem(spec(name), v);
  if (p) throw new ConfigError([p]);
  return Number(v.trim());
}

/** One integer setting, validated (throws ConfigError), or undefined when unset. */
export function optionalIntSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): number | undefined {
  return raw(name, env) === undefined ? undefined : intSetting(name, 0, env);
}

/** One text/secret/url setting, validated (throws ConfigError), or undefined. */
export function textSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = raw(name, env);
  if (v === undefined) return undefined;
  const p = settingProblem(spec(name), v);
  if (p) throw new ConfigError([p]);
  return v.trim();
}

export function flagSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = raw(name, env);
  if (v === undefined) return false;
  const p = settingProblem(spec(name), v);
  if (p) throw new ConfigError([p]);
  return /^(1|true|yes|on)$/i.test(v.trim());
}

/**
 * A secret exactly as given (not trimmed: keys sealed earlier used the value as it was), validated;
 * undefined when unset or empty.
 */
export function secretSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const p = settingProblem(spec(name), v);
  if (p) throw new ConfigError([p]);
  return v;
}

/** The allow-list, lower-cased host:port entries. */
export function hostsSetting(name: SettingName, env: NodeJS.ProcessEnv = process.env): Set<string> {
  const v = raw(name, env);
  const out = new Set<string>();
  if (v === undefined) return out;
  const p = settingProblem(spec(name), v);
  if (p) throw new ConfigError([p]);
  for (const h of v.split(',')) {
    const t = h.trim().toLowerCase();
    if (t) out.add(t);
  }
  return out;
}

/** Every setting checked at once: all problems, each naming its setting and what it accepts. */
export function validateEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const problems: string[] = [];
  for (const s of SETTINGS as readonly SettingSpec[]) {
    const v = env[s.env];
    if (v === undefined || v === '' || (s.kind !== 'secret' && v.trim() === '')) continue;
    const p = settingProblem(s, v);
    if (p) problems.push(p);
  }
  const base = raw('RAKUTEN_RETRY_BASE_MS', env);
  const max = raw('RAKUTEN_RETRY_MAX_MS', env);
  if (!problems.length && base !== undefined && max !== undefined && Number(base) > Number(max)) {
    problems.push(`RAKUTEN_RETRY_BASE_MS (${base.trim()}) is larger than RAKUTEN_RETRY_MAX_MS (${max.trim()}): the first delay cannot exceed the longest`);
  }
  if (problems.length) throw new ConfigError(problems);
}
