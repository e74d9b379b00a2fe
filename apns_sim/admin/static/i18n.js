// pushsim dashboard, the language (docs/dashboard.md §2): English or Simplified Chinese, chosen per tab
// by ?lang=zh|en, else the switch's last choice (localStorage), else navigator.languages, else English. The
// Chinese comes from the admin server's catalog (GET /_sim/i18n/zh.json, the "dashboard" gettext domain), keyed
// by the English text, which is also what the page shows when a text has no translation.

const KEY = 'pushsim-lang';
export const LANGUAGES = ['en', 'zh'];
const HTML_LANG = {en: 'en', zh: 'zh-CN'};
let messages = {};
let reasonTemplates = [];  // the phone's reasons as templates (lanes.js whyText), with the catalog
let current = 'en';

// Marks a text for extraction without translating it now (a table built before the catalog is loaded).
export function N_(text) { return text; }

// "English text" in the page's language, with {name} filled from values (as Python's str.format names).
export function t(text, values) {
  const own = Object.prototype.hasOwnProperty.call(messages, text) ? messages[text] : text;
  if (!values) return own;
  return own.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export function language() { return current; }

export function reasons() { return reasonTemplates; }

// "zh", "zh-CN", "zh-Hant-TW" -> "zh"; "en-GB" -> "en"; anything else -> null.
export function normalize(tag) {
  const base = String(tag || '').trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.includes(base) ? base : null;
}

export function chooseLanguage() {
  const asked = normalize(new URLSearchParams(location.search).get('lang'));
  if (asked) return asked;
  let remembered = null;
  try { remembered = normalize(localStorage.getItem(KEY)); } catch (e) { /* storage may be disabled */ }
  if (remembered) return remembered;
  // The browser's preferred languages in order: the first we have wins, so any zh-* gives Chinese unless
  // English is preferred above it.
  for (const tag of navigator.languages || [navigator.language]) {
    const found = normalize(tag);
    if (found) return found;
  }
  return 'en';
}

// Choose, load the catalog and translate the page's marked HTML. A catalog that cannot be read leaves English.
export async function startLanguage(fetchJSON) {
  current = chooseLanguage();
  document.documentElement.lang = HTML_LANG[current];
  if (current !== 'en') {
    try {
      const catalog = await fetchJSON('/_sim/i18n/' + current + '.json');
      messages = catalog.messages || {};
      reasonTemplates = catalog.reasons || [];
    } catch (e) {
      messages = {};
      reasonTemplates = [];
    }
  }
  translatePage(document);
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === current));
    button.addEventListener('click', () => switchTo(button.dataset.lang));
  }
  return current;
}

// Elements marked data-i18n hold exactly one English text (pushsim_i18n/html.py extracts the same msgid:
// whitespace collapsed); data-i18n-ATTR marks an attribute's text.
export function translatePage(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    if (!node.dataset.i18nSource) node.dataset.i18nSource = node.textContent.replace(/\s+/g, ' ').trim();
    node.textContent = t(node.dataset.i18nSource);
  }
  for (const node of root.querySelectorAll('*')) {
    for (const attr of [...node.attributes]) {
      if (attr.name.startsWith('data-i18n-') && attr.name !== 'data-i18n-source') {
        node.setAttribute(attr.name.slice('data-i18n-'.length), t(attr.value.replace(/\s+/g, ' ').trim()));
      }
    }
  }
}

// The switch: remember the choice in this browser and reload in it, with the address's ?lang= (which wins
// over the remembered choice) set to it too; the admin token lives in sessionStorage and survives the reload.
function switchTo(chosen) {
  if (!normalize(chosen)) return;
  try { localStorage.setItem(KEY, chosen); } catch (e) { /* then only ?lang= can choose */ }
  const url = new URL(location.href);
  url.searchParams.set('lang', chosen);
  location.replace(url.pathname + url.search);
}

// ?lang= for the admin routes that write sentences (docs/admin-api.md §2).
export function withLanguage(url) {
  if (current === 'en') return url;
  return url + (url.includes('?') ? '&' : '?') + 'lang=' + current;
}
