// tests/browser/shots.js - the README's screenshots (run.js modes "shot" and
// "failover-shot", driven by tests/browser/screenshots.py, `make screenshots`):
//   shopShot      the shop: a catalog page, a book open, one purchase confirmed;
//   failoverShot  the cluster panel while the catalog primary is killed: a minute of
//                 purchases drawn in the sparklines, then SIGKILL to the primary's pids
//                 (given by the caller), and the picture once the panel shows it down
//                 and another replica elected.
'use strict';

const fs = require('fs');
const { env, check, api } = require('./lib');

async function settledPanel(page) {
  await page.waitForFunction(() => /hit ratio: \d/.test(document.getElementById('cache-line').textContent) &&
    document.querySelector('#svc-order td[data-col="epoch"]') &&
    document.querySelector('#svc-order td[data-col="epoch"]').textContent !== '');
}

async function shopShot(ctx, file) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.goto(env.base + '/?topic=distributed+systems#book/1', { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('d-title').textContent === 'RPCs for Noobs.');
  await page.click('#buy-btn');
  await page.waitForSelector('#buy-msg.ok');
  await settledPanel(page);
  // a refresh after the purchase: the order log has moved
  await page.waitForFunction(() => document.querySelector('#svc-order td[data-col="applied"]').textContent !== '0');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file });
  check(fs.statSync(file).size < 250000, 'screenshot of the shop written to ' + file + ' (under 250 kB)');
  await page.close();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function failoverShot(ctx, file, pids) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.goto(env.base + '/#cluster', { waitUntil: 'load' });
  await settledPanel(page);
  // some traffic for the sparklines: purchases (one order and one catalog entry each)
  // and restocks, about 5 a second for 20 s
  for (let i = 0; i < 100; i++) {
    await api('POST', '/bazar/purchase/' + (i % 7), undefined, { 'Idempotency-Key': 'shot-' + process.pid + '-' + i });
    if (i % 10 === 0) await api('POST', '/bazar/books/' + (i % 7) + '/restock', { count: 10 });
    await sleep(200);
  }
  const before = await page.textContent('#catalog-primary');
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
  // purchases go on during the failover
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; i < 200 && !stop; i++) {
      await api('POST', '/bazar/purchase/' + (i % 7), undefined, { 'Idempotency-Key': 'shot2-' + process.pid + '-' + i })
        .catch(() => {});
      await sleep(150);
    }
  })();
  await page.waitForFunction((b) => document.querySelectorAll('#svc-catalog td.down').length === 1 &&
    /primary #\d/.test(document.getElementById('catalog-primary').textContent) &&
    document.getElementById('catalog-primary').textContent !== b, before);
  await sleep(4500); // two more refreshes: the new primary's log moving on in the sparkline
  // the panel down to the cache line (the panel itself is as tall as the shop beside it)
  const clip = await page.evaluate(() => {
    const p = document.getElementById('cluster').getBoundingClientRect();
    const c = document.getElementById('cache-line').getBoundingClientRect();
    return { x: p.left + window.scrollX, y: p.top + window.scrollY, width: p.width, height: c.bottom - p.top + 16 };
  });
  await page.screenshot({ path: file, clip, fullPage: true });
  stop = true;
  await traffic;
  check(fs.statSync(file).size < 250000, 'screenshot of the cluster panel during a failover (' + before + ' killed, now ' +
        await page.textContent('#catalog-primary') + ') written to ' + file);
  await page.close();
}

module.exports = { shopShot, failoverShot };
