// pushsim dashboard, the lanes: one notification drawn as four lanes (provider | APNs | device | app).
// Pure rendering from the journey JSON of /_sim/notifications; data from the provider (payloads, topics)
// is only ever set as text, never as HTML.

export const LANES = [
  ['provider', 'Provider'], ['apns', 'APNs'], ['device', 'Device'], ['app', 'App'],
];
export const STAGE_LANE = {
  accepted: 'apns', rejected: 'apns', stored: 'apns', replaced: 'apns', discarded: 'apns', expired: 'apns',
  delivered: 'apns', fault: 'apns', batched: 'apns', restored: 'apns', acknowledged: 'device', refused: 'device',
  handed_to_app: 'app', presented: 'app', not_presented: 'app',
};
export const FAILED = new Set(['rejected', 'refused', 'expired', 'discarded', 'replaced', 'not_presented']);
export const INFO = new Set(['stored', 'fault', 'batched', 'restored']);
export const FINAL = new Set(['rejected', 'refused', 'expired', 'discarded', 'replaced', 'presented', 'not_presented']);
// The steps of a push that goes all the way, shown grey until they happen.
export const HAPPY = [['apns', 'delivered'], ['device', 'acknowledged'], ['app', 'handed_to_app'], ['app', 'presented']];
export const PENDING_TEXT = {
  accepted: 'Accepted by APNs', delivered: 'Delivered to the phone', acknowledged: 'Acknowledged by the phone',
  handed_to_app: 'Handed to the app', presented: 'Presented to the user',
};
export const advice = new Map();     // reason -> {meaning, action, retry, status}, from /_sim/reasons

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'href'
             || key === 'download' || key === 'id' || key === 'datetime' || key === 'scope') node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
export function timeText(at) {
  const d = new Date(at * 1000);
  return d.toLocaleTimeString([], {hour12: false}) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}
export function short(value, n) { return value && value.length > n ? value.slice(0, n) + '…' : (value || ''); }
// -- what a step says ---------------------------------------------------------------------------------

export function alertText(alert) {
  if (typeof alert === 'string') return alert;
  if (alert && typeof alert === 'object') return [alert.title, alert.subtitle, alert.body].filter(Boolean).join(': ');
  return '';
}
export function presentedText(s) {
  const parts = [];
  if (s.alert !== null && s.alert !== undefined) {
    parts.push('alert “' + alertText(s.alert) + '”' + (s.where === 'lock_screen' ? ' on the Lock Screen' : ''));
  }
  if (s.sound !== null && s.sound !== undefined) parts.push('sound ' + (typeof s.sound === 'string' ? s.sound : 'critical'));
  if (s.badge !== null && s.badge !== undefined) parts.push('badge ' + s.badge);
  return parts.length ? parts.join(', ') : 'nothing visible';
}
export function stepText(s) {
  switch (s.stage) {
    case 'accepted': return 'Accepted by APNs';
    case 'rejected': return 'Rejected: ' + s.reason + (s.status ? ' (' + s.status + ')' : '');
    case 'stored': return 'Stored: ' + (s.detail || 'the phone is offline');
    case 'replaced': return 'Replaced by a newer notification' + (s.by ? ' ' + short(s.by, 8) : '');
    case 'discarded': return 'Discarded: ' + (s.detail || 'not stored');
    case 'expired': return 'Expired: ' + (s.detail || 'too old to deliver');
    case 'delivered': return 'Delivered to the phone' + (s.from_storage ? ' (from storage)' : '');
    case 'acknowledged': return 'Acknowledged by the phone';
    case 'refused': return 'Refused by the phone: ' + (s.detail || 'the app is not installed');
    case 'handed_to_app': return 'Handed to the app';
    case 'presented': return 'Presented: ' + presentedText(s)
        + (s.replaces ? ' (replaced ' + short(s.replaces, 8) + ', same collapse id)' : '');
    case 'not_presented': return 'Not presented: ' + (s.why || 'no reason given');
    case 'fault': return 'Fault injected: ' + (s.detail || s.kind);
    case 'batched': return 'Batched (priority ' + s.priority + '): ' + (s.detail || 'held for the next burst');
    case 'restored': return 'Restored: ' + (s.detail || 'read back after a restart');
    default: return s.stage.replace(/_/g, ' ');
  }
}
export function step(text, state, at, stage) {
  const marks = {done: '✓', failed: '✗', info: '•', pending: '…'};
  const words = {done: '', failed: '', info: '', pending: ' (not yet)'};
  return el('li', {class: 'step ' + state, 'data-stage': stage, 'data-state': state},
    el('span', {class: 'mark', 'aria-hidden': 'true', text: marks[state]}),
    el('span', {class: 'step-text', text: text}),
    words[state] ? el('span', {class: 'visually-hidden', text: words[state]}) : null,
    at ? el('time', {text: timeText(at), datetime: new Date(at * 1000).toISOString()}) : null);
}

// -- one notification as a row of four lanes -----------------------------------------------------------

export function title(n) {
  const payload = n.payload;
  const aps = payload && typeof payload === 'object' ? payload.aps : null;
  const text = aps ? alertText(aps.alert) : '';
  return text ? '“' + short(text, 60) + '”' : (n.push_type || 'push') + ' notification';
}
export function exportable(n) {
  return n.status === 200 && n.payload && typeof n.payload === 'object' && !Array.isArray(n.payload)
    && n.payload.aps && typeof n.payload.aps === 'object';
}

export function renderJourney(n, fresh) {
  const stages = n.journey || [];
  const first = stages[0] || {};
  const from = first.source === 'console' ? 'console' : 'provider';
  const finished = stages.some(s => FINAL.has(s.stage));
  const headingId = 'n-' + n.apns_id;
  const ok = n.status === 200;
  const lanes = {};
  for (const [key, name] of LANES) {
    lanes[key] = el('ol', {class: 'steps', 'aria-label': name + ' steps'});
  }
  lanes.provider.append(step(from === 'console' ? 'Sent from the console' : 'Sent by the provider', 'done', first.at, 'sent'));
  if (n.status) {
    const answer = ok ? 'Answered 200 OK' : 'Answered ' + n.status + ' ' + (n.reason || '');
    lanes.provider.append(step(answer, ok ? 'done' : 'failed', first.at, 'answer'));
  }
  for (const s of stages) {
    const state = FAILED.has(s.stage) ? 'failed' : INFO.has(s.stage) ? 'info' : 'done';
    const shown = s.stage === 'rejected' && !s.status ? Object.assign({}, s, {status: n.status}) : s;
    lanes[STAGE_LANE[s.stage] || 'apns'].append(step(stepText(shown), state, s.at, s.stage));
  }
  if (ok && !finished) {
    const seen = new Set(stages.map(s => s.stage));
    for (const [lane, stage] of HAPPY) {
      if (!seen.has(stage)) lanes[lane].append(step(PENDING_TEXT[stage], 'pending', null, stage));
    }
  }
  const laneBox = el('div', {class: 'lanes'});
  for (const [key, name] of LANES) {
    // A group, not a section: four landmarks per row would drown the page's real landmarks.
    laneBox.append(el('div', {class: 'lane lane-' + key, role: 'group', 'aria-label': name},
      el('p', {class: 'lane-title', 'aria-hidden': 'true', text: name}), lanes[key]));
  }
  const meta = el('p', {class: 'journey-meta'},
    el('span', {text: 'apns-id '}, el('span', {class: 'mono', text: n.apns_id})),
    el('span', {text: 'token '}, el('span', {class: 'mono', text: short(n.token, 16), title: n.token})),
    el('span', {text: n.environment + (n.push_type ? ', ' + n.push_type : '') + (n.priority ? ', priority ' + n.priority : '')}),
    el('span', {text: 'from the ' + from}));
  if (exportable(n)) {
    meta.append(el('a', {href: '/_sim/notifications/' + encodeURIComponent(n.apns_id) + '/apns', download: '',
      class: 'export', 'aria-label': 'Export notification ' + n.apns_id + ' as an .apns file',
      text: 'Export .apns'}));
  }
  const article = el('article', {'aria-labelledby': headingId},
    el('h3', {class: 'journey-title', id: headingId},
      el('span', {text: title(n) + ' → ' + (n.topic || 'no topic')}),
      el('span', {class: 'status-pill ' + (ok ? 'ok' : 'bad'), text: ok ? '200 accepted' : n.status + ' ' + (n.reason || 'not accepted')})),
    meta, laneBox);
  if (n.payload_note) {  // a payload too deep to render as JSON comes as its text (docs/dashboard.md §1)
    article.append(el('p', {class: 'payload-note', role: 'note', text: 'Payload ' + n.payload_note + '.'}));
  }
  if (!ok && n.reason) article.append(adviceBox(n.reason));
  const notShown = stages.find(s => s.stage === 'not_presented');
  if (notShown) {
    article.append(el('div', {class: 'advice why-not', role: 'note'},
      el('p', {}, el('strong', {text: 'Why it was not presented: '}), document.createTextNode(notShown.why || 'no reason given'))));
  }
  return el('li', {class: 'journey' + (fresh ? ' fresh' : ''), 'data-apns-id': n.apns_id,
    'data-status': String(n.status)}, article);
}

export function adviceBox(reason) {
  const a = advice.get(reason);
  const box = el('div', {class: 'advice', role: 'note', 'data-reason': reason});
  if (!a) {
    box.append(el('p', {text: reason + ': see Apple’s “Handling notification responses from APNs”.'}));
    return box;
  }
  box.append(el('p', {}, el('strong', {text: reason + ' (' + a.status + '): '}), document.createTextNode(a.meaning)),
    el('p', {}, el('strong', {text: 'What to do: '}), document.createTextNode(a.action)),
    el('p', {}, el('strong', {text: 'Retry: '}), document.createTextNode(a.retry)));
  return box;
}
