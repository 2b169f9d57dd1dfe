// The accounts HTTP API (docs/api.md): JSON over fetch, same origin, with the session cookie.

/**
 * Sends a request; never throws. Resolves with {ok, status, data, retryAfter}, where `data` is the
 * parsed JSON body (or {} when there is none). Network failures come back as status 0 with an
 * `error` message for people.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { error: 'Could not reach the server. Check your connection and try again.' } };
  }
  let data = {};
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (!data || typeof data !== 'object') data = {};
  if (!res.ok && typeof data.error !== 'string') {
    data.error = res.status === 429 ? 'Too many attempts. Try again later.' : `Something went wrong (${res.status}). Please try again.`;
  }
  return { ok: res.ok, status: res.status, data, retryAfter: res.headers.get('Retry-After') };
}

/** The signed-in user ({id, username, email}) or null. */
export async function fetchMe() {
  const r = await api('GET', '/api/account/me');
  return r.ok && r.data.user ? r.data.user : null;
}
