// pushsim dashboard: the journey log kept live by server-sent events (/_sim/events), phones, portal and the
// test-push console. Vanilla JS modules, no build step, no CDN. Every text a person reads goes through t()
// (docs/i18n.md); the page's language is chosen once per load (/static/i18n.js).
import {N_, startLanguage, t, withLanguage} from '/static/i18n.js';
import {FINAL, adviceBox, advice, el, renderJourney, short, stepText, timeText, whyText} from '/static/lanes.js';
import {AuthNeeded, api, download, getJSON, hasToken, readEvents, setToken, takeTokenFromUrl} from '/static/live.js';

const TOPIC_SUFFIX = {
  voip: '.voip', complication: '.complication', fileprovider: '.pushkit.fileprovider',
  liveactivity: '.push-type.liveactivity', location: '.location-query', pushtotalk: '.voip-ptt',
  widgets: '.push-type.widgets', controls: '.push-type.controls',
};
const MAX_ROWS = 200;
// Words the admin JSON carries as values a program reads (states, environments, stages): the page says them
// in its language, the JSON keeps them as they are. word() looks them up with "_" as a space.
export const WORDS = [
  N_('sandbox'), N_('production'), N_('sandbox and production'), N_('active'), N_('uninstalled'),
  N_('replaced'), N_('valid'), N_('expired'), N_('not yet valid'), N_('revoked'), N_('unknown'),
  N_('not running'), N_('background'), N_('foreground'), N_('force quit'), N_('authorized'), N_('denied'),
  N_('not determined'), N_('provisional'), N_('ephemeral'), N_('alert'), N_('sound'), N_('badge'),
  N_('accepted'), N_('rejected'), N_('stored'), N_('discarded'), N_('delivered'), N_('acknowledged'),
  N_('refused'), N_('handed to app'), N_('presented'), N_('not presented'), N_('batched'), N_('restored'),
  N_('fault'), N_('held'), N_('not kept'),
];
function word(value) { return t(String(value).replace(/_/g, ' ')); }

const journeys = new Map();   // apns_id -> notification JSON with its "journey" stages
const phoneTargets = new Map(); // token -> {bundle_id, environment, name}
let stream = null;      // the AbortController of the open event stream
let retryTimer = null;
let phoneTimer = null;

function $(id) { return document.getElementById(id); }
function announce(message) {
  const region = $('announcer');
  region.append(el('p', {text: message}));
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

function renderRow(id, fresh) {
  const n = journeys.get(id);
  const list = $('notifications');
  const old = list.querySelector('li[data-apns-id="' + CSS.escape(id) + '"]');
  const row = renderJourney(n, fresh);
  if (old) {
    // Only the steps that just happened light up; those already shown stay still.
    const shown = new Set([...old.querySelectorAll('.step')].map(s => s.dataset.stage + ':' + s.dataset.state));
    for (const s of row.querySelectorAll('.step')) {
      if (shown.has(s.dataset.stage + ':' + s.dataset.state)) s.classList.add('seen');
    }
    const hadFocus = old.contains(document.activeElement) && document.activeElement.matches('a.export');
    old.replaceWith(row);
    if (hadFocus && row.querySelector('a.export')) row.querySelector('a.export').focus();  // keep keyboard users' place
  } else {
    list.prepend(row);
  }
  while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
  $('no-notifications').hidden = list.childElementCount > 0;
  $('notifications-error').hidden = true;
}
function renderAll() {
  const list = $('notifications');
  list.replaceChildren();
  const items = [...journeys.values()].slice(-MAX_ROWS);
  for (const n of items) list.prepend(renderJourney(n, false));
  $('no-notifications').hidden = items.length > 0;
  $('notifications-error').hidden = true;
}

// The log could not be read: say so where the list is, and never "live" over a list that may be stale.
function showLogError(error) {
  setConnection(t('not live: the notification log could not be read'), 'down');
  $('no-notifications').hidden = true;
  const box = $('notifications-error');
  box.textContent = t('Could not read the notification log ({error}). The list below may be out of date; '
    + 'retrying every few seconds.', {error: error.message});
  box.hidden = false;
}

function mergeStages(known, fresh) {
  const key = s => s.stage + '@' + s.at;
  const seen = new Set(fresh.map(key));
  const merged = fresh.concat(known.filter(s => !seen.has(key(s))));
  return merged.sort((a, b) => a.at - b.at);
}

function onStage(data) {
  const {notification, apns_id: id, ...entry} = data;
  const known = journeys.get(id);
  const isNew = !known;
  const n = Object.assign({}, known || {}, notification, {journey: known ? known.journey : []});
  n.journey = mergeStages(n.journey, [entry]);
  journeys.delete(id); // re-insert: newest activity last, so a reload keeps the same order
  journeys.set(id, n);
  renderRow(id, isNew);
  if (isNew || FINAL.has(entry.stage)) {
    announce(t('Notification to {topic}: {step}', {topic: n.topic || t('no topic'), step: stepText(entry)}));
  }
  schedulePhones(400);
}

// -- phones, portal, clock ------------------------------------------------------------------------------

function schedulePhones(delay) {
  if (phoneTimer !== null) return;
  phoneTimer = setTimeout(() => { phoneTimer = null; loadPhones(); }, delay);
}
async function loadPhones() {
  let data;
  try { data = await getJSON(withLanguage('/_sim/phones')); } catch (e) { if (e instanceof AuthNeeded) askForToken(); return; }
  const list = $('phones');
  list.replaceChildren();
  phoneTargets.clear();
  for (const p of data.phones) {
    const envs = Object.entries(p.online).filter(([, on]) => on).map(([env]) => word(env));
    const apps = el('ul', {class: 'app-list', 'aria-label': t('Apps on {phone}', {phone: p.name})});
    // The server lists live tokens first, newest first (docs/dashboard.md §4); a dead token is
    // marked and offers no test push: APNs would only refuse it.
    for (const a of p.apps) {
      const live = a.live !== false && a.token_state === 'active';
      if (live) {
        phoneTargets.set(a.token, {bundle_id: a.bundle_id, environment: a.environment, name: p.name,
          issued_at: a.issued_at});
      }
      const send = live ? el('button', {type: 'button', class: 'link-button',
        text: t('Send a test push to {app}', {app: a.bundle_id})}) : null;
      if (send) send.addEventListener('click', () => chooseTarget(a.token, true));
      apps.append(el('li', {'data-token': a.token, 'data-live': String(live), class: live ? 'live' : 'dead'},
        el('h4', {}, el('span', {text: a.bundle_id, translate: 'no'}),
          live ? null : el('span', {class: 'dead-mark', text: deadText(a.token_state)})),
        el('dl', {},
          el('dt', {text: t('Token')}), el('dd', {class: 'mono token', text: a.token}),
          el('dt', {text: t('Environment')}), el('dd', {text: word(a.environment)}),
          el('dt', {text: t('Token state')}), el('dd', {class: 'token-state', text: word(a.token_state)}),
          el('dt', {text: t('Badge')}), el('dd', {class: 'badge', text: a.badge === null ? t('unknown')
            : t('{n} ({note})', {n: a.badge, note: a.badge_note})}),
          el('dt', {text: t('Permission')}), el('dd', {class: 'permission', text: permissionText(a)}),
          el('dt', {text: t('App state')}), el('dd', {class: 'app-state', text: word(a.app_state)}),
          el('dt', {text: t('Last push')}), el('dd', {text: a.last_notification
            ? t('{stage} at {time}', {stage: word(a.last_notification.stage), time: timeText(a.last_notification.at)})
            : t('none yet')})),
        send));
    }
    const where = envs.length ? t('Online ({environments})', {environments: envs.join(t(', '))}) : t('Offline');
    list.append(el('li', {class: 'card', 'data-device-id': p.device_id},
      el('h3', {text: p.name, translate: 'no'}),  // the phone's own name, data
      el('p', {}, el('span', {class: envs.length ? 'online' : 'offline', text: where}),
        document.createTextNode(' · ' + t('device {id}', {id: short(p.device_id, 12)}))),
      p.apps.length ? apps : el('p', {class: 'empty', text: t('No apps registered for push.')})));
  }
  $('no-phones').hidden = data.phones.length > 0;
  fillTargets();
}

// [sim] Our phones report the permission itself ("reported": true); otherwise it is APNs' own hint, as text.
function permissionText(a) {
  // A hint, already in the page's language (?lang=); the phone's reasons inside it are its English words, so
  // when they are given on their own the page says them in its language (whyText).
  if (!a.reported && a.permission_why) {
    return t('unknown (nothing presented yet: {why})', {why: whyText(a.permission_why)});
  }
  if (!a.reported) return a.permission;
  const options = a.permission_options && a.permission_options.length
    ? a.permission_options.map(word).join(t(', ')) : '';
  return options ? t('{permission} ({options}), reported by the phone', {permission: word(a.permission), options})
    : t('{permission}, reported by the phone', {permission: word(a.permission)});
}

function deadText(state) {
  if (state === 'uninstalled') return t('uninstalled: APNs answers 410 Unregistered');
  if (state === 'replaced') return t('replaced by a newer token: APNs refuses it');
  return t('not live: {state}', {state: word(state)});
}

// The console's list: live tokens only, newest first, each told apart by phone, app, environment and the
// token's first digits (two installs of one app on one phone differ in their tokens).
function fillTargets() {
  const select = $('push-target');
  const chosen = select.value;
  select.replaceChildren(el('option', {value: '', text: t('Choose a phone’s app, or type a token below')}));
  const newest = [...phoneTargets].sort(([, a], [, b]) => String(b.issued_at).localeCompare(String(a.issued_at)));
  for (const [token, target] of newest) {
    // Flat, with no brackets inside brackets: the Chinese environment word already carries Apple's in brackets.
    select.append(el('option', {value: token, text: t('{phone}: {app} · {environment} · token {prefix}', {
      phone: target.name, app: target.bundle_id, environment: word(target.environment), prefix: short(token, 8)})}));
  }
  if (phoneTargets.has(chosen)) select.value = chosen;
}

function chooseTarget(token, focus) {
  const target = phoneTargets.get(token);
  if (!target) return;
  $('push-target').value = token;
  $('push-token').value = token;
  $('push-environment').value = target.environment;
  $('push-topic').value = target.bundle_id + (TOPIC_SUFFIX[$('push-type').value] || '');
  if (focus) { $('console-heading').scrollIntoView(); $('push-payload').focus(); }
}

function cell(text, cls) { return el('td', {text: text, class: cls}); }
async function loadPortal() {
  let data;
  try { data = await getJSON('/_sim/portal'); } catch (e) { if (e instanceof AuthNeeded) askForToken(); return; }
  const none = cols => el('tr', {}, el('td', {colSpan: cols, class: 'empty', text: t('None yet.')}));
  $('app-ids').replaceChildren(...(data.app_ids.length ? data.app_ids.map(a => el('tr', {},
    cell(a.bundle_id), cell(a.team_id),
    cell(a.wildcard ? t('no (wildcard App ID)') : a.push_enabled ? t('enabled') : t('disabled')),
    cell(String(a.certificates))))
    : [none(4)]));
  $('certificates').replaceChildren(...(data.certificates.length ? data.certificates.map(c => el('tr', {},
    cell(c.serial, 'mono'), cell(c.bundle_id), cell(word(c.environment)), cell(c.topics.join(', ')),
    cell(c.not_after.slice(0, 10)), cell(word(c.status), c.status === 'valid' ? 'ok' : 'bad'))) : [none(6)]));
  $('auth-keys').replaceChildren(...(data.auth_keys.length ? data.auth_keys.map(k => el('tr', {},
    cell(k.key_id, 'mono'), cell(k.team_id), cell(word(k.environment)), cell(word(k.status))))
    : [none(4)]));
}

async function loadClock() {
  try {
    const c = await getJSON('/_sim/clock');
    const at = c.iso.replace('T', ' ').slice(0, 19);
    $('clock').textContent = c.frozen ? t('{time} (frozen)', {time: at}) : at;
  } catch (e) { /* the simulator may be restarting */ }
}

// -- live updates -----------------------------------------------------------------------------------------

async function loadJourneys() {
  const items = await getJSON('/_sim/notifications');
  const next = new Map();
  for (const n of items) {
    const known = journeys.get(n.apns_id);
    if (known) n.journey = mergeStages(known.journey, n.journey);
    next.set(n.apns_id, n);
  }
  journeys.clear();
  for (const [id, n] of next) journeys.set(id, n);
  renderAll();
}

function setConnection(text, cls) {
  const node = $('connection');
  node.textContent = text;
  node.className = cls;
}

function reconnect(delay) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

function onEvent(name, data) {
  if (name === 'ready') {
    // A reconnect may have missed stages: read the whole log again, then keep applying events. "live" only
    // once the log was read: a failed read is an error state, not an empty list.
    loadJourneys().then(() => setConnection(t('live'), 'live'), error => {
      if (error instanceof AuthNeeded) { askForToken(); return; }
      showLogError(error);
      reconnect(5000);
    });
    loadPhones();
    loadPortal();
  } else if (name === 'stage') {
    onStage(JSON.parse(data));
  } else if (name === 'overflow') {
    reconnect(500);
  }
}

function connect() {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  readEvents('/_sim/events', controller.signal, onEvent).then(() => 'ended', error => error).then(outcome => {
    if (stream !== controller) return;  // replaced by a newer connection: that one reports
    if (outcome instanceof AuthNeeded) { askForToken(); return; }
    if ($('notifications-error').hidden) setConnection(t('reconnecting…'), 'down');  // else the error stays said
    reconnect(2000);
  });
}

// -- the admin token (docs/dashboard.md §1) ---------------------------------------------------------------

function askForToken() {
  if (!$('token-form').hidden) return;  // already asking: do not steal the focus again
  if (stream) { stream.abort(); stream = null; }
  clearTimeout(retryTimer);
  setConnection(t('waiting for the admin token'), 'down');
  $('token-form').hidden = false;
  $('token-input').focus();
}

function startTokenForm() {
  $('token-form').addEventListener('submit', event => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    if (!token) return;
    setToken(token);
    $('token-input').value = '';
    $('token-form').hidden = true;
    start();
  });
  // With a token, a plain link cannot carry it: the export is fetched with the token, then saved.
  $('notifications').addEventListener('click', event => {
    const link = event.target.closest('a.export');
    if (!link || !hasToken()) return;
    event.preventDefault();
    download(link.getAttribute('href')).catch(error => {
      if (error instanceof AuthNeeded) askForToken();
    });
  });
}

// -- the console form ---------------------------------------------------------------------------------------

function checkPayload() {
  const area = $('push-payload');
  const error = $('payload-error');
  $('payload-help').textContent = t('{n} bytes; APNs allows 4096 (5120 for VoIP).',
    {n: new TextEncoder().encode(area.value).length});
  try {
    const value = JSON.parse(area.value);
    area.removeAttribute('aria-invalid');
    error.hidden = true;
    error.textContent = '';
    return {ok: true, value};
  } catch (e) {
    area.setAttribute('aria-invalid', 'true');
    error.hidden = false;
    error.textContent = t('The payload is not valid JSON: {error}', {error: e.message});
    return {ok: false};
  }
}

async function sendPush(event) {
  event.preventDefault();
  const result = $('push-result');
  const payload = checkPayload();
  if (!payload.ok) { $('push-payload').focus(); return; }
  const token = $('push-token').value.trim();
  if (!token) {
    $('push-token').setAttribute('aria-invalid', 'true');
    result.replaceChildren(el('p', {class: 'bad', text: t('Choose a phone’s app or type a device token.')}));
    $('push-token').focus();
    return;
  }
  $('push-token').removeAttribute('aria-invalid');
  const body = {
    environment: $('push-environment').value, device_token: token, topic: $('push-topic').value.trim(),
    push_type: $('push-type').value, priority: $('push-priority').value,
    expiration: $('push-expiration').value.trim(), collapse_id: $('push-collapse').value,
    payload: payload.value && typeof payload.value === 'object' && !Array.isArray(payload.value)
      ? payload.value : $('push-payload').value,
  };
  result.replaceChildren(el('p', {text: t('Sending…')}));
  let answer;
  try {
    const response = await api(withLanguage('/_sim/console/push'), {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body)});
    answer = await response.json();
    if (!response.ok && answer.error) {
      result.replaceChildren(el('p', {class: 'bad', text: t('Not sent: {error}', {error: answer.error})}));
      return;
    }
  } catch (e) {
    if (e instanceof AuthNeeded) askForToken();
    result.replaceChildren(el('p', {class: 'bad', text: t('Could not reach the simulator: {error}', {error: e.message})}));
    return;
  }
  if (answer.status === 200) {
    result.replaceChildren(el('p', {class: 'ok', 'data-status': '200',
      text: t('Accepted (200). apns-id {apns_id}', {apns_id: answer.apns_id})}));
  } else {
    result.replaceChildren(el('p', {class: 'bad', 'data-status': String(answer.status),
      text: t('Rejected: {status} {reason}', {status: answer.status, reason: answer.reason})}), adviceBox(answer.reason));
  }
}

// The console's first payload with its texts in the page's language (the keys are Apple's and stay). A payload
// the browser restored (back/forward) differs from the HTML's and is left as it is.
function defaultPayload() {
  const area = $('push-payload');
  if (area.value !== area.defaultValue) return;
  const title = JSON.stringify(t('Hello')), body = JSON.stringify(t('From the pushsim console'));
  // Laid out as the HTML's default, the alert on one line, so the nine rows show it all.
  area.value = '{\n  "aps": {\n    "alert": {"title": ' + title + ', "body": ' + body + '},\n'
    + '    "sound": "default",\n    "badge": 1\n  }\n}';
}

function startForm() {
  defaultPayload();
  $('push-form').addEventListener('submit', sendPush);
  $('push-payload').addEventListener('input', checkPayload);
  $('push-format').addEventListener('click', () => {
    const checked = checkPayload();
    if (checked.ok) $('push-payload').value = JSON.stringify(checked.value, null, 2);
    checkPayload();
  });
  $('push-target').addEventListener('change', () => chooseTarget($('push-target').value, false));
  $('push-type').addEventListener('change', () => {
    const target = phoneTargets.get($('push-token').value.trim());
    if (target) $('push-topic').value = target.bundle_id + (TOPIC_SUFFIX[$('push-type').value] || '');
  });
  checkPayload();
}

async function start() {
  try {
    for (const r of (await getJSON(withLanguage('/_sim/reasons'))).reasons) advice.set(r.reason, r);
  } catch (e) {
    if (e instanceof AuthNeeded) { askForToken(); return; }
    /* advice is a help, not a requirement */
  }
  connect();
  loadClock();
}

document.addEventListener('DOMContentLoaded', async () => {
  takeTokenFromUrl();
  await startLanguage(getJSON);
  startForm();
  startTokenForm();
  start();
  setInterval(loadClock, 1000);
  setInterval(() => schedulePhones(0), 3000);  // online state changes without a journey stage
  setInterval(loadPortal, 10000);
});
