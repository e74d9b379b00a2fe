// pushsim dashboard, the lanes: one notification drawn as four lanes (provider | APNs | device | app), which
// are the tutorial's three stages: (1) provider -> APNs, (2) APNs -> iPhone, (3) iPhone -> app (device and
// app). Pure rendering from the journey JSON of /_sim/notifications; data from the provider (payloads, topics)
// is only ever set as text, never as HTML. Every text a person reads goes through t() (docs/i18n.md).
import {N_, reasons, t} from '/static/i18n.js';

export const LANES = [
  ['provider', N_('Provider')], ['apns', N_('APNs')], ['device', N_('Device')], ['app', N_('App')],
];
export const STAGE_LANE = {
  accepted: 'apns', rejected: 'apns', stored: 'apns', replaced: 'apns', discarded: 'apns', expired: 'apns',
  delivered: 'apns', fault: 'apns', batched: 'apns', restored: 'apns', held: 'apns', not_kept: 'apns',
  acknowledged: 'device', refused: 'device', handed_to_app: 'app', presented: 'app', not_presented: 'app',
};
export const FAILED = new Set(['rejected', 'refused', 'expired', 'discarded', 'replaced', 'not_presented']);
export const INFO = new Set(['stored', 'fault', 'batched', 'restored', 'held', 'not_kept']);
// Steps that say a push is waiting (for the presenter, an offline phone, a burst): yellow while it waits, grey
// history once a later stage happened, so a delivered push never looks as if it were still held.
export const WAITING = new Set(['held', 'stored', 'batched']);
export const FINAL = new Set(['rejected', 'refused', 'expired', 'discarded', 'replaced', 'presented', 'not_presented']);
// The steps of a push that goes all the way, shown grey until they happen.
export const HAPPY = [['apns', 'delivered'], ['device', 'acknowledged'], ['app', 'handed_to_app'], ['app', 'presented']];
export const PENDING_TEXT = {
  accepted: N_('Accepted by APNs'), delivered: N_('Delivered to the phone'),
  acknowledged: N_('Acknowledged by the phone'), handed_to_app: N_('Handed to the app'),
  presented: N_('Presented to the user'),
};
// The simulator's own fixed details (apns_sim's journey stages), so the page can say them in its language;
// a detail not listed here is shown as the simulator wrote it.
export const DETAILS = [
  N_('expired while the phone was offline'), N_('expired while held for the presenter'),
  N_('the app is not installed on the phone'),
  N_('expired while held for a burst'), N_('read back from the data dir after a simulator restart'),
  N_('APNs keeps one notification per app for an offline phone'), N_('held for the next burst'),
  N_('apns-expiration 0 and the phone is offline: one attempt, never stored'),
  // apns_sim/delivery/store_and_forward.py: what a closed connection left behind, and a priority-1 batch.
  N_('not acknowledged before the connection closed'), N_('held for a burst when the connection closed'),
  N_('held for the presenter when the connection closed'),
  N_('not acknowledged before the connection closed: kept in full for the next connection'),
  N_('priority 1: waits for the next burst or priority 10 push to this phone'),
  // apns_sim/faults/rules.py: what an injected fault did.
  N_('answered with the fault\'s status and reason instead of processing the request'),
  N_('processed as usual; the answer was held back'),
  N_('GOAWAY with last_stream_id below this stream: not processed, safe to resend'),
  N_('processed and answered, then GOAWAY'), N_('RST_STREAM: not processed'),
  N_('not processed and never answered'), N_('the TCP connection was aborted: not processed'),
  N_('processed as usual; the connection\'s MAX_CONCURRENT_STREAMS was lowered (SETTINGS)'),
  N_('the phone\'s courier connection was dropped'),
  N_('the phone\'s ack was ignored: the notification stays in flight until the connection drops'),
];
// Why the phone did not present a push: the phone joins several reasons with "; " and its wire text stays
// English for the programs that read it, so the page says it part by part. The reasons and their templates
// (a number in "{count}") come with the catalog (pushsim_i18n/phone_reasons.py, the one list the narration
// uses too); a part that matches none is shown as the phone wrote it.
const reasonPatterns = new Map();
function reasonPattern(template) {
  if (!reasonPatterns.has(template)) {
    const source = template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{(\w+)\\\}/g, '(?<$1>\\S+?)');
    reasonPatterns.set(template, new RegExp('^' + source + '$'));
  }
  return reasonPatterns.get(template);
}
function whyPart(part) {
  for (const template of reasons()) {
    const m = reasonPattern(template).exec(part);
    if (m) return t(template, m.groups || {});
  }
  return t(part);
}
// "permission denied: delivered silently; ..." in the page's language, each part on its own.
export function whyText(why) { return why ? why.split('; ').map(whyPart).join(t('; ')) : t('no reason given'); }
export const advice = new Map();     // reason -> {meaning, action, retry, status}, from /_sim/reasons

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'href'
             || key === 'download' || key === 'id' || key === 'datetime' || key === 'scope' || key === 'translate') node.setAttribute(key, value);
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
    parts.push(s.where === 'lock_screen' ? t('alert “{text}” on the Lock Screen', {text: alertText(s.alert)})
      : t('alert “{text}”', {text: alertText(s.alert)}));
  }
  if (s.sound !== null && s.sound !== undefined) {
    const critical = t('critical');  // a critical alert's sound is a dictionary, not a name
    parts.push(t('sound {name}', {name: typeof s.sound === 'string' ? s.sound : critical}));
  }
  if (s.badge !== null && s.badge !== undefined) parts.push(t('badge {n}', {n: s.badge}));
  return parts.length ? parts.join(t(', ')) : t('nothing visible');
}
// What a stage says when the simulator gave no detail (marked here: Babel does not see a mark nested in a call).
const NO_DETAIL = {
  stored: N_('the phone is offline'), discarded: N_('not stored'), expired: N_('too old to deliver'),
  refused: N_('the app is not installed'), batched: N_('held for the next burst'),
  restored: N_('read back after a restart'),
};
function detail(s) { return t(s.detail || NO_DETAIL[s.stage] || s.stage); }
// The state of stages[i] as drawn: 'past' is a waiting step that a later stage has ended.
export function stepState(stages, i) {
  const stage = stages[i].stage;
  if (FAILED.has(stage)) return 'failed';
  if (!INFO.has(stage)) return 'done';
  return WAITING.has(stage) && i < stages.length - 1 ? 'past' : 'info';
}
// ``next`` is the stage after ``s`` (undefined while ``s`` is the latest): a held step says how it ended.
export function stepText(s, next) {
  switch (s.stage) {
    case 'accepted': return t('Accepted by APNs');
    case 'rejected': return s.status ? t('Rejected: {reason} ({status})', {reason: s.reason, status: s.status})
      : t('Rejected: {reason}', {reason: s.reason});
    case 'stored': return t('Stored: {detail}', {detail: detail(s)});
    case 'replaced': return s.by ? t('Replaced by a newer notification {id}', {id: short(s.by, 8)})
      : t('Replaced by a newer notification');
    case 'discarded': return t('Discarded: {detail}', {detail: detail(s)});
    case 'expired': return t('Expired: {detail}', {detail: detail(s)});
    case 'delivered': return s.from_storage ? t('Delivered to the phone (from storage)') : t('Delivered to the phone');
    case 'acknowledged': return t('Acknowledged by the phone');
    case 'refused': return t('Refused by the phone: {detail}', {detail: detail(s)});
    case 'handed_to_app': return t('Handed to the app');
    case 'presented': return s.replaces
      ? t('Presented: {what} (replaced {id}, same collapse id)', {what: presentedText(s), id: short(s.replaces, 8)})
      : t('Presented: {what}', {what: presentedText(s)});
    case 'not_presented': return t('Not presented: {why}', {why: whyText(s.why)});
    case 'fault': return t('Fault injected: {detail}', {detail: s.detail ? t(s.detail) : s.kind});
    case 'batched': return t('Batched (priority {priority}): {detail}',
      {priority: s.priority, detail: detail(s)});
    case 'restored': return t('Restored: {detail}', {detail: detail(s)});
    // Teacher mode (python -m scenarios --step): APNs waits for the presenter before stage 2.
    case 'held': return !next ? t('Held until the presenter moves on (teacher mode)')
      : next.stage === 'delivered' ? t('Held for the presenter, then released (teacher mode)')
        : t('Was held for the presenter (teacher mode)');
    case 'not_kept': return t('Not stored again: the phone reported taking it');
    default: return s.stage.replace(/_/g, ' ');
  }
}
export function step(text, state, at, stage) {
  const marks = {done: '✓', failed: '✗', info: '•', past: '•', pending: '…'};
  const words = {done: '', failed: '', info: '', past: '', pending: ' ' + t('(not yet)')};
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
  return text ? '“' + short(text, 60) + '”' : t('{type} notification', {type: n.push_type || 'push'});
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
    lanes[key] = el('ol', {class: 'steps', 'aria-label': t('{lane} steps', {lane: t(name)})});
  }
  lanes.provider.append(step(from === 'console' ? t('Sent from the console') : t('Sent by the provider'), 'done',
    first.at, 'sent'));
  if (n.status) {
    const answer = ok ? t('Answered 200 OK') : t('Answered {status} {reason}', {status: n.status, reason: n.reason || ''});
    lanes.provider.append(step(answer, ok ? 'done' : 'failed', first.at, 'answer'));
  }
  stages.forEach((s, i) => {
    const shown = s.stage === 'rejected' && !s.status ? Object.assign({}, s, {status: n.status}) : s;
    lanes[STAGE_LANE[s.stage] || 'apns'].append(step(stepText(shown, stages[i + 1]), stepState(stages, i), s.at,
      s.stage));
  });
  if (ok && !finished) {
    const seen = new Set(stages.map(s => s.stage));
    for (const [lane, stage] of HAPPY) {
      if (!seen.has(stage)) lanes[lane].append(step(t(PENDING_TEXT[stage]), 'pending', null, stage));
    }
  }
  const laneBox = el('div', {class: 'lanes'});
  for (const [key, name] of LANES) {
    // A group, not a section: four landmarks per row would drown the page's real landmarks.
    // A group, labelled by its lane; the stage numbers head the columns (the sticky lane headings).
    laneBox.append(el('div', {class: 'lane lane-' + key, role: 'group', 'aria-label': t(name)}, lanes[key]));
  }
  const meta = el('p', {class: 'journey-meta'},
    el('span', {}, el('span', {text: 'apns-id '}), el('span', {class: 'mono', text: n.apns_id})),
    el('span', {}, el('span', {text: t('token') + ' '}),
      el('span', {class: 'mono', text: short(n.token, 16), title: n.token})),
    el('span', {text: [n.environment, n.push_type, n.priority ? t('priority {n}', {n: n.priority}) : null]
      .filter(Boolean).join(t(', '))}),
    n.interface ? el('span', {class: 'interface', text: interfaceText(n.interface)}) : null,
    el('span', {text: from === 'console' ? t('from the console') : t('from the provider')}));
  if (exportable(n)) {
    meta.append(el('a', {href: '/_sim/notifications/' + encodeURIComponent(n.apns_id) + '/apns', download: '',
      class: 'export', 'aria-label': t('Export notification {id} as an .apns file', {id: n.apns_id}),
      text: t('Export .apns')}));
  }
  // Title and facts share one line when they fit: at 1280x800 three notifications must fit (docs/dashboard.md §5).
  const article = el('article', {'aria-labelledby': headingId},
    el('div', {class: 'journey-head'},
      el('h3', {class: 'journey-title', id: headingId},
        el('span', {text: title(n) + ' → ' + (n.topic || t('no topic')), translate: 'no'}),  // provider data
        el('span', {class: 'status-pill ' + (ok ? 'ok' : 'bad'),
          text: ok ? t('200 accepted') : n.status + ' ' + (n.reason || t('not accepted'))})),
      meta),
    laneBox);
  if (n.payload_note) {  // a payload too deep to render as JSON comes as its text (docs/dashboard.md §1)
    article.append(el('p', {class: 'payload-note', role: 'note', text: payloadNote(n.payload_note)}));
  }
  if (!ok && n.reason) article.append(adviceBox(n.reason));
  const notShown = stages.find(s => s.stage === 'not_presented');
  if (notShown) {
    article.append(el('div', {class: 'advice why-not', role: 'note'},
      el('p', {}, el('strong', {text: t('Why it was not presented:') + ' '}),
        document.createTextNode(whyText(notShown.why)))));
  }
  return el('li', {class: 'journey' + (fresh ? ' fresh' : ''), 'data-apns-id': n.apns_id,
    'data-status': String(n.status)}, article);
}

export function adviceBox(reason) {
  const a = advice.get(reason);
  const box = el('div', {class: 'advice', role: 'note', 'data-reason': reason});
  if (!a) {
    box.append(el('p', {text: t('{reason}: see Apple’s “Handling notification responses from APNs”.', {reason})}));
    return box;
  }
  // meaning, action and retry come translated from GET /_sim/reasons?lang= (docs/admin-api.md §2).
  box.append(el('p', {}, el('strong', {text: reason + ' (' + a.status + '): '}), document.createTextNode(a.meaning)),
    el('p', {}, el('strong', {text: t('What to do:') + ' '}), document.createTextNode(a.action)),
    el('p', {}, el('strong', {text: t('Retry:') + ' '}), document.createTextNode(a.retry)));
  return box;
}

// "nested 150 levels deep (more than 100): shown as the text that was sent" (apns_sim/admin/render.py).
export function payloadNote(note) {
  const m = /^nested (\d+) levels deep \(more than (\d+)\)/.exec(note);
  return m ? t('Payload nested {depth} levels deep (more than {limit}): shown as the text that was sent.',
    {depth: m[1], limit: m[2]}) : t('Payload {note}.', {note});
}

export function interfaceText(name) {
  return name === 'binary' ? t('legacy binary interface') : name === 'http2' ? t('HTTP/2 provider API') : name;
}
