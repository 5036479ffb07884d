// tests/browser/run.js - drives the storefront in Debian's headless chromium (playwright-core).
//
//   node run.js PUBLIC_URL TOKEN ARTIFACT_DIR [MODE] [SHOT]
//
// MODE "store" (default): search -> details -> buy -> stock down; admin add (a title with
// <script>), out of stock (409), restock, price change; cluster panel; phone width; no
// console errors. MODE "unavailable": the caller has stopped every order replica; a
// purchase must show the 503 message and the cluster panel the order replicas down.
// MODE "shot" SHOT: only writes the README's screenshot (docs/storefront.png) to SHOT.
// Prints one "ok"/"not ok" line per check, then "N passed, M failed"; exits 0 only when
// every check passed. Screenshots go to ARTIFACT_DIR.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, artifacts, mode = 'store', shot] = process.argv.slice(2);
if (!base || !token || !artifacts) {
  console.error('usage: node run.js PUBLIC_URL TOKEN ARTIFACT_DIR [store|unavailable|shot SHOT]');
  process.exit(2);
}
const CHROMIUM = '/usr/bin/chromium';
const XSS_TITLE = 'Browser <script>alert(1)</script> & <b>bold</b> ' + process.pid;
const TOPIC = 'browser test ' + process.pid;
// Chromium logs every non-2xx fetch as a console error; these are the ones the checks
// provoke on purpose. Anything else in the console fails the run.
const EXPECTED_CONSOLE = /^Failed to load resource: the server responded with a status of (401|409|503)\b/;

let passed = 0;
let failed = 0;
function check(cond, what, detail) {
  if (cond) {
    passed++;
    console.log('ok - ' + what);
  } else {
    failed++;
    console.log('not ok - ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
  }
  return cond;
}

async function api(method, p, body) {
  const headers = { Authorization: 'Bearer ' + token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { status: r.status, body: json, headers: r.headers };
}

function watch(page, problems) {
  page.on('console', (m) => {
    if (m.type() === 'error' && !EXPECTED_CONSOLE.test(m.text())) problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('dialog', (d) => { problems.push('dialog opened: ' + d.message()); d.dismiss().catch(() => {}); });
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText));
}

async function shotTo(page, name) {
  await page.screenshot({ path: path.join(artifacts, name), fullPage: true });
}

async function openBook(page, topic, title) {
  await page.fill('#topic', topic);
  await page.click('#search-btn');
  const result = page.locator('#results button.result', { hasText: title });
  await result.first().click();
  await page.waitForFunction((t) => document.getElementById('d-title').textContent === t, title);
}

async function stockShown(page) {
  return Number(await page.textContent('#d-stock'));
}

async function storeChecks(ctx) {
  const page = await ctx.newPage();
  const problems = [];
  watch(page, problems);
  page.setDefaultTimeout(10000);

  const resp = await page.goto(base + '/', { waitUntil: 'load' });
  const h = resp.headers();
  check(resp.status() === 200, 'GET / answers 200', resp.status());
  check(/default-src 'self'/.test(h['content-security-policy'] || '') &&
        !/unsafe-inline/.test(h['content-security-policy'] || ''),
        'CSP: default-src self, no unsafe-inline', h['content-security-policy']);
  check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options nosniff');
  check(h['referrer-policy'] === 'no-referrer', 'Referrer-Policy no-referrer');
  check(await page.title() === 'Bazar bookstore', 'page title');
  await page.waitForSelector('#topics button');
  const chips = await page.$$eval('#topics button', (bs) => bs.map((b) => b.textContent));
  check(['distributed systems', 'undergraduate school', 'new'].every((t) => chips.includes(t)),
        'the known topics are offered', chips);

  // search -> details -> buy -> stock decreased
  await page.click('#topics button:text-is("undergraduate school")');
  await page.waitForSelector('#results button.result');
  const titles = await page.$$eval('#results button.result', (bs) => bs.map((b) => b.textContent));
  check(titles.includes('Xen and the Art of Surviving Undergraduate School.') &&
        titles.includes('Cooking for the Impatient Undergrad.'), 'search lists the topic\'s books', titles);
  await page.click('#results button.result:text-is("Cooking for the Impatient Undergrad.")');
  await page.waitForFunction(() => document.getElementById('d-title').textContent.startsWith('Cooking'));
  check(await page.textContent('#d-price') === '$89.33', 'details show the price', await page.textContent('#d-price'));
  const before = await stockShown(page);
  check(before > 0, 'details show the stock', before);
  await shotTo(page, 'store-details.png');
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.ok');
  const confirm = await page.textContent('#buy-msg');
  const m = /Order #(\d+) confirmed/.exec(confirm);
  check(m !== null, 'purchase shows the order id', confirm);
  await page.waitForFunction((b) => Number(document.getElementById('d-stock').textContent) === b - 1, before);
  check(await stockShown(page) === before - 1, 'stock shown went down by one');
  const book3 = await api('GET', '/bazar/info/3');
  check(book3.body && book3.body.quantity === before - 1, 'the catalog agrees on the new stock', book3.body);
  if (m) {
    const order = await api('GET', '/bazar/orders/' + m[1]);
    check(order.status === 200 && order.body.book_id === 3, 'the order exists', order.body);
  }
  await shotTo(page, 'store-bought.png');

  // admin: token, add a book whose title is markup, with one copy
  await page.click('#token-save'); // empty token: admin calls must be refused locally
  await page.fill('#add-title', 'never added');
  await page.fill('#add-topic', TOPIC);
  await page.fill('#add-price', '5');
  await page.fill('#add-qty', '1');
  await page.click('#add-btn');
  await page.waitForSelector('#admin-msg.error');
  check(/token/i.test(await page.textContent('#admin-msg')), 'admin without a token is refused');
  await page.fill('#token', token);
  await page.click('#token-save');
  const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('bazar.adminToken'), l: localStorage.length }));
  check(stored.s === token && stored.l === 0, 'token kept in sessionStorage only', { l: stored.l });
  check(await page.inputValue('#token') === '', 'token field cleared after use');
  await page.fill('#add-title', XSS_TITLE);
  await page.fill('#add-topic', TOPIC);
  await page.fill('#add-price', '9.99');
  await page.fill('#add-qty', '1');
  await page.click('#add-btn');
  await page.waitForSelector('#admin-msg.ok');
  const added = await page.textContent('#admin-msg');
  const am = /Added book #(\d+)/.exec(added);
  check(am !== null && added.includes(XSS_TITLE), 'admin add shows the new book', added);
  const id = am ? Number(am[1]) : -1;
  await page.waitForSelector(`#books tbody tr[data-id="${id}"]`);
  check(await page.textContent(`#books tbody tr[data-id="${id}"] td:nth-child(2)`) === XSS_TITLE,
        'the new book appears in the book table as text');

  // the markup title is text everywhere
  await page.waitForSelector(`#topics button:text-is("${TOPIC}")`);
  check(true, 'the new topic is offered');
  await openBook(page, TOPIC, XSS_TITLE);
  check(await page.textContent('#d-title') === XSS_TITLE, 'markup title shown as text in details');
  const dom = await page.evaluate(() => ({
    scripts: document.scripts.length,
    bold: document.querySelectorAll('main b').length,
    injected: typeof window.alertCalled,
  }));
  check(dom.scripts === 1 && dom.bold === 0, 'no element was created from the title', dom);

  // out of stock: one copy, two purchases
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.ok');
  await page.waitForFunction(() => document.getElementById('d-stock').textContent === '0');
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.error');
  const oos = await page.textContent('#buy-msg');
  check(/out of stock/i.test(oos), 'second purchase shows the out-of-stock message', oos);
  check(await stockShown(page) === 0, 'stock shows 0');
  await shotTo(page, 'store-out-of-stock.png');

  // admin restock and price change, visible at once
  await page.fill('#restock-id', String(id));
  await page.fill('#restock-count', '3');
  await page.click('#restock-btn');
  await page.waitForFunction(() => /now has 3 in stock/.test(document.getElementById('admin-msg').textContent));
  await page.waitForFunction(() => document.getElementById('d-stock').textContent === '3');
  check(true, 'restock shows 3 in stock in the message and the details');
  check(await page.textContent(`#books tbody tr[data-id="${id}"] td:nth-child(5)`) === '3', 'restock updates the book table');
  await page.fill('#price-id', String(id));
  await page.fill('#price-value', '12.34');
  await page.click('#price-btn');
  await page.waitForFunction(() => /now costs \$12\.34/.test(document.getElementById('admin-msg').textContent));
  await page.waitForFunction(() => document.getElementById('d-price').textContent === '$12.34');
  check(true, 'price change shows in the message and the details');
  const after = await api('GET', '/bazar/info/' + id);
  check(after.body && after.body.price === 12.34 && after.body.quantity === 3, 'the catalog has the new price and stock', after.body);
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.ok');
  check((await page.textContent('#buy-msg')).includes('$12.34'), 'restocked book can be bought at the new price');
  await shotTo(page, 'admin.png');

  // a wrong token is reported
  await page.fill('#token', 'not-the-token');
  await page.click('#token-save');
  await page.fill('#restock-id', String(id));
  await page.fill('#restock-count', '1');
  await page.click('#restock-btn');
  await page.waitForSelector('#admin-msg.error');
  check(/rejected/.test(await page.textContent('#admin-msg')), 'wrong token: rejected message');
  await page.click('#token-forget');
  check(await page.evaluate(() => sessionStorage.getItem('bazar.adminToken')) === null, 'forget removes the token');

  // cluster panel
  await page.click('#status-btn');
  await page.waitForSelector('#svc-catalog tbody tr');
  const cat = await page.$$eval('#svc-catalog tbody tr', (rs) => rs.map((r) => r.textContent));
  check(cat.length === 3 && cat.every((t) => t.includes('up')), 'cluster panel: 3 catalog replicas up', cat);
  check(await page.locator('#svc-catalog .badge', { hasText: 'primary #' }).count() === 1, 'cluster panel names the catalog primary');
  check(await page.locator('#svc-order .badge', { hasText: 'hashes agree' }).count() === 1, 'cluster panel: order hashes agree');
  await page.waitForFunction(() => /hit ratio: \d/.test(document.getElementById('cache-line').textContent));
  check(true, 'cluster panel shows the cache hit ratio: ' + await page.textContent('#cache-line'));
  await shotTo(page, 'desktop.png');
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (desktop)', problems);
  await page.close();

  // phone width
  const phone = await ctx.newPage();
  const pp = [];
  watch(phone, pp);
  phone.setDefaultTimeout(10000);
  await phone.setViewportSize({ width: 375, height: 740 });
  await phone.goto(base + '/', { waitUntil: 'load' });
  await phone.waitForSelector('#topics button');
  await openBook(phone, 'new', 'Spring in the Pioneer Valley');
  const layout = await phone.evaluate(() => {
    const b = document.getElementById('buy-btn').getBoundingClientRect();
    return { scroll: document.documentElement.scrollWidth, right: b.right, width: b.width };
  });
  check(layout.scroll <= 375, 'phone: no horizontal scrolling', layout);
  check(layout.right <= 375 && layout.width >= 40, 'phone: the buy button fits the screen', layout);
  await phone.click('#buy-btn');
  await phone.waitForSelector('#buy-msg.ok');
  check(true, 'phone: a purchase works');
  await phone.screenshot({ path: path.join(artifacts, 'phone.png'), fullPage: true });
  check(pp.length === 0, 'no console errors, page errors, dialogs or failed requests (phone)', pp);
  await phone.close();
}

async function unavailableChecks(ctx) {
  const page = await ctx.newPage();
  const problems = [];
  watch(page, problems);
  page.setDefaultTimeout(15000);
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('#topics button');
  await openBook(page, 'new', 'Why theory classes are so hard');
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.error');
  const msg = await page.textContent('#buy-msg');
  check(/cannot take orders right now/.test(msg), 'purchase with every order replica down shows the 503 message', msg);
  await page.click('#status-btn');
  await page.waitForFunction(() => document.querySelectorAll('#svc-order td.down').length === 3);
  check(true, 'cluster panel shows the 3 order replicas down');
  check(await page.locator('#svc-catalog td.up').count() === 3, 'cluster panel still shows the catalog up');
  check(await page.locator('#svc-order .badge', { hasText: 'no replica up' }).count() === 1,
        'cluster panel: no order replica up (no hash verdict)');
  await shotTo(page, 'unavailable.png');
  check(problems.length === 0, 'no unexpected console errors (unavailable)', problems);
  await page.close();
}

// The README's picture (docs/storefront.png): a fresh cluster, one purchase, 1000 px wide.
async function readmeShot(ctx) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  await page.setViewportSize({ width: 1000, height: 720 });
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('#topics button');
  await openBook(page, 'distributed systems', 'RPCs for Noobs.');
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.ok');
  // the panel refreshes every 2 s: wait for one taken after the purchase
  await page.waitForFunction(() => {
    const td = document.querySelector('#svc-order tbody tr td.num');
    return td && td.textContent !== '0' && /hit ratio: \d/.test(document.getElementById('cache-line').textContent);
  });
  await page.screenshot({ path: shot });
  check(fs.statSync(shot).size < 150000, 'screenshot written to ' + shot + ' (under 150 kB)');
  await page.close();
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  if (!fs.existsSync(CHROMIUM)) {
    console.log('not ok - ' + CHROMIUM + ' is missing (apt-get install chromium, or make deps)');
    process.exit(1);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bazar-chromium-'));
  let ctx = null;
  const watchdog = setTimeout(() => {
    console.log('not ok - the browser run took over 150 s');
    process.exit(1);
  }, 150000);
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
             '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      timeout: 60000,
    });
    if (mode === 'unavailable') await unavailableChecks(ctx);
    else if (mode === 'shot' && shot) await readmeShot(ctx);
    else await storeChecks(ctx);
  } catch (e) {
    check(false, 'the run finished without an exception', String(e && e.stack || e));
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
