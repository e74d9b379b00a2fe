// pushsim dashboard, the wire: every request to the admin server, with the admin token when the simulator
// asks for one, and the event stream read with fetch (EventSource cannot send an Authorization header).
// docs/dashboard.md §1: the token comes once in the URL's fragment (#token=..., never sent to the server,
// removed from the address bar at once) or from the form the page shows on a 401; it is kept in this tab's
// sessionStorage only, never in a cookie, so no other page or port ever receives it.

const KEY = 'pushsim-admin-token';

export class AuthNeeded extends Error {}

export function takeTokenFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', location.pathname + location.search);  // out of the address bar and history
  }
}
export function setToken(token) { sessionStorage.setItem(KEY, token); }
export function hasToken() { return Boolean(sessionStorage.getItem(KEY)); }

function headers(extra) {
  const token = sessionStorage.getItem(KEY);
  return Object.assign({}, extra || {}, token ? {Authorization: 'Bearer ' + token} : {});
}

export async function api(url, options) {
  const opts = Object.assign({cache: 'no-store'}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(url, opts);
  if (response.status === 401) throw new AuthNeeded('the simulator asks for its admin token');
  return response;
}

export async function getJSON(url) {
  const response = await api(url);
  if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
  return response.json();
}

// Server-sent events over fetch: calls onEvent(name, data) per event until the stream ends (resolves) or
// fails (rejects). `signal` aborts it. Comments (": keep-alive") are skipped, as an EventSource would.
export async function readEvents(url, signal, onEvent) {
  const response = await api(url, {signal, headers: {Accept: 'text/event-stream'}});
  if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = text;
        else if (field === 'data') data.push(text);
      }
      if (data.length) onEvent(name, data.join('\n'));
    }
  }
}

// A download that needs the token: fetched, then saved under the server's file name.
export async function download(url) {
  const response = await api(url);
  if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
  const disposition = response.headers.get('Content-Disposition') || '';
  const match = /filename="([^"]+)"/.exec(disposition);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await response.blob());
  link.download = match ? match[1] : 'notification.apns';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
