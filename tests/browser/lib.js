// tests/browser/lib.js - what every browser check file shares: the ok/not ok tally, the
// API client (with the admin token), the console watcher and screenshots.
'use strict';

const path = require('path');

// Chromium logs every non-2xx fetch as a console error; these are the ones the checks
// provoke on purpose. Anything else in the console fails the run.
const EXPECTED_CONSOLE = /^Failed to load resource: the server responded with a status of (401|409|503)\b/;

const env = { base: '', token: '', artifacts: '' };
const tally = { passed: 0, failed: 0 };

function setup(base, token, artifacts) {
  Object.assign(env, { base, token, artifacts });
}

function check(cond, what, detail) {
  if (cond) {
    tally.passed++;
    console.log('ok - ' + what);
  } else {
    tally.failed++;
    console.log('not ok - ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
  }
  return cond;
}

async function api(method, p, body, extra) {
  const headers = Object.assign({ Authorization: 'Bearer ' + env.token }, extra || {});
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(env.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { status: r.status, body: json, headers: r.headers };
}

// `allowed`: problems a check provokes on purpose (beyond EXPECTED_CONSOLE), e.g. the
// connection resets of the retry checks.
function watch(page, problems, allowed) {
  const add = (p) => { if (!(allowed && allowed.test(p))) problems.push(p); };
  page.on('console', (m) => {
    if (m.type() === 'error' && !EXPECTED_CONSOLE.test(m.text())) add('console: ' + m.text());
  });
  page.on('pageerror', (e) => add('page error: ' + e.message));
  page.on('dialog', (d) => { add('dialog opened: ' + d.message()); d.dismiss().catch(() => {}); });
  // A navigation (a reload, a link, back) aborts the page's requests still in flight,
  // e.g. the cluster panel's poll of /bazar/status: those are the test's doing, not
  // failures. Any other failed request is a problem.
  let navigations = 0;
  const startedAt = new WeakMap();
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigations++;
    else startedAt.set(r, navigations);
  });
  page.on('requestfailed', (r) => {
    const why = (r.failure() || {}).errorText;
    if (why === 'net::ERR_ABORTED' && startedAt.has(r) && navigations > startedAt.get(r)) return;
    add('request failed: ' + r.url() + ' ' + why);
  });
}

// the storefront's price format (Intl.NumberFormat, en-US dollars): $1,234.50
const PRICE = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
function money(p) { return PRICE.format(p); }

// a new page with the console watched into `problems` and a 10 s default timeout
async function newPage(ctx, problems, allowed) {
  const page = await ctx.newPage();
  watch(page, problems, allowed);
  page.setDefaultTimeout(10000);
  return page;
}

// the API requests `page` makes from now on ('/bazar/books?page=2...'), in order
function apiRequests(page) {
  const seen = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/bazar/')) seen.push(u.pathname + u.search);
  });
  return seen;
}

// the storefront's count format: 100,000
const COUNT = new Intl.NumberFormat('en-US');
function count(n) { return COUNT.format(n); }

async function shotTo(page, name) {
  await page.screenshot({ path: path.join(env.artifacts, name), fullPage: true });
}

module.exports = { env, tally, setup, check, api, watch, money, count, newPage, apiRequests, shotTo };
