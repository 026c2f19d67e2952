// OpenHGS read-only dashboard (docs/dashboard.md).
// Security rules of this file, checked by DashboardPageTests:
// - it only reads: every request is a GET to this origin's /admin/v1 or /healthz routes;
// - the admin token lives in `session.token` only (never storage, cookies or the URL) and is dropped on sign-out;
// - fabric data reaches the page only as text nodes (textContent / document.createTextNode), never as markup.
'use strict';

const session = { token: null, timer: null };
const RefreshSeconds = 30;
const RecentCount = 20;
// The hosts section shows one page (design change 87): `after` is the cursor of the page shown, `earlier` those of the
// pages before it (for Previous), `prefix` the name filter. A refresh reads the same page again.
const HostPageSize = 100;
const hostsView = { prefix: null, after: null, earlier: [] };

const byId = (id) => document.getElementById(id);

/** An element with attributes (class, data-*, title only) and children; strings become text nodes, never markup. */
function el(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === 'class') {
      element.className = value;
    } else if (name === 'title' || name.startsWith('data-')) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children) {
    element.append(child instanceof Node ? child : document.createTextNode(child === null || child === undefined ? '' : String(child)));
  }
  return element;
}

function badge(text, state) {
  return el('span', { class: 'badge', 'data-state': state }, text);
}

function table(headers, rows, emptyText) {
  if (rows.length === 0) {
    return el('p', { class: 'empty' }, emptyText);
  }
  const head = el('tr', {}, ...headers.map((h) => el('th', {}, h)));
  const body = rows.map((cells) => el('tr', {}, ...cells.map((c) => (c instanceof Node && c.nodeName === 'TD' ? c : el('td', {}, c)))));
  return el('table', {}, el('thead', {}, head), el('tbody', {}, ...body));
}

function mono(text) {
  return el('td', { class: 'mono' }, text);
}

function when(iso) {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function details(record) {
  try {
    const parsed = JSON.parse(record.details);
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || ('HTTP ' + status));
    this.status = status;
    this.code = code || ('HTTP' + status);
  }
}

/** GET a JSON route of this origin; `allow` lists non-2xx statuses whose JSON body is still the answer (readiness 503). */
async function get(path, allow) {
  const headers = { Accept: 'application/json' };
  if (session.token !== null) {
    headers.Authorization = 'Bearer ' + session.token;
  }
  const response = await fetch(path, { method: 'GET', headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' });
  const type = response.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await response.json() : null;
  if (!response.ok && !(allow || []).includes(response.status)) {
    throw new ApiError(response.status, body && body.code, body && body.detail);
  }
  return body;
}

function fill(sectionId, ...nodes) {
  const content = byId(sectionId).querySelector('.content');
  content.replaceChildren(...nodes);
}

function failed(sectionId, error) {
  fill(sectionId, el('p', { class: 'error', 'data-code': error.code || 'Error' }, 'Could not load: ' + (error.code || 'Error') + ' (' + error.message + ')'));
}

// ---- sections -------------------------------------------------------------------------------------------------

function renderOverview(settings, readiness) {
  const ready = readiness && readiness.status === 'ready';
  fill('overview', el('dl', {},
    el('dt', {}, 'Readiness'), el('dd', {}, badge(readiness ? readiness.status : 'unknown', ready ? 'ok' : 'bad')),
    el('dt', {}, 'Attestation mode'), el('dd', { 'data-field': 'mode' }, settings.mode),
    el('dt', {}, 'Policy version'), el('dd', {}, settings.policyVersion),
    el('dt', {}, 'Health certificate validity'), el('dd', {}, settings.healthCertificateValidityMinutes + ' minutes'),
    el('dt', {}, 'Certificates refused before'), el('dd', {}, settings.denyBefore ? when(settings.denyBefore) : 'not set'),
    el('dt', {}, 'Database'), el('dd', {}, readiness ? readiness.checks.database : 'unknown')));
}

function verdictBadge(record) {
  if (!record) {
    return badge('never attested', 'none');
  }
  if (record.outcome === 'success') {
    return badge('passed', 'ok');
  }
  return badge(record.outcome === 'error' ? 'error' : 'refused', 'bad');
}

function renderHosts(page, latest) {
  // The page's own verdicts come with it (design change 89); the newest subjects' list only finds unregistered keys.
  const verdicts = new Map(page.verdicts.map((r) => [r.subject, r]));
  const bySubject = new Map(latest.map((r) => [r.subject, r]));
  const rows = page.hosts.map((host) => {
    // A refusal decided before the host was looked up names its key (key:…) or EK (ek:…), not the host: the newer counts.
    const subjects = [host.name, 'key:' + host.keyThumbprint, 'ek:' + host.keyThumbprint];
    const candidates = subjects.map((s) => verdicts.get(s)).filter((r) => r !== undefined);
    subjects.forEach((s) => bySubject.delete(s));
    const record = candidates.sort((a, b) => b.sequence - a.sequence)[0];
    const info = record ? details(record) : {};
    return [host.name, host.mode, when(host.addedAt), verdictBadge(record), record ? when(record.timestamp) : '', record ? (record.reason || '') : '', info.status || ''];
  });
  // A rejected row's own records are its host's, not an unregistered key's (its key is not known: the row is not trusted).
  page.rejected.forEach((r) => bySubject.delete(r.key));
  const shown = page.hosts.length + page.rejected.length;
  const from = hostsView.earlier.length * HostPageSize;
  const count = el('p', { 'data-field': 'hosts-count' }, (shown === 0 ? 'None' : 'Hosts ' + (from + 1) + '–' + (from + shown)) + ' of ' + page.total
    + (hostsView.prefix === null ? ' hosts' : ' hosts starting "' + hostsView.prefix + '"') + ', by name');
  byId('hosts-next').disabled = page.next === null;
  byId('hosts-previous').disabled = hostsView.earlier.length === 0;
  byId('hosts-view').setAttribute('data-next', page.next === null ? '' : page.next);
  const nodes = [count, table(['Host', 'Mode', 'Registered', 'Last verdict', 'When', 'Failed', 'Status'], rows,
    page.rejected.length > 0 ? 'No host of this page verifies.' : hostsView.prefix === null ? 'No host is registered.' : 'No host name starts with this.')];
  if (page.rejected.length > 0) {
    // Rows that fail their MAC or were put back cannot attest; the page names them rather than hiding them.
    nodes.push(el('p', { class: 'error', 'data-code': 'HostRowsRejected' }, 'Not usable (changed outside OpenHGS; see Table rows): '
      + page.rejected.map((r) => r.key + ' (' + r.problem + ')').join(', ')));
  }
  // Records no host of this page claims belong to an unregistered key or EK only when the page holds every host; on
  // a partial page a key's refusal may be a host of another page, so only what says "not registered" is listed.
  const wholeTable = page.next === null && hostsView.after === null && hostsView.prefix === null;
  const strangers = [...bySubject.values()].filter((r) => wholeTable || r.reason === 'HostKeyNotRegistered' || r.reason === 'EkNotRegistered');
  if (strangers.length > 0) {
    nodes.push(el('h3', {}, 'Attestations by unregistered keys and EKs'));
    nodes.push(table(['Subject', 'Last attempt', 'When', 'Reason'],
      strangers.map((r) => [mono(r.subject), verdictBadge(r), when(r.timestamp), r.reason || '']), ''));
  }
  fill('hosts', ...nodes);
}

function renderAuditRecords(sectionId, records, emptyText, withEvent) {
  const headers = withEvent ? ['When', 'Event', 'Subject', 'Outcome', 'Reason'] : ['When', 'Host', 'Outcome', 'Reason'];
  const rows = records.map((r) => {
    const outcome = badge(r.outcome, r.outcome === 'success' ? 'ok' : 'bad');
    return withEvent ? [when(r.timestamp), r.event, mono(r.subject), outcome, r.reason || ''] : [when(r.timestamp), r.subject, outcome, r.reason || ''];
  });
  fill(sectionId, table(headers, rows, emptyText));
}

function renderPolicies(policies) {
  fill('policies', table(['Policy', 'State', 'Default', 'Description'],
    policies.map((p) => [el('td', { class: 'mono' }, p.name), badge(p.state, p.state === 'enabled' ? 'ok' : p.state === 'disabled' ? 'warn' : 'none'), p.defaultState, p.description]),
    'No policy is defined.'));
}

function renderKeys(keys, readiness) {
  const now = Date.now();
  const rows = keys.map((k) => {
    const expires = new Date(k.notAfter);
    const expiring = expires.getTime() - now < 30 * 24 * 3600 * 1000;
    return [el('td', { class: 'mono' }, k.id), k.role, k.algorithm, k.isPrimary ? badge('primary', 'ok') : '',
      badge(k.enabled ? 'enabled' : 'disabled', k.enabled ? 'ok' : 'warn'), el('td', { 'data-expiring': expiring ? 'yes' : 'no' }, when(k.notAfter)),
      mono(k.thumbprint.slice(0, 16) + '…')];
  });
  const nodes = [table(['Id', 'Role', 'Algorithm', 'Primary', 'State', 'Certificate expires', 'SHA-256'], rows, 'No fabric key.')];
  const integrity = readiness && readiness.checks.fabricKeys;
  if (integrity && !integrity.startsWith('ok')) {
    nodes.push(el('p', { class: 'error', 'data-code': 'FabricKeysIgnored' }, 'Ignored rows: ' + integrity));
  }
  fill('fabric-keys', ...nodes);
}

function renderKeyStore(readiness, members) {
  const state = readiness ? readiness.checks.keyStore : 'unknown';
  const nodes = [el('dl', {},
    el('dt', {}, 'Key store'), el('dd', {}, badge(state, state === 'ok' ? 'ok' : 'bad')),
    el('dt', {}, 'Release key handling'), el('dd', {}, readiness ? readiness.checks.releaseKeyHandling : 'unknown'))];
  if (members.length > 0) {
    nodes.push(table(['Member', 'Location', 'State', 'Operations', 'Failures', 'Last error', 'Next retry'],
      members.map((m) => [m.name, mono(m.location), badge(m.state, m.state === 'up' ? 'ok' : 'bad'), m.operations, m.failures, m.lastError || '', when(m.nextRetry)]), ''));
  } else {
    nodes.push(el('p', { class: 'empty' }, 'A single key store (not a cluster).'));
  }
  fill('key-store', ...nodes);
}

function renderAuditChain(result) {
  const rows = [
    el('dt', {}, 'Chain'), el('dd', {}, badge(result.valid ? 'verified' : 'BROKEN', result.valid ? 'ok' : 'bad')),
    el('dt', {}, 'Records'), el('dd', { 'data-field': 'records' }, result.records),
    el('dt', {}, 'Head hash'), el('dd', { class: 'mono' }, result.headHash || ''),
  ];
  if (!result.valid) {
    rows.push(el('dt', {}, 'Finding'), el('dd', { class: 'error', 'data-code': result.reason || 'Invalid' },
      (result.reason || 'Invalid') + (result.firstBrokenSequence ? ' at record ' + result.firstBrokenSequence : '') + (result.problem ? ': ' + result.problem : '')));
  }
  if (result.checkpoint) {
    rows.push(el('dt', {}, 'Newest signed checkpoint'),
      el('dd', {}, 'record ' + result.checkpoint.sequence + ', signed ' + when(result.checkpoint.signedAt) + ' (' + result.checkpoint.source + ')'));
  }
  if (result.unsignedTail) {
    rows.push(el('dt', {}, 'Not yet checkpointed'), el('dd', {}, result.unsignedTail.records + ' records' + (result.unsignedTail.stale ? ' (STALE)' : '')));
  }
  fill('audit-chain', el('dl', {}, ...rows));
}

/**
 * `hgs audit rows`: every security-relevant row against its MAC and the audit trail (design change 66), as this node
 * last read them: a report is read at most every few minutes, or now on "Verify now" (design change 81).
 */
function renderTableRows(snapshot) {
  const report = snapshot.report;
  const rows = [
    el('dt', {}, 'Rows'), el('dd', {}, badge(report.valid ? 'verified' : report.findings.length + ' FAIL', report.valid ? 'ok' : 'bad')),
    el('dt', {}, 'Checked'), el('dd', { 'data-field': 'rows' }, report.rows),
    el('dt', {}, 'Taken'), el('dd', { 'data-field': 'taken-at' }, when(snapshot.takenAt)),
    el('dt', {}, 'Next read after'), el('dd', { 'data-field': 'refresh-after' }, when(snapshot.refreshAfter)),
  ];
  const findings = report.findings.map((f) => [
    el('td', { 'data-code': f.problem }, f.problem), f.table + ' / ' + f.key, f.supersededBy ? 'record ' + f.supersededBy : '', f.message,
  ]);
  fill('table-rows', el('dl', {}, ...rows), table(['Problem', 'Row', 'Replaced by', 'What happened'], findings, 'Every row verifies and is current.'));
}

/** `hgs keys custody`: every key's copies as the key store reports them, and the findings (design change 71). */
function renderKeyCustody(report) {
  const failing = report.keys.filter((k) => !k.passed).length;
  const rows = [
    el('dt', {}, 'Keys'), el('dd', {}, badge(report.passed ? 'passed' : failing + ' FAIL', report.passed ? 'ok' : 'bad')),
    el('dt', {}, 'Checked'), el('dd', { 'data-field': 'keys' }, report.keys.length),
  ];
  const findings = report.keys.flatMap((k) => (k.findings.length === 0
    ? [[k.label, k.role, k.copies.map((c) => c.holder).join(', '), el('td', { 'data-code': 'none' }, 'none'), '', 'sensitive, never extractable, generated on the token']]
    : k.findings.map((f) => [k.label, k.role, f.holder, el('td', { 'data-code': f.code }, f.code),
      f.severity + (f.accepted ? ', critical, ACCEPTED (--accept-key-custody)' : f.critical ? ', critical' : ''), f.message])));
  fill('key-custody', el('dl', {}, ...rows), table(['Key', 'Role', 'Copy', 'Finding', 'Severity', 'What it means'], findings, 'No key.'));
}

// ---- loading --------------------------------------------------------------------------------------------------

/** The hosts page shown (hostsView), its verdicts, and the newest attestation records (for unregistered keys); a refresh reads the same page again. */
function loadHosts() {
  const query = ['limit=' + HostPageSize];
  if (hostsView.after !== null) {
    query.push('after=' + encodeURIComponent(hostsView.after));
  }
  if (hostsView.prefix !== null) {
    query.push('prefix=' + encodeURIComponent(hostsView.prefix));
  }
  return Promise.all([get('/admin/v1/hosts?' + query.join('&')), get('/admin/v1/attestations/latest?limit=1000')])
    .then(([h, l]) => renderHosts(h, l)).catch((e) => {
      // A refused filter (400 HostPageQueryInvalid) shows no page, so there is none to go on from.
      byId('hosts-view').setAttribute('data-next', '');
      byId('hosts-next').disabled = true;
      failed('hosts', e);
    });
}

/** Moves the hosts section to the first page (of a new filter), the next page or the one before. */
function showHostsPage(move) {
  if (move === 'next') {
    const next = byId('hosts-view').getAttribute('data-next');
    if (!next) {
      return Promise.resolve();
    }
    hostsView.earlier.push(hostsView.after);
    hostsView.after = next;
  } else if (move === 'previous') {
    hostsView.after = hostsView.earlier.length > 0 ? hostsView.earlier.pop() : null;
  } else {
    hostsView.after = null;
    hostsView.earlier = [];
  }
  return loadHosts();
}

/** The row report this node last read, or (fresh) one read now: reading every row costs an HSM operation per row. */
function loadTableRows(fresh) {
  return get('/admin/v1/audit/rows/snapshot' + (fresh ? '?fresh=true' : '')).then(renderTableRows).catch((e) => failed('table-rows', e));
}

async function load() {
  const readiness = get('/healthz/ready', [503]).catch(() => null);
  const settings = get('/admin/v1/settings');
  const tasks = [
    Promise.all([settings, readiness]).then(([s, r]) => renderOverview(s, r)).catch((e) => failed('overview', e)),
    loadHosts(),
    get('/admin/v1/audit?event=keyprotection.release&limit=' + RecentCount)
      .then((r) => renderAuditRecords('releases', r, 'No key release yet.', false)).catch((e) => failed('releases', e)),
    get('/admin/v1/audit?outcome=refused,error&limit=' + RecentCount)
      .then((r) => renderAuditRecords('refusals', r, 'No refusal or error.', true)).catch((e) => failed('refusals', e)),
    get('/admin/v1/policies').then(renderPolicies).catch((e) => failed('policies', e)),
    Promise.all([get('/admin/v1/keys'), readiness]).then(([k, r]) => renderKeys(k, r)).catch((e) => failed('fabric-keys', e)),
    Promise.all([readiness, get('/admin/v1/key-store/members')]).then(([r, m]) => renderKeyStore(r, m)).catch((e) => failed('key-store', e)),
    get('/admin/v1/audit/verify').then(renderAuditChain).catch((e) => failed('audit-chain', e)),
    loadTableRows(false),
    get('/admin/v1/keys/custody').then(renderKeyCustody).catch((e) => failed('key-custody', e)),
  ];
  await Promise.all(tasks);
  byId('refreshed').textContent = 'refreshed ' + when(new Date().toISOString());
  document.body.setAttribute('data-loaded', String(Date.now()));
}

function showDashboard() {
  byId('login').hidden = true;
  byId('dashboard').hidden = false;
  byId('session').hidden = false;
  clearInterval(session.timer);
  session.timer = setInterval(() => { load(); }, RefreshSeconds * 1000);
  return load();
}

function showLogin(message, code) {
  clearInterval(session.timer);
  session.timer = null;
  byId('dashboard').hidden = true;
  byId('session').hidden = true;
  for (const section of document.querySelectorAll('#dashboard .content')) {
    section.replaceChildren();
  }
  // The hosts page shown and its filter are fabric data too: the next sign-in starts at the first page.
  Object.assign(hostsView, { prefix: null, after: null, earlier: [] });
  byId('hosts-prefix').value = '';
  byId('hosts-view').setAttribute('data-next', '');
  byId('login').hidden = false;
  const error = byId('login-error');
  error.hidden = !message;
  error.textContent = message || '';
  error.setAttribute('data-code', code || '');
  byId('token').focus();
}

/** Signs in with the token typed (or, with a client certificate, none): the admin settings route decides. */
async function signIn(token) {
  session.token = token;
  try {
    await get('/admin/v1/settings');
  } catch (error) {
    session.token = null;
    if (error.status === 401 || error.status === 403) {
      return showLogin(token === null ? '' : 'Sign-in refused: ' + error.code + ' (' + error.message + ')', error.code);
    }
    return showLogin('The service did not answer: ' + error.code + ' (' + error.message + ')', error.code);
  }
  return showDashboard();
}

document.addEventListener('DOMContentLoaded', () => {
  byId('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = byId('token');
    const token = input.value.trim();
    input.value = '';
    signIn(token.length > 0 ? token : null);
  });
  byId('sign-out').addEventListener('click', () => {
    session.token = null;
    showLogin('Signed out.', 'SignedOut');
  });
  byId('refresh').addEventListener('click', () => { load(); });
  byId('hosts-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    const prefix = byId('hosts-prefix').value.trim();
    hostsView.prefix = prefix.length > 0 ? prefix : null;
    showHostsPage('first');
  });
  byId('hosts-next').addEventListener('click', () => { showHostsPage('next'); });
  byId('hosts-previous').addEventListener('click', () => { showHostsPage('previous'); });
  byId('verify-rows').addEventListener('click', () => {
    const button = byId('verify-rows');
    button.disabled = true;
    loadTableRows(true).finally(() => { button.disabled = false; });
  });
  // An admin client certificate alone may be enough (--admin-auth client-certificate): try without a token first.
  signIn(null);
});
