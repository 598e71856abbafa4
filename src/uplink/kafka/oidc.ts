// OAUTHBEARER with OIDC client credentials for client kafkajs (librdkafka fetches its tokens itself): a token from
// the identity provider's token endpoint, kept until a minute before it expires. The client secret is read at each
// fetch, so a rotated secret file is taken up without a restart; neither it nor a token ever reaches a log.
import type { SaslSecret } from './config.js';

export interface OidcSettings {
  password_file?: string | undefined;
  token_endpoint?: string | undefined;
  client_id?: string | undefined;
  scope?: string | undefined;
  extensions?: Record<string, string> | undefined;
}

export interface OidcToken {
  value: string;
  extensions?: Record<string, string>;
}

const KEY = 'uplink.kafka.sasl';

/** The token endpoint's answer, checked; an error names the key to look at, never the secret. */
async function fetchToken(sasl: OidcSettings, readClientSecret: SaslSecret, timeoutMs: number): Promise<{ token: string; expiresInS: number }> {
  const endpoint = sasl.token_endpoint!;
  const secret = readClientSecret();
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...(sasl.scope ? { scope: sasl.scope } : {}) });
  // RFC 6749 2.3.1: client id and secret form-urlencoded, then HTTP Basic.
  const basic = Buffer.from(`${encodeURIComponent(sasl.client_id!)}:${encodeURIComponent(secret)}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Error(`${KEY}.token_endpoint: cannot reach ${endpoint}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    const why = /"error"\s*:\s*"([^"]{1,100})"/.exec(text)?.[1];
    throw new Error(`${KEY}: the token endpoint ${endpoint} refused client "${sasl.client_id}" (HTTP ${res.status}${why ? `, ${why}` : ''}). Check client_id and the secret in ${sasl.password_file !== undefined ? 'password_file' : 'password_env'}.`);
  }
  let answer: { access_token?: unknown; expires_in?: unknown };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw new Error(`${KEY}.token_endpoint: ${endpoint} did not answer JSON`);
  }
  if (typeof answer.access_token !== 'string' || answer.access_token.length === 0) throw new Error(`${KEY}.token_endpoint: ${endpoint} answered no access_token`);
  const expiresInS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 300;
  return { token: answer.access_token, expiresInS };
}

/** A provider of tokens for kafkajs's `oauthBearerProvider`. */
export function oidcTokenProvider(sasl: OidcSettings, readClientSecret: SaslSecret, timeoutMs = 10_000): () => Promise<OidcToken> {
  let cached: { token: OidcToken; renewAt: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.renewAt) return cached.token;
    const { token, expiresInS } = await fetchToken(sasl, readClientSecret, timeoutMs);
    const value: OidcToken = { value: token, ...(sasl.extensions ? { extensions: sasl.extensions } : {}) };
    // Renewed a minute before it expires, or halfway through a short one.
    cached = { token: value, renewAt: Date.now() + Math.max(expiresInS * 500, expiresInS * 1000 - 60_000) };
    return value;
  };
}
