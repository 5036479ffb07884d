// tests/browser/a11y_checks.js - accessibility: axe-core finds no violation (desktop,
// with a book and an order open, and at 360 px); Tab reaches every control, each with a
// visible focus ring; the shop works by keyboard alone (search, sort, pages, open a book,
// buy); at 360 px wide nothing scrolls sideways. Run by run.js ("store").
'use strict';

const fs = require('fs');
const { env, check, newPage, shotTo } = require('./lib');

// axe-core's script. The page's CSP (script-src 'self', no inline) blocks a <script> with
// inline text, which is what page.addScriptTag({path}) adds; page.evaluate runs it through
// the DevTools protocol, which the CSP does not govern.
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

async function axeViolations(page) {
  if (!await page.evaluate(() => typeof window.axe === 'object')) await page.evaluate(AXE);
  if (!await page.evaluate(() => typeof window.axe === 'object' && typeof window.axe.run === 'function'))
    return [{ id: 'axe-core did not load' }];
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
}

// every control a user can act on (visible, enabled)
const CONTROLS = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), [tabindex="0"]';

async function readyPage(ctx, problems, url) {
  const page = await newPage(ctx, problems);
  await page.goto(env.base + url, { waitUntil: 'load' });
  await page.waitForSelector('#results button.result');
  await page.waitForSelector('#topics button');
  await page.waitForSelector('#svc-order tbody tr td[data-col="epoch"]:not(:empty)');
  return page;
}

async function axeChecks(ctx, problems) {
  const page = await readyPage(ctx, problems, '/#book/1');
  await page.waitForFunction(() => !document.getElementById('details').hidden);
  await page.waitForSelector('#order-list button');
  await page.click('#order-list button');
  await page.waitForFunction(() => !document.getElementById('order-details').hidden);
  const v = await axeViolations(page);
  check(v.length === 0, 'axe-core: no accessibility violation (desktop, a book and an order open)', v);
  await page.close();
}

async function keyboardChecks(ctx, problems) {
  const page = await readyPage(ctx, problems, '/');
  await page.uncheck('#auto');
  // Tab from the top: every control gets the focus, with a visible ring
  const want = await page.$$eval(CONTROLS, (els) => els.filter((e) => e.offsetParent !== null || e.getClientRects().length)
    .map((e, i) => { e.dataset.kb = String(i); return String(i); }));
  const reached = new Set();
  const noRing = [];
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < want.length + 20 && reached.size < want.length; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || !e.dataset || e.dataset.kb === undefined) return null;
      const s = getComputedStyle(e);
      return { kb: e.dataset.kb, ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
               what: e.id || e.textContent.slice(0, 30) };
    });
    if (!f) continue;
    reached.add(f.kb);
    if (!f.ring) noRing.push(f.what);
  }
  const missed = await page.$$eval('[data-kb]', (els, got) => els.filter((e) => !got.includes(e.dataset.kb))
    .map((e) => e.id || e.outerHTML.slice(0, 60)), [...reached]);
  check(missed.length === 0 && want.length > 40, 'Tab reaches every one of the ' + want.length + ' controls', missed);
  check(noRing.length === 0, 'each control shows a focus ring (3 px outline) when it has the focus', noRing);

  // keyboard only: type a search, change the sort, page on, open a book, buy it
  await page.focus('#q');
  await page.keyboard.type('book', { delay: 30 });
  await page.waitForFunction(() => /[?&]q=book/.test(window.location.search));
  await page.keyboard.press('Tab'); // topic
  await page.keyboard.press('Enter'); // submits the search form
  await page.focus('#per-page');
  await page.keyboard.press('Home'); // 10 per page
  await page.waitForFunction(() => /per_page=10/.test(window.location.search)).catch(() => {});
  await page.focus('#sort');
  await page.keyboard.press('ArrowDown'); // newest first
  await page.waitForFunction(() => /sort=-id/.test(window.location.search)).catch(() => {});
  check(/sort=-id/.test(await page.evaluate(() => window.location.search)) &&
        /per_page=10/.test(await page.evaluate(() => window.location.search)),
        'the page size and sort change by keyboard', await page.evaluate(() => window.location.search));
  const pager = !await page.isHidden('#pager');
  if (pager) {
    await page.focus('#next-page');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /page=2/.test(window.location.search)).catch(() => {});
    check(/page=2/.test(await page.evaluate(() => window.location.search)), 'Enter on Next shows page 2');
  }
  await page.waitForSelector('#results button.result');
  await page.focus('#results button.result');
  const title = await page.textContent('#results button.result');
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => document.getElementById('d-title').textContent === t, title);
  check(await page.evaluate(() => document.activeElement.id) === 'd-title', 'Enter on a book opens it and moves the focus there');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id) === 'buy-btn', 'the next Tab is the buy button');
  const stock = Number(await page.textContent('#d-stock'));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#buy-msg.ok, #buy-msg.error');
  check(stock > 0 ? /Order #\d+ confirmed/.test(await page.textContent('#buy-msg')) : true,
        'Enter on Buy places the order', await page.textContent('#buy-msg'));
  await page.close();
}

async function narrowChecks(ctx, problems) {
  const page = await newPage(ctx, problems);
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(env.base + '/?per_page=10#book/3', { waitUntil: 'load' });
  await page.waitForSelector('#results button.result');
  await page.waitForFunction(() => !document.getElementById('details').hidden);
  await page.waitForSelector('#svc-order tbody tr td[data-col="epoch"]:not(:empty)');
  const layout = await page.evaluate(() => {
    const wide = Array.prototype.filter.call(document.querySelectorAll('body *'), (e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > 360.5 && !e.closest('.scroll');
    }).map((e) => e.id || e.className || e.tagName).slice(0, 8);
    return { scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, wide };
  });
  check(layout.scroll <= 360 && layout.body <= 360 && layout.wide.length === 0,
        '360 px wide: no horizontal overflow (only the replica tables scroll, inside their box)', layout);
  const v = await axeViolations(page);
  check(v.length === 0, 'axe-core: no accessibility violation at 360 px', v);
  await shotTo(page, 'narrow-360.png');
  await page.close();
}

async function a11yChecks(ctx) {
  const problems = [];
  await axeChecks(ctx, problems);
  await keyboardChecks(ctx, problems);
  await narrowChecks(ctx, problems);
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (accessibility)', problems);
}

module.exports = { a11yChecks };
