// tests/browser/run.js - drives the storefront in Debian's headless chromium (playwright-core).
//
//   node run.js PUBLIC_URL TOKEN ARTIFACT_DIR [MODE] [SHOT]
//
// MODE "store" (default): topics from GET /bazar/topics; search (with price and stock) ->
// details -> buy -> stock down; admin add (a title with <script>), out of stock (409),
// restock, price change; cluster panel; phone width; "Your orders" lists every order placed
// (keyboard); a topic added through the API gets its button; the catalog view's pages,
// sorting, search as you type and URL state (catalog_checks.js); the cluster panel
// (cluster_checks.js); axe-core, keyboard only and 360 px wide (a11y_checks.js); no
// console errors.
// MODE "retry": the answer to a purchase is lost (connection reset after the server got it):
// the page asks again with the same key, by itself or by "Try again" after a reload; one
// order and one copy per attempt. MODE "unavailable": the caller has stopped every order
// replica; a purchase must show the 503 message and the cluster panel the order replicas down.
// MODE "big": the cluster holds 100,000 books; the page stays fast (big_checks.js).
// MODE "shot" SHOT: only writes the README's picture of the shop to SHOT; MODE
// "failover-shot" SHOT PIDS (comma-separated): the cluster panel while PIDS, the catalog
// primary's, are killed (shots.js, tests/browser/screenshots.py).
// Prints one "ok"/"not ok" line per check, then "N passed, M failed"; exits 0 only when
// every check passed. Screenshots go to ARTIFACT_DIR.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { tally, setup, check, api, watch, money, shotTo } = require('./lib');
const { catalogChecks } = require('./catalog_checks');
const { clusterChecks } = require('./cluster_checks');
const { a11yChecks } = require('./a11y_checks');
const { bigChecks } = require('./big_checks');
const { shopShot, failoverShot } = require('./shots');

const [base, token, artifacts, mode = 'store', shot, pids] = process.argv.slice(2);
if (!base || !token || !artifacts) {
  console.error('usage: node run.js PUBLIC_URL TOKEN ARTIFACT_DIR [store|retry|unavailable|big|shot SHOT|failover-shot SHOT PIDS]');
  process.exit(2);
}
const CHROMIUM = '/usr/bin/chromium';
const XSS_TITLE = 'Browser <script>alert(1)</script> & <b>bold</b> ' + process.pid;
const TOPIC = 'browser test ' + process.pid;
const SCRIPTS = 4; // util.js, catalog.js, cluster.js, app.js
// waits for the purchase confirmation; returns the order id shown (NaN if none) and
// remembers it in `placed` (the orders "Your orders" must list)
async function confirmed(page, placed) {
  await page.waitForSelector('#buy-msg.ok');
  const m = /Order #(\d+) confirmed/.exec(await page.textContent('#buy-msg'));
  const id = m ? Number(m[1]) : NaN;
  if (m) placed.push(id);
  return id;
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

async function storeChecks(ctx, placed) {
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
  const topics = await api('GET', '/bazar/topics');
  check(JSON.stringify(chips) === JSON.stringify(topics.body.map((t) => t.topic)),
        'the topic buttons are exactly GET /bazar/topics', { chips, topics: topics.body });

  // search -> details -> buy -> stock decreased
  await page.click('#topics button:text-is("undergraduate school")');
  await page.waitForSelector('#results button.result');
  const titles = await page.$$eval('#results button.result', (bs) => bs.map((b) => b.textContent));
  check(titles.includes('Xen and the Art of Surviving Undergraduate School.') &&
        titles.includes('Cooking for the Impatient Undergrad.'), 'search lists the topic\'s books', titles);
  const facts = await page.textContent('#results li:has(button:text-is("Cooking for the Impatient Undergrad.")) .facts');
  check(/^\$89\.33 · \d+ in stock$/.test(facts), 'search results show price and stock', facts);
  await page.click('#results button.result:text-is("Cooking for the Impatient Undergrad.")');
  await page.waitForFunction(() => document.getElementById('d-title').textContent.startsWith('Cooking'));
  check(await page.textContent('#d-price') === '$89.33', 'details show the price', await page.textContent('#d-price'));
  const before = await stockShown(page);
  check(before > 0, 'details show the stock', before);
  await shotTo(page, 'store-details.png');
  await page.click('#buy-btn');
  await confirmed(page, placed);
  const confirm = await page.textContent('#buy-msg');
  const m = /Order #(\d+) confirmed/.exec(confirm);
  check(m !== null, 'purchase shows the order id', confirm);
  await page.waitForFunction((b) => (document.querySelector('#results li:has(button[aria-current=true]) .facts') || {})
    .textContent === '$89.33 · ' + (b - 1) + ' in stock', before);
  check(true, 'the result row shows the new stock');
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
  const stored = await page.evaluate((t) => ({ s: sessionStorage.getItem('bazar.adminToken'),
    l: Object.keys(localStorage).filter((k) => (k + localStorage.getItem(k)).includes(t)).length }), token);
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
  // the catalog, newest first, starts with the new book (no "All books" table any more)
  await page.click('#all-btn');
  await page.selectOption('#sort', '-id');
  await page.waitForFunction((i) => (document.querySelector('#results button.result') || {}).dataset.id === String(i), id);
  check(await page.textContent('#results button.result') === XSS_TITLE,
        'the new book heads the catalog sorted newest first, its title as text');
  check(await page.textContent(`#facts-${id}`) === '$9.99 · 1 in stock', 'the catalog row shows its price and stock',
        await page.textContent(`#facts-${id}`));

  // the markup title is text everywhere
  await page.waitForSelector(`#topics button:text-is("${TOPIC}")`);
  check(true, 'the new topic is offered');
  await openBook(page, TOPIC, XSS_TITLE);
  check(await page.textContent('#d-title') === XSS_TITLE, 'markup title shown as text in details');
  const dom = await page.evaluate(() => ({
    scripts: document.scripts.length,
    inline: Array.prototype.filter.call(document.scripts, (x) => !x.src).length,
    bold: document.querySelectorAll('main b').length,
    injected: typeof window.alertCalled,
  }));
  check(dom.scripts === SCRIPTS && dom.inline === 0 && dom.bold === 0, 'no element was created from the title', dom);

  // out of stock: one copy, two purchases
  await page.click('#buy-btn');
  await confirmed(page, placed);
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
  await page.waitForFunction((i) => /^\$9\.99 · 3 in stock$/.test(document.getElementById('facts-' + i).textContent), id);
  check(true, 'restock updates the book\'s row in the catalog');
  await page.fill('#price-id', String(id));
  await page.fill('#price-value', '12.34');
  await page.click('#price-btn');
  await page.waitForFunction(() => /now costs \$12\.34/.test(document.getElementById('admin-msg').textContent));
  await page.waitForFunction(() => document.getElementById('d-price').textContent === '$12.34');
  check(true, 'price change shows in the message and the details');
  const after = await api('GET', '/bazar/info/' + id);
  check(after.body && after.body.price === 12.34 && after.body.quantity === 3, 'the catalog has the new price and stock', after.body);
  await page.click('#buy-btn');
  await confirmed(page, placed);
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
  await confirmed(phone, placed);
  check(true, 'phone: a purchase works');
  await phone.screenshot({ path: path.join(artifacts, 'phone.png'), fullPage: true });
  check(pp.length === 0, 'no console errors, page errors, dialogs or failed requests (phone)', pp);
  await phone.close();
}

// A fresh page (same browser profile): "Your orders" lists every order `placed`, newest
// first, with title and price, and opens one by keyboard; a topic added through the admin
// API has its button after a reload.
async function ordersAndTopicsChecks(ctx, placed) {
  const page = await ctx.newPage();
  const problems = [];
  watch(page, problems);
  page.setDefaultTimeout(10000);
  const topic = 'topic from the server ' + process.pid;
  const added = await api('POST', '/bazar/books', { title: 'A book on a new topic', topic, price: 1, quantity: 1 });
  check(added.status === 201, 'a book with a new topic added through the API', added.body);
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector(`#topics button:text-is("${topic}")`);
  check(true, 'after a reload the new topic has its button (topics come from the server)');

  check(placed.length === 4 && placed.every((id) => id > 0), 'the store checks placed 4 orders', placed);
  await page.waitForFunction((n) => {
    const f = document.querySelectorAll('#order-list .facts');
    return f.length === n && Array.prototype.every.call(f, (x) => x.textContent !== 'loading…');
  }, placed.length);
  const rows = await page.$$eval('#order-list li', (ls) => ls.map((l) => ({
    id: Number(l.querySelector('button').dataset.id), text: l.textContent })));
  check(JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(placed.slice().reverse()),
        '"Your orders" lists the orders placed, newest first', { rows, placed });
  const orders = await Promise.all(placed.map((id) => api('GET', '/bazar/orders/' + id)));
  check(orders.every((o) => o.status === 200 && rows.some((r) => r.id === o.body.order_id &&
          r.text.includes(o.body.title) && r.text.includes(money(o.body.price)))),
        '"Your orders" shows each order\'s title and price', rows);

  // keyboard only: Enter on the first order opens it, Tab then Enter opens its book
  const first = orders[0].body;
  await page.focus(`#order-list button[data-id="${first.order_id}"]`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => document.getElementById('o-heading').textContent === 'Order #' + id, first.order_id);
  const shown = await page.evaluate(() => ({ focus: document.activeElement.id,
    title: document.getElementById('o-title').textContent, price: document.getElementById('o-price').textContent }));
  check(shown.focus === 'o-heading' && shown.title === first.title && shown.price === money(first.price),
        'Enter on an order shows it and moves the focus to it', shown);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => document.getElementById('d-title').textContent === t, first.title);
  check(await page.evaluate(() => document.activeElement.id) === 'd-title', 'Tab, Enter opens the ordered book');
  await shotTo(page, 'orders.png');
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (orders)', problems);
  await page.close();
}

// The answer to a purchase is lost: the request reached the server (route.fetch), then the
// connection is reset before the page gets the answer.
async function retryChecks(ctx) {
  const BOOK = 4;
  const TITLE = 'How to finish Project 3 on time';
  const ROUTE = '**/bazar/purchase/' + BOOK;
  const page = await ctx.newPage();
  const problems = [];
  watch(page, problems, new RegExp('^(console: Failed to load resource: net::ERR_CONNECTION_RESET|' +
    'request failed: \\S+/bazar/purchase/' + BOOK + ' net::ERR_CONNECTION_RESET)$'));
  page.setDefaultTimeout(10000);
  const placed = [];
  const stock = async () => (await api('GET', '/bazar/info/' + BOOK)).body.quantity;
  const pending = () => page.evaluate(() => JSON.parse(localStorage.getItem('bazar.pendingPurchases') || '{}'));
  const stock0 = await stock();
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('#topics button');
  await openBook(page, 'new', TITLE);

  // 1. the first answer is lost; the page asks again by itself, with the same key
  const keys = [];
  const lost = [];
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  await page.route(ROUTE, async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (keys.length === 1) {
      const resp = await route.fetch();
      lost.push({ status: resp.status(), body: await resp.json() });
      await route.abort('connectionreset');
    } else {
      await Promise.race([gate, new Promise((resolve) => setTimeout(resolve, 5000))]);
      await route.continue();
    }
  });
  await page.click('#buy-btn');
  await page.waitForFunction(() => /may have gone through; checking/.test(document.getElementById('buy-msg').textContent));
  const checking = await page.textContent('#buy-msg');
  check(!/nothing was/i.test(checking), 'after a lost answer the page says the order may have gone through', checking);
  const kept = await pending();
  check(kept[BOOK] && kept[BOOK].key === keys[0] && kept[BOOK].book_id === BOOK,
        'the purchase key is kept in localStorage with the book until an answer', kept);
  release();
  const id1 = await confirmed(page, placed);
  await page.unroute(ROUTE);
  check(keys.length === 2 && /^web-[0-9a-f]{32}$/.test(keys[0]) && keys[1] === keys[0],
        'the automatic retry reused the key', keys);
  check(lost.length === 1 && lost[0].status === 200 && lost[0].body.order_id === id1,
        'the page confirms the order the lost answer carried', { lost, id1 });
  check(await stock() === stock0 - 1, 'one copy taken for two requests');
  const again = await api('POST', '/bazar/purchase/' + BOOK, undefined, { 'Idempotency-Key': keys[0] });
  const next = await api('GET', '/bazar/orders/' + (id1 + 1));
  check(again.status === 200 && again.body.order_id === id1 && next.status === 404 && await stock() === stock0 - 1,
        'exactly one order for that key (the key answers it again, no order after it, stock unchanged)',
        { again: again.body, next: next.status });
  check(Object.keys(await pending()).length === 0, 'the key is forgotten after the confirmation');
  await shotTo(page, 'retry-confirmed.png');

  // 2. every automatic try loses its answer: the page gives up and says what is known; after
  //    a reload the attempt is still offered, and "Try again" confirms it with the same key
  const keys2 = [];
  const lost2 = [];
  await page.route(ROUTE, async (route) => {
    keys2.push(route.request().headers()['idempotency-key']);
    const resp = await route.fetch();
    lost2.push(await resp.json());
    await route.abort('connectionreset');
  });
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.error');
  const gaveUp = await page.textContent('#buy-msg');
  await page.unroute(ROUTE);
  check(/may have gone through/.test(gaveUp) && /Try again/.test(gaveUp) && !/nothing was/i.test(gaveUp),
        'after the bounded retries the page asks to try again, never claiming nothing was bought', gaveUp);
  check(keys2.length === 4 && keys2.every((k) => k === keys2[0]) && keys2[0] !== keys[0],
        'a new purchase has a new key, its 4 tries the same one', keys2);
  check(lost2.every((o) => o.order_id === lost2[0].order_id), 'the server answered one order to every try', lost2);
  check(await page.textContent('#buy-btn') === 'Try again', 'the buy button offers "Try again"');
  check(await stock() === stock0 - 2, 'one copy taken for four requests');
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('#pending-list button.again');
  const offered = await page.textContent('#pending-list');
  check(offered.includes(TITLE) && !await page.isHidden('#pending'), 'after a reload the unconfirmed purchase is offered', offered);
  const keys3 = [];
  await page.route(ROUTE, async (route) => {
    keys3.push(route.request().headers()['idempotency-key']);
    await route.continue();
  });
  await page.focus('#pending-list button.again');
  await page.keyboard.press('Enter');
  const id2 = await confirmed(page, placed);
  await page.unroute(ROUTE);
  check(keys3.length === 1 && keys3[0] === keys2[0], '"Try again" reused the stored key', keys3);
  check(id2 === lost2[0].order_id && (await api('GET', '/bazar/orders/' + (id2 + 1))).status === 404,
        '"Try again" confirms the one order placed', { id2, lost: lost2[0].order_id });
  check(await stock() === stock0 - 2, 'still one copy taken per purchase');
  check(await page.isHidden('#pending') && Object.keys(await pending()).length === 0,
        'the confirmed purchase is no longer pending');
  await page.waitForSelector(`#order-list button[data-id="${id2}"]`);
  check(await page.locator(`#order-list button[data-id="${id1}"]`).count() === 1, '"Your orders" lists both orders');
  await shotTo(page, 'retry-after-reload.png');
  check(problems.length === 0, 'no console errors, page errors or failed requests but the resets (retry)', problems);
  await page.close();
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

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  setup(base, token, artifacts);
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
    else if (mode === 'retry') await retryChecks(ctx);
    else if (mode === 'big') await bigChecks(ctx);
    else if (mode === 'shot' && shot) await shopShot(ctx, shot);
    else if (mode === 'failover-shot' && shot) await failoverShot(ctx, shot, (pids || '').split(',').map(Number).filter((x) => x > 0));
    else {
      const placed = [];
      await storeChecks(ctx, placed);
      await ordersAndTopicsChecks(ctx, placed);
      await catalogChecks(ctx);
      await clusterChecks(ctx);
      await a11yChecks(ctx);
    }
  } catch (e) {
    check(false, 'the run finished without an exception', String(e && e.stack || e));
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  console.log(tally.passed + ' passed, ' + tally.failed + ' failed');
  process.exit(tally.failed === 0 && tally.passed > 0 ? 0 : 1);
}

main();
